"""Sudoku generator: uniqueness (independent brute force), labels, splits, seeding."""

from __future__ import annotations

import filecmp
import itertools

import numpy as np
import pytest

from hrmzoo.data.reader import load_split
from hrmzoo.data.sudoku import (
    BOX_SHAPES,
    build_sudoku,
    canonical_key,
    from_tokens,
    generate_puzzles,
    random_transform,
    spatial_maps,
)
from hrmzoo.data.sudoku_solver import count_solutions


def naive_solutions(board: np.ndarray, n: int, limit: int = 2) -> list[np.ndarray]:
    """Independent reference: backtracking with Python sets, fewest-candidates cell first."""
    br, bc = BOX_SHAPES[n]
    b = [int(v) for v in np.asarray(board).reshape(-1)]
    peers = []
    for i in range(n * n):
        r, c = divmod(i, n)
        ps = {r * n + j for j in range(n)} | {j * n + c for j in range(n)}
        r0, c0 = r - r % br, c - c % bc
        ps |= {(r0 + a) * n + c0 + d for a in range(br) for d in range(bc)}
        ps.discard(i)
        peers.append(ps)
    found: list[np.ndarray] = []

    def rec() -> None:
        if len(found) >= limit:
            return
        best, best_opts = None, None
        for i in range(n * n):
            if b[i] == 0:
                opts = set(range(1, n + 1)) - {b[j] for j in peers[i]}
                if best_opts is None or len(opts) < len(best_opts):
                    best, best_opts = i, opts
        if best is None:
            found.append(np.array(b))
            return
        for d in sorted(best_opts):
            b[best] = d
            rec()
            b[best] = 0

    if any(b[i] and b[i] in {b[j] for j in peers[i]} for i in range(n * n)):
        return []
    rec()
    return found


def all_4x4_grids() -> list[np.ndarray]:
    return naive_solutions(np.zeros(16, int), 4, limit=10_000)


def test_4x4_grid_count():
    assert len(all_4x4_grids()) == 288  # known count: checks the reference solver itself


def test_4x4_exhaustive_uniqueness():
    grids = np.stack(all_4x4_grids())
    s = generate_puzzles(60, 4, seed=1)
    for p, sol in zip(s.puzzles, s.solutions):
        givens = p > 0
        matches = (grids[:, givens] == p[givens]).all(axis=1)
        assert matches.sum() == 1
        assert (grids[matches][0] == sol).all()


@pytest.fixture(scope="module")
def nine():
    return generate_puzzles(6, 9, seed=2)


@pytest.mark.parametrize("n", [6, 9])
def test_unique_and_label_is_solution(n, nine):
    s = nine if n == 9 else generate_puzzles(15, 6, seed=2)
    lo, hi = {6: (8, 18), 9: (17, 30)}[n]
    for p, sol, g in zip(s.puzzles, s.solutions, s.givens):
        sols = naive_solutions(p, n)
        assert len(sols) == 1 and (sols[0] == sol).all()
        assert lo <= g == (p > 0).sum() <= hi
        assert (sol[p > 0] == p[p > 0]).all()


def test_scalar_and_batch_solvers_agree(nine):
    from hrmzoo.data.sudoku_solver import boards_to_masks, solve_batch

    for p, sol in zip(nine.puzzles, nine.solutions):
        c, first = count_solutions(p, 9)
        assert c == 1 and (first == sol).all()
    loose = nine.puzzles.copy()
    for p in loose:
        p[np.nonzero(p)[0][:6]] = 0  # fewer givens: usually several solutions
    res = solve_batch(boards_to_masks(loose, 9), 9, limit=2)
    assert [count_solutions(p, 9)[0] for p in loose] == list(res.counts)


@pytest.mark.parametrize("n", [4, 6, 9])
def test_transform_keeps_validity(n, nine):
    rng = np.random.default_rng(0)
    s = nine if n == 9 else generate_puzzles(3, n, seed=0)
    for p, sol in zip(s.puzzles[:3], s.solutions[:3]):
        t = random_transform(n, rng)
        tp, ts = t.apply(p), t.apply(sol)
        sols = naive_solutions(tp, n)
        assert len(sols) == 1 and (sols[0] == ts).all()


def test_canonical_key_invariant_under_augmentation():
    rng = np.random.default_rng(1)
    maps = spatial_maps(4)
    assert len(maps) == 128 and len(spatial_maps(6)) == 3456
    p = generate_puzzles(1, 4, seed=0).puzzles[0]
    keys = {canonical_key(random_transform(4, rng).apply(p), 4, maps) for _ in range(20)}
    assert keys == {canonical_key(p, 4, maps)}


def test_build_layout_and_no_split_leak(sudoku4_root):
    tr, te = load_split(sudoku4_root, "train", check_values=True), load_split(sudoku4_root, "test", check_values=True)
    assert tr.vocab_size == 6 and tr.seq_len == 16
    assert (tr.num_groups, tr.num_puzzles, tr.num_examples) == (40, 160, 160)
    assert (te.num_groups, te.num_puzzles, te.num_examples) == (15, 15, 15)
    a = tr.sets[0]
    assert a.inputs.dtype == np.uint8 and a.puzzle_indices.dtype == np.int64  # reader widens indices
    raw = np.load(sudoku4_root / "train" / "all__puzzle_indices.npy")
    assert raw.dtype == np.int32
    # All cells supervised: labels are digits 2..5, never the ignore id 0.
    assert np.asarray(a.labels).min() >= 2
    maps = spatial_maps(4)
    train_keys = {canonical_key(from_tokens(x), 4, maps) for x in np.asarray(a.inputs)}
    test_keys = {canonical_key(from_tokens(x), 4, maps) for x in np.asarray(te.sets[0].inputs)}
    assert not train_keys & test_keys
    for x, y in zip(np.asarray(a.inputs), np.asarray(a.labels)):
        p, sol = from_tokens(x), from_tokens(y)
        sols = naive_solutions(p, 4)
        assert len(sols) == 1 and (sols[0] == sol).all()
    assert np.load(sudoku4_root / "train" / "extra__backtracks.npy").shape == (40,)


def _same_tree(a, b) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def test_seeded_byte_identical(tmp_path, sudoku4_root):
    again = build_sudoku(tmp_path / "again", size=4, num_train=40, num_test=15, num_aug=3, seed=3)
    assert _same_tree(sudoku4_root, again)
    other = build_sudoku(tmp_path / "other", size=4, num_train=40, num_test=15, num_aug=3, seed=4)
    assert not _same_tree(sudoku4_root, other)
    assert not filecmp.cmp(sudoku4_root / "train" / "all__inputs.npy", other / "train" / "all__inputs.npy", shallow=False)


def test_impossible_request_is_a_clear_error():
    from hrmzoo.data.errors import DataError

    with pytest.raises(DataError, match="distinct"):
        generate_puzzles(5000, 4, givens=(4, 4), seed=0, max_rounds=2)
    with pytest.raises(DataError, match="givens"):
        generate_puzzles(1, 4, givens=(9, 3))


def test_group_structure_matches_original(sudoku4_root):
    a = load_split(sudoku4_root, "train").sets[0]
    assert list(a.group_indices[:3]) == [0, 4, 8]
    assert list(itertools.islice(a.puzzle_indices, 3)) == [0, 1, 2]
    assert (a.puzzle_identifiers == 0).all()
