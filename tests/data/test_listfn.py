"""List-program generator: labels re-derived by a separate interpreter, answers unique over the DSL, held-out functions."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from hrmzoo.data import listfn
from hrmzoo.data.errors import DataError
from hrmzoo.data.prepare import config_metadata, prepare_data
from hrmzoo.data.reader import load_split

WIDTH, EXAMPLES = 6, 3


def interpret(name: str, xs: list[int]) -> list[int]:
    """The DSL as its docstring specifies it, written again here (not hrmzoo.data.listfn.PRIMITIVES)."""
    if name == "add1":
        return [(v + 1) % 10 for v in xs]
    if name == "add3":
        return [(v + 3) % 10 for v in xs]
    if name == "dbl":
        return [(v * 2) % 10 for v in xs]
    if name == "even":
        return [v for v in xs if v % 2 == 0]
    if name == "gt4":
        return [v for v in xs if v >= 5]
    if name == "rev":
        return list(reversed(xs))
    if name == "sort":
        return sorted(xs)
    if name == "take3":
        return xs[:3]
    if name == "drop1":
        return xs[1:]
    if name == "cumsum":
        total, out = 0, []
        for v in xs:
            total = (total + v) % 10
            out.append(total)
        return out
    raise KeyError(name)


NAMES = ["add1", "add3", "dbl", "even", "gt4", "rev", "sort", "take3", "drop1", "cumsum"]


def execute(program: str, xs: list[int]) -> list[int]:
    for name in program.split():
        xs = interpret(name, xs)
    return xs


def read_lists(x: np.ndarray) -> list[list[int]]:
    """Every list of a row in the test's own reading: digits are tokens 3..12, END is 2, ASK is 1."""
    rows = x.reshape(-1, WIDTH)
    out = []
    for row in rows[:-1]:
        vals = [int(t) - 3 for t in row if t >= 3]
        assert all(t == 2 for t in row[len(vals):])  # END after the values, nothing in between
        out.append(vals)
    assert (rows[-1] == 1).all()
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("listfn") / "ds"
    return listfn.build_listfn(root, width=WIDTH, num_examples=EXAMPLES, length=(1, 2), test_length=(3, 3), num_train=1000, num_test=1000, seed=2)


def programs_of(root, split) -> list[str]:
    names = json.loads((root / "build.json").read_text())["programs"]
    return [names[i] for i in np.load(root / split / "extra__program.npy")]


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_label_is_the_program_output(built, split):
    d = load_split(built, split, check_values=True)
    xs, ys = np.asarray(d.sets[0].inputs), np.asarray(d.sets[0].labels)
    progs = programs_of(built, split)
    lengths = np.load(built / split / "extra__length.npy")
    assert len(xs) == 1000 and d.seq_len == (2 * EXAMPLES + 2) * WIDTH and d.vocab_size == 13
    for x, y, prog, n in zip(xs, ys, progs, lengths):
        lists = read_lists(x)
        ins, outs, query = lists[0:-1:2], lists[1:-1:2], lists[-1]
        assert len(prog.split()) == n
        assert all(execute(prog, i) == o for i, o in zip(ins, outs))
        answer = execute(prog, query)
        assert [int(t) for t in y[-WIDTH:]] == [v + 3 for v in answer] + [2] * (WIDTH - len(answer))
        assert (y[:-WIDTH] == 0).all()
    assert set(lengths) == ({1, 2} if split == "train" else {3})


def test_examples_determine_the_answer(built):
    """Brute force over every program of up to 3 primitives (no sharing, no de-duplication) on 300 instances per split."""
    all_programs = [" ".join(p) for n in (1, 2, 3) for p in itertools.product(NAMES, repeat=n)]
    for split in ("train", "test"):
        xs = np.asarray(load_split(built, split).sets[0].inputs)
        for x in xs[:300]:
            lists = read_lists(x)
            ins, outs, query = lists[0:-1:2], lists[1:-1:2], lists[-1]
            answers = {tuple(execute(p, query)) for p in all_programs if all(execute(p, i) == o for i, o in zip(ins, outs))}
            assert len(answers) == 1


def test_test_functions_are_never_trained(built):
    """No test program computes a function that a train program computes (probed on random lists)."""
    rng = random.Random(0)
    probes = [[rng.randrange(10) for _ in range(rng.randrange(7))] for _ in range(300)]
    fingerprint = lambda p: tuple(tuple(execute(p, q)) for q in probes)
    train = {fingerprint(p) for p in set(programs_of(built, "train"))}
    test = {fingerprint(p) for p in set(programs_of(built, "test"))}
    assert len(test) > 50 and not train & test


def test_no_instance_in_both_splits(built):
    keys = lambda split: {x.tobytes() for x in np.asarray(load_split(built, split).sets[0].inputs)}
    train, test = keys("train"), keys("test")
    assert len(train) == 1000 and len(test) == 1000 and not train & test


def test_in_range_test_split_holds_held_out_compositions(tmp_path):
    root = listfn.build_listfn(tmp_path / "a", num_train=60, num_test=40, seed=4)
    train, test = set(programs_of(root, "train")), set(programs_of(root, "test"))
    assert not train & test and all(len(p.split()) >= 2 for p in test)


def test_same_seed_same_bytes(tmp_path):
    a = listfn.build_listfn(tmp_path / "a", num_train=40, num_test=20, seed=7)
    b = listfn.build_listfn(tmp_path / "b", num_train=40, num_test=20, seed=7)
    c = listfn.build_listfn(tmp_path / "c", num_train=40, num_test=20, seed=8)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "train/all__inputs.npy").read_bytes() != (c / "train/all__inputs.npy").read_bytes()


@pytest.mark.parametrize("kwargs,match", [
    (dict(test_length=(1, 1)), "only length-1 programs"),
    (dict(length=(2, 4)), "<= 3"),
    (dict(width=3), "width 3"),
    (dict(num_examples=0), "num_examples 0"),
])
def test_impossible_parameters_are_one_line(tmp_path, kwargs, match):
    with pytest.raises(DataError, match=match) as e:
        listfn.build_listfn(tmp_path / "x", num_train=5, num_test=5, **kwargs)
    assert "\n" not in str(e.value)


def test_cli_builds_and_rejects_in_one_line(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "hrmzoo", "data", "listfn", *a], capture_output=True, text=True)
    ok = run("--num-train", "20", "--num-test", "10", "--length", "1", "2", "--test-length", "3", "3", "--out", str(tmp_path / "d"), "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert set(np.load(tmp_path / "d/test/extra__length.npy")) == {3}
    bad = run("--test-length", "1", "1", "--out", str(tmp_path / "e"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "test_length" in bad.stderr and not (tmp_path / "e").exists()


def test_recipe_spec_metadata_matches_the_build(tmp_path):
    cfg = dict(type="listfn", width=5, num_examples=2, num_train=10, num_test=10)
    d = load_split(prepare_data(cfg, tmp_path), "train")
    meta = config_metadata(cfg)
    assert (meta["vocab_size"], meta["seq_len"]) == (d.vocab_size, d.seq_len) == (13, 30)


def test_render_shows_pairs(built):
    d = load_split(built, "train")
    text = listfn.render(np.asarray(d.sets[0].inputs[0]), np.asarray(d.sets[0].labels[0]), WIDTH, "rev")
    assert text.count("->") == EXAMPLES + 1 and "hidden program: rev" in text


def test_train_split_does_not_depend_on_the_test_range(tmp_path):
    """The beyond-range protocol trains once on the same instances: only the test split changes with test_length."""
    a = listfn.build_listfn(tmp_path / "a", length=(1, 2), test_length=(2, 2), num_train=40, num_test=10, seed=3)
    b = listfn.build_listfn(tmp_path / "b", length=(1, 2), test_length=(3, 3), num_train=40, num_test=10, seed=3)
    for f in ("inputs", "labels"):
        assert (a / f"train/all__{f}.npy").read_bytes() == (b / f"train/all__{f}.npy").read_bytes()
    c = listfn.build_listfn(tmp_path / "c", length=(1, 2), test_length=(3, 3), num_train=10, num_test=10, seed=3)
    assert (np.load(c / "train/all__inputs.npy") == np.load(a / "train/all__inputs.npy")[:10]).all()


def test_seen_functions_split_holds_train_functions_on_new_lists(tmp_path):
    """test_functions=seen: every test program computes a train function; no instance is in both splits; labels re-derived."""
    root = prepare_data(dict(type="listfn", width=WIDTH, num_examples=EXAMPLES, length=[1, 2], num_train=300, num_test=200,
                             test_functions="seen", seed=5), tmp_path / "cache")
    rng = random.Random(1)
    probes = [[rng.randrange(10) for _ in range(rng.randrange(7))] for _ in range(300)]
    fingerprint = lambda p: tuple(tuple(execute(p, q)) for q in probes)
    train_progs, test_progs = programs_of(root, "train"), programs_of(root, "test")
    assert {fingerprint(p) for p in test_progs} <= {fingerprint(p) for p in set(train_progs)}
    train = {x.tobytes() for x in np.load(root / "train/all__inputs.npy")}
    xs, ys = np.load(root / "test/all__inputs.npy"), np.load(root / "test/all__labels.npy")
    assert len(xs) == 200 and not train & {x.tobytes() for x in xs}
    for x, y, prog in zip(xs, ys, test_progs):
        lists = read_lists(x)
        answer = execute(prog, lists[-1])
        assert all(execute(prog, i) == o for i, o in zip(lists[0:-1:2], lists[1:-1:2]))
        assert [int(t) for t in y[-WIDTH:]] == [v + 3 for v in answer] + [2] * (WIDTH - len(answer))
    # length-1 test functions are allowed here (they are seen), not with held-out compositions
    listfn.build_listfn(tmp_path / "one", length=(1, 2), test_length=(1, 1), num_train=20, num_test=10, test_functions="seen", seed=1)
    with pytest.raises(DataError, match="test_functions 'both'"):
        listfn.build_listfn(tmp_path / "bad", num_train=5, num_test=5, test_functions="both")
