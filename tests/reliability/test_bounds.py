"""Hand-made hostile recipes and overrides: resource bombs and odd input end in one line, fast."""

from __future__ import annotations

import time

import pytest

from hrmzoo.cli import main
from tests.reliability.conftest import TINY
from tests.reliability.harness import assert_safe

LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))

RECIPES = {
    "billion laughs": LAUGHS.encode(),
    "100k-deep nesting": ("model: " + "[" * 100_000 + "]" * 100_000).encode(),
    "recursive alias": b"model: &m {hidden_size: 16, x: *m}\n",
    "not utf-8": b"name: caf\xe9\nmodel: {hidden_size: 16}\n",
    "null byte": b"name: a\x00b\n",
    "empty file": b"",
    "only a comment": b"# nothing\n",
    "a list, not a mapping": b"- 1\n- 2\n",
    "python tag": b"name: !!python/object/apply:os.system ['echo hi']\n",
    "extends itself": b"extends: self.yaml\n",
    "extends a missing file": b"extends: /nonexistent/base.yaml\n",
}

OVERRIDES = [
    "model.hidden_size=true", "model.hidden_size=1000000", "model.hidden_size=60000", "model.vocab_size=99999999999",
    "model.coupling.l_cycles=1000000000", "model.l_block.num_layers=100000",
    "model.l_block.expansion=1e300", "model.rope_theta=.inf", "train.seed=-1", "train.seed=99999999999999999999999",
    "train.device=tpu", "train.device=cuda:x", "train.batch_size=0", "train.batch_size=99999999999", "train.threads=100000000",
    "train.keep_checkpoints=1", "train.steps=true", "model.hidden_size=" + "9" * 5000, "model.hidden_size=[" * 300,
]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_hostile_recipe_files(tmp_path, sudoku4, name):
    path = tmp_path / "self.yaml"
    path.write_bytes(RECIPES[name])
    start = time.perf_counter()
    assert_safe("hostile recipes", lambda: main(["train", f"recipe={path}", f"data={sudoku4}", f"train.out_dir={tmp_path / 'run'}"]),
                expect="one-line")
    assert time.perf_counter() - start < 10  # refused before any expansion or allocation


@pytest.mark.parametrize("override", OVERRIDES)
def test_hostile_overrides(tmp_path, sudoku4, override):
    start = time.perf_counter()
    assert_safe("hostile overrides", lambda: main(["train", "recipe=tiny_sudoku4", f"data={sudoku4}", *TINY, "train.steps=1",
                                                   f"train.out_dir={tmp_path / 'run'}", override]), expect="one-line")
    assert time.perf_counter() - start < 10


def test_a_limit_can_be_raised(tmp_path, sudoku4, monkeypatch):
    args = ["train", "recipe=tiny_sudoku4", f"data={sudoku4}", *TINY, "train.steps=1", "model.coupling.h_cycles=4",
            "model.coupling.l_cycles=4", f"train.out_dir={tmp_path / 'run'}"]
    monkeypatch.setenv("HRMZOO_LIMIT_UPDATES_PER_SEGMENT", "10")
    detail = assert_safe("hostile overrides", lambda: main(args), expect="one-line")
    assert "exceeds the limit 10" in detail and "HRMZOO_LIMIT_UPDATES_PER_SEGMENT" in detail
    monkeypatch.setenv("HRMZOO_LIMIT_UPDATES_PER_SEGMENT", "100")
    assert_safe("hostile overrides", lambda: main(args), expect="ok")
