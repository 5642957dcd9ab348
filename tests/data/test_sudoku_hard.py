"""Hard 9x9 Sudoku: the stored difficulty rating against an independent solver, the >= 1 guess
filter, seeding, split disjointness and one-line errors for impossible filters.

The reference solver below shares no code with `hrmzoo.data.sudoku_solver`: Python sets, naked and
hidden singles applied one deduction at a time, then a binary split of the cell with the fewest
candidates (lowest index on ties) into "its lowest digit" and "any other digit". The rating is the
number of branch points of the *complete* search tree (finding the solution and proving it is the
only one), which does not depend on the order the tree is walked in.
"""

from __future__ import annotations

import numpy as np
import pytest

from hrmzoo.data.errors import DataError
from hrmzoo.data.reader import load_split
from hrmzoo.data.sudoku import build_sudoku, from_tokens, generate_puzzles

N, BOX = 9, 3
CELLS = range(N * N)


def _units() -> list[list[int]]:
    rows = [[r * N + c for c in range(N)] for r in range(N)]
    cols = [[r * N + c for r in range(N)] for c in range(N)]
    boxes = [[(br + a) * N + bc + b for a in range(BOX) for b in range(BOX)] for br in range(0, N, BOX) for bc in range(0, N, BOX)]
    return rows + cols + boxes


UNITS = _units()
PEERS = [set().union(*(u for u in UNITS if i in u)) - {i} for i in CELLS]


def singles(cands: list[set[int]]) -> list[set[int]] | None:
    """Naked and hidden singles to a fixpoint; None on a contradiction."""
    cands = [set(c) for c in cands]
    changed = True
    while changed:
        changed = False
        for i in CELLS:
            if len(cands[i]) == 1:
                (d,) = cands[i]
                for p in PEERS[i]:
                    if d in cands[p]:
                        cands[p].discard(d)
                        changed = True
                        if not cands[p]:
                            return None
        for unit in UNITS:
            for d in range(1, N + 1):
                where = [i for i in unit if d in cands[i]]
                if not where:
                    return None
                if len(where) == 1 and len(cands[where[0]]) > 1:
                    cands[where[0]] = {d}
                    changed = True
    return cands


def rate(board) -> tuple[int, int]:
    """(solutions, branch points) of the complete singles + binary-split search."""
    start = [{int(v)} if v else set(range(1, N + 1)) for v in np.asarray(board).reshape(-1)]
    stack, solutions, guesses = [start], 0, 0
    while stack:
        cands = singles(stack.pop())
        if cands is None:
            continue
        open_cells = [i for i in CELLS if len(cands[i]) > 1]
        if not open_cells:
            solutions += 1
            continue
        guesses += 1
        cell = min(open_cells, key=lambda i: (len(cands[i]), i))
        low = min(cands[cell])
        rest = [set(c) for c in cands]
        rest[cell].discard(low)
        first = [set(c) for c in cands]
        first[cell] = {low}
        stack += [rest, first]
    return solutions, guesses


def test_reference_rater_on_known_boards():
    # A solved grid, and the same grid with one cell blanked: no guess. An empty board: many.
    solved = generate_puzzles(1, 9, (38, 44), seed=1).solutions[0]
    assert rate(solved) == (1, 0)
    one_blank = solved.copy()
    one_blank[40] = 0
    assert rate(one_blank) == (1, 0)


@pytest.fixture(scope="module")
def hard_set():
    return generate_puzzles(24, 9, (22, 27), seed=11, min_backtracks=1)


def test_rating_agrees_with_an_independent_solver(hard_set):
    easy = generate_puzzles(8, 9, (30, 36), seed=12)
    for s in (hard_set, easy):
        for puzzle, rating in zip(s.puzzles, s.backtracks):
            assert rate(puzzle) == (1, int(rating))
    assert (easy.backtracks == 0).any(), "the sample should include puzzles that singles finish"


def test_hard_puzzles_need_a_guess_and_keep_the_givens_range(hard_set):
    assert (hard_set.backtracks >= 1).all()
    assert hard_set.givens.min() >= 22 and hard_set.givens.max() <= 27
    assert all(rate(p)[1] >= 1 for p in hard_set.puzzles)


@pytest.fixture(scope="module")
def hard_root(tmp_path_factory):
    return build_sudoku(tmp_path_factory.mktemp("hard") / "ds", size=9, num_train=20, num_test=12, num_aug=1,
                        givens=(22, 27), min_backtracks=1, seed=4)


def test_every_hard_test_puzzle_needs_a_guess_on_disk(hard_root):
    te = load_split(hard_root, "test", check_values=True)
    stored = np.load(hard_root / "test" / "extra__backtracks.npy")
    inputs, labels = np.asarray(te.sets[0].inputs), np.asarray(te.sets[0].labels)
    assert stored.shape == (12,) and (stored >= 1).all()
    for x, y, rating in zip(inputs, labels, stored):
        count, guesses = rate(from_tokens(x))
        assert (count, guesses) == (1, int(rating))
        assert 22 <= (from_tokens(x) > 0).sum() <= 27
        assert (from_tokens(y) > 0).all()


def test_hard_splits_disjoint_and_seeded(hard_root, tmp_path):
    tr = np.asarray(load_split(hard_root, "train").sets[0].inputs)
    te = np.asarray(load_split(hard_root, "test").sets[0].inputs)
    assert not {r.tobytes() for r in tr} & {r.tobytes() for r in te}
    again = build_sudoku(tmp_path / "again", size=9, num_train=20, num_test=12, num_aug=1, givens=(22, 27), min_backtracks=1, seed=4)
    for f in ("train/all__inputs.npy", "test/all__labels.npy", "test/extra__backtracks.npy", "train/extra__backtracks.npy"):
        assert (hard_root / f).read_bytes() == (again / f).read_bytes()


@pytest.mark.parametrize("givens,min_backtracks,match", [
    ((60, 70), 1, "no 9x9 puzzle"),   # so many givens that singles always finish: never a guess
    ((10, 16), 0, "no 9x9 puzzle"),   # below 17 givens a 9x9 puzzle is never unique
])
def test_filters_no_puzzle_can_meet_fail_fast_in_one_line(givens, min_backtracks, match):
    import time

    t = time.process_time()
    with pytest.raises(DataError, match=match) as info:
        generate_puzzles(5, 9, givens, seed=0, min_backtracks=min_backtracks)
    assert "\n" not in str(info.value)
    assert time.process_time() - t < 20


def test_bad_hard_parameters_from_the_cli_are_one_line(capsys, tmp_path):
    from hrmzoo.data.cli import main

    assert main(["sudoku", "--givens-min", "27", "--givens-max", "22", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "givens" in err and "\n" not in err
    assert main(["sudoku", "--min-backtracks", "-1", "--out", str(tmp_path / "y"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "min_backtracks" in err and "\n" not in err
