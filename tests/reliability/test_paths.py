"""--out / train.out_dir / run-name hazards: nothing outside what hrmzoo made is ever deleted or written."""

from __future__ import annotations

import os

import pytest

from hrmzoo.cli import main
from tests.reliability.conftest import TINY
from tests.reliability.harness import assert_safe

DATA = ["data", "sudoku", "--size", "4", "--num-train", "4", "--num-test", "2", "--quiet"]


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A working directory and a home directory, each with a file the user cares about."""
    cwd, home = tmp_path / "work", tmp_path / "home"
    for d in (cwd, home, cwd / "mine"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "precious.txt").write_text("do not delete")
    (cwd / "afile").write_text("a file")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    return cwd, home


REFUSED_OUT = ["", " ", ".", "./", "/", "~", "HOME", "CWD", "..", "../x", "mine", "afile", "afile/sub", "LINK", "a\0b", "/proc/hrmzoo-nope"]


@pytest.mark.parametrize("out", REFUSED_OUT)
def test_data_out_hazards_are_refused(world, out):
    cwd, home = world
    if out == "LINK":
        os.symlink(cwd / "mine", cwd / "link")
        out = "link"
    out = {"HOME": str(home), "CWD": str(cwd)}.get(out, out)
    assert_safe("--out hazards", lambda: main([*DATA, "--out", out, "--force"]), guard=[cwd, home], expect="one-line")


def test_force_replaces_only_a_dataset_hrmzoo_made(world):
    cwd, home = world
    assert_safe("--out hazards", lambda: main([*DATA, "--out", "ds"]), guard=[cwd / "mine", home], expect="ok")
    first = (cwd / "ds" / "build.json").read_text()
    assert_safe("--out hazards", lambda: main([*DATA, "--out", "ds"]), guard=[cwd], expect="one-line")  # exists, no --force
    assert_safe("--out hazards", lambda: main([*DATA, "--out", "ds", "--force", "--seed", "5"]), guard=[cwd / "mine", home], expect="ok")
    assert (cwd / "ds" / "build.json").read_text() != first
    assert not [p for p in cwd.iterdir() if p.name.startswith(".")]  # nothing staged is left behind


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--num-train", "99999999999999"], ["--num-aug", "100000000"]])
def test_data_counts_and_seed_are_bounded(world, args):
    cwd, home = world
    assert_safe("--out hazards", lambda: main([*DATA, "--out", "ds2", *args]), guard=[cwd, home], expect="one-line")
    assert not (cwd / "ds2").exists()


@pytest.mark.parametrize("override", ["train.out_dir=.", "train.out_dir=../escape", "train.out_dir=afile/sub", "train.out_dir=HOME",
                                      "name: ../../x", "name: .hidden", "name: \"a\\0b\"", "name: \"\"", "train.out_dir=/",
                                      "train.out_dir=/proc/hrmzoo-nope"])
def test_train_run_dir_hazards_are_refused(world, sudoku4, override):
    cwd, home = world
    override = override.replace("HOME", str(home))
    recipe = "tiny_sudoku4"
    if override.startswith("name:"):  # a recipe's name becomes the run directory's name
        (cwd / "named.yaml").write_text(f"extends: tiny_sudoku4\n{override}\n")
        recipe, override = "named.yaml", "train.steps=1"
    args = ["train", f"recipe={recipe}", f"data={sudoku4}", *TINY, "train.steps=1", override]
    assert_safe("run dir hazards", lambda: main(args), guard=[cwd, home], expect="one-line")
    assert not (cwd.parent / "escape").exists() and not (cwd.parent.parent / "x").exists()


def test_default_run_dir_stays_under_runs(world, sudoku4):
    cwd, home = world
    (cwd / "named.yaml").write_text("extends: tiny_sudoku4\nname: my.run-1\n")
    assert_safe("run dir hazards", lambda: main(["train", "recipe=named.yaml", f"data={sudoku4}", *TINY, "train.steps=1"]),
                guard=[cwd / "mine", home], expect="ok")
    (run,) = (cwd / "runs").iterdir()
    assert run.name.startswith("my.run-1-")
    # a second run into the same directory needs resume=
    assert_safe("run dir hazards", lambda: main(["train", "recipe=tiny_sudoku4", f"data={sudoku4}", *TINY, "train.steps=1", f"train.out_dir={run}"]),
                guard=[run], expect="one-line")
