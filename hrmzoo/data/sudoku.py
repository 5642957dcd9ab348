"""Seeded Sudoku dataset generator (4x4, 6x6 and 9x9).

Tokens follow the original HRM Sudoku data: PAD 0, blank 1, digits `2..N+1`
(vocab `N + 2`), sequence `N*N`, every cell supervised (labels never hold
the ignore id 0).

How puzzles are made (all vectorised over a chunk of boards):

1. A random full grid: random cell, random candidate, propagate singles;
   a board that hits a contradiction restarts.
2. Givens are removed one at a time in a random order down to a random target
   in `[givens_min, givens_max]`. A removal is kept only if it is *proven* to
   keep the solution unique: the board with that cell forced to any *other*
   digit must have no solution (`solve_batch` with a guess budget; a
   removal whose check runs out of budget is refused, which is always safe).
3. Every final puzzle is re-solved counting up to 2 solutions; it must have
   exactly one, equal to the grid it was made from. The solver's number of dead
   ends is recorded as the hardness (`extra__backtracks.npy`, per group).

The hardness rating: after naked and hidden singles, the search splits the cell
with the fewest candidates into "its lowest digit" and "any other digit". Its
complete tree (find the solution, prove there is no second) has one dead end per
branch point for a unique puzzle, so `backtracks` is also the number of guesses,
and it does not depend on the order the tree is walked in. 0 means singles alone
solve the puzzle; `min_backtracks=1` keeps only puzzles that need a guess (with
`givens=(22, 27)`, about a third of random minimal-ish 9x9 puzzles; 1,000 such
puzzles take about 4 CPU-seconds). `tests/data/test_sudoku_hard.py` recomputes it
with an independent solver.

Splits never share a puzzle: boards are de-duplicated across both splits up to
the augmentation group (exactly, by a canonical form, for 4x4 and 6x6; for 9x9
by the puzzle itself, the chance of two random 9x9 puzzles being equivalent
being negligible). Augmentation (digit permutation, transpose for square boxes,
band/row and stack/column permutations) only touches the train split by default.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import (
    BLANK_IDENTIFIER,
    write_build_info,
    write_flat_split,
    write_identifiers,
)
from hrmzoo.data.progress import Progress
from hrmzoo.data.sudoku_solver import BOX_SHAPES, boards_to_masks, digit_bit, geometry, masks_to_boards, popcount, propagate, solve_batch

#: Token ids.
PAD, BLANK, DIGIT0 = 0, 1, 2
#: Largest number of boards per vectorised step. Never machine-dependent, so seeds reproduce.
CHUNK = 1024
#: Branch points a uniqueness check may spend before the removal is refused.
CHECK_GUESSES = 48
#: Chunks in a row without a single kept puzzle after which a request is declared impossible
#: (e.g. 9x9 with fewer than 17 givens, or so many givens that singles always finish while
#: `min_backtracks` asks for a guess): fail in seconds rather than after `max_rounds`.
FUTILE_ROUNDS = 20

#: Fewest givens of a unique-solution puzzle (9x9: 17, McGuire et al. 2012, exhaustive search).
MIN_UNIQUE_GIVENS: dict[int, int] = {9: 17}

DEFAULT_GIVENS: dict[int, tuple[int, int]] = {4: (4, 8), 6: (8, 18), 9: (17, 30)}


def vocab_size(n: int) -> int:
    """PAD + blank + n digits."""
    return n + 2


def to_tokens(boards: np.ndarray) -> np.ndarray:
    """Digits (0 blank) -> tokens (blank 1, digit d -> d + 1)."""
    return np.asarray(boards, dtype=np.int32) + 1


def from_tokens(tokens: np.ndarray) -> np.ndarray:
    """Tokens -> digits (0 blank); PAD also maps to 0."""
    return np.maximum(np.asarray(tokens, dtype=np.int32) - 1, 0)


# --------------------------------------------------------------------------- grids


def random_solutions(count: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random full grids, [count, n*n] digits 1..n."""
    g = geometry(n)
    out = np.zeros((count, n * n), dtype=np.int32)
    pending = np.arange(count)
    bits = digit_bit(np.arange(1, n + 1))
    # The 9x9 diagonal boxes share no row or column and any fill of them
    # completes, so they start as independent random permutations (27 cells in
    # one step). Smaller boards seed only the first box.
    seed_boxes = [0, 4, 8] if n == 9 else [0]
    seed_cells = np.concatenate([g.units[2 * n + b] for b in seed_boxes])
    start = np.full((count, n * n), g.full, dtype=np.uint64)
    start[:, seed_cells] = bits[np.argsort(rng.random((count, len(seed_boxes), n)), axis=2).reshape(count, -1)]
    x = start.copy()
    deaths = np.zeros(count, dtype=np.int64)
    while pending.size:
        x, dead, solved = propagate(x, n)
        if solved.any():
            out[pending[solved]] = masks_to_boards(x[solved], n)
        deaths[dead] += 1
        start[deaths > 50] = g.full  # safety net: never retry one seed forever
        x[dead] = start[dead]  # restart boards that hit a contradiction
        keep = ~solved
        x, pending, start, deaths = x[keep], pending[keep], start[keep], deaths[keep]
        if not pending.size:
            break
        pc = popcount(x)
        score = np.where(pc > 1, rng.random(x.shape), -1.0)
        cell = np.argmax(score, axis=1)
        r = np.arange(x.shape[0])
        m = x[r, cell]
        has = (m[:, None] & bits) != 0
        d = np.argmax(np.where(has, rng.random((x.shape[0], n)), -1.0), axis=1)
        x[r, cell] = bits[d]
    return out


def remove_givens(solutions: np.ndarray, n: int, givens: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Blank cells of full grids while the solution provably stays unique.

    Args:
        solutions: [M, n*n] full grids.
        n: Board side.
        givens: (min, max) number of givens; each board draws a target in range.
        rng: Random source.

    Returns:
        [M, n*n] puzzles (0 blank). Boards that could not get down to `max`
        givens keep more; the caller filters them.
    """
    m, c = solutions.shape
    order = np.argsort(rng.random((m, c)), axis=1)
    target = rng.integers(givens[0], givens[1] + 1, size=m)
    puzzles = solutions.copy()
    ngiven = np.full(m, c)
    full = geometry(n).full
    for k in range(c):
        act = np.nonzero(ngiven > target)[0]
        if not act.size:
            break
        cell = order[act, k]
        trial = puzzles[act]
        trial[np.arange(act.size), cell] = 0
        bit = digit_bit(solutions[act, cell])
        ok = _forced_by_singles(trial, cell, bit, n)
        hard = np.nonzero(~ok)[0]
        if hard.size:
            # Not settled by one look at the cell's units: prove that no other digit fits.
            masks = boards_to_masks(trial[hard], n)
            masks[np.arange(hard.size), cell[hard]] = full & ~bit[hard]
            res = solve_batch(masks, n, limit=1, max_guesses=CHECK_GUESSES)
            ok[hard] = (res.counts == 0) & ~res.gave_up
        puzzles[act[ok], cell[ok]] = 0
        ngiven[act[ok]] -= 1
    return puzzles


def _forced_by_singles(trial: np.ndarray, cell: np.ndarray, bit: np.ndarray, n: int) -> np.ndarray:
    """Cheap sufficient test that a blanked cell is still determined by the givens.

    True where the cell is a naked single (its peers hold every other digit) or
    a hidden single (every other blank cell of one of its units sees the digit).
    Most early removals pass this, which spares the full uniqueness search.
    """
    g = geometry(n)
    a = trial.shape[0]
    gbits = np.where(trial > 0, digit_bit(np.maximum(trial, 1)), np.uint64(0))
    used = np.bitwise_or.reduce(gbits[:, g.units], axis=2)            # [a, 3n]
    cu = g.cell_units[cell]                                           # [a, 3]
    r = np.arange(a)[:, None]
    naked = (np.bitwise_or.reduce(used[r, cu], axis=1) | bit) == g.full
    members = g.units[cu]                                             # [a, 3, n]
    mu = g.cell_units[members]                                        # [a, 3, n, 3]
    sees = np.bitwise_or.reduce(used[r[:, :, None, None], mu], axis=3) & bit[:, None, None]
    blank = trial[r[:, :, None], members] == 0
    covered = ~blank | (sees != 0) | (members == cell[:, None, None])
    hidden = covered.all(axis=2).any(axis=1)
    return naked | hidden


# --------------------------------------------------------------------------- symmetry


def spatial_maps(n: int) -> np.ndarray:
    """Every validity-preserving cell permutation, [K, n*n] (source cell per target cell).

    Only enumerated for n <= 6 (128 maps for 4x4, 3456 for 6x6).
    """
    br, bc = BOX_SHAPES[n]
    row_perms = _line_perms(n, br)
    col_perms = _line_perms(n, bc)
    cells = np.arange(n * n).reshape(n, n)
    bases = [cells, cells.T] if br == bc else [cells]
    maps = [base[np.ix_(rp, cp)].reshape(-1) for base in bases for rp in row_perms for cp in col_perms]
    return np.asarray(maps, dtype=np.intp)


def _line_perms(n: int, size: int) -> list[np.ndarray]:
    """Row (or column) orders that keep boxes intact: permute bands, then lines in each band."""
    bands = n // size
    out = []
    for band_order in itertools.permutations(range(bands)):
        for inner in itertools.product(list(itertools.permutations(range(size))), repeat=bands):
            out.append(np.concatenate([b * size + np.asarray(inner[i]) for i, b in enumerate(band_order)]))
    return out


def canonical_key(puzzle: np.ndarray, n: int, maps: np.ndarray | None) -> bytes:
    """A key equal for two puzzles iff one is an augmentation of the other.

    With `maps` (4x4, 6x6) it is the smallest relabelled image under every
    spatial map; without (9x9) it is the puzzle itself.
    """
    p = np.asarray(puzzle, dtype=np.int8).reshape(-1)
    if maps is None:
        return p.tobytes()
    q = p[maps]                                              # [K, C]
    c = q.shape[1]
    present = q[:, :, None] == np.arange(1, n + 1, dtype=np.int8)
    first = np.where(present.any(axis=1), present.argmax(axis=1), c + np.arange(n))
    rank = np.argsort(np.argsort(first, axis=1), axis=1) + 1  # label = order of first appearance
    label = np.concatenate([np.zeros((q.shape[0], 1), dtype=np.int64), rank], axis=1)
    relabelled = np.take_along_axis(label, q.astype(np.int64), axis=1)
    best = np.lexsort(relabelled.T[::-1])[0]
    return relabelled[best].astype(np.int8).tobytes()


@dataclass(frozen=True)
class SudokuTransform:
    """One augmentation: digit map, optional transpose, then row/column orders."""

    digit_map: np.ndarray  # [n + 1], 0 -> 0
    transpose: bool
    rows: np.ndarray
    cols: np.ndarray

    def apply(self, board: np.ndarray) -> np.ndarray:
        """Transform a board (digits, any shape with n*n cells); returns [n*n]."""
        n = self.rows.shape[0]
        b = np.asarray(board).reshape(n, n)
        if self.transpose:
            b = b.T
        return self.digit_map[b[np.ix_(self.rows, self.cols)]].reshape(-1)


def random_transform(n: int, rng: np.random.Generator) -> SudokuTransform:
    """Draw a uniformly random augmentation for an n x n board."""
    br, bc = BOX_SHAPES[n]
    digit_map = np.concatenate([[0], rng.permutation(n) + 1]).astype(np.int32)
    transpose = bool(br == bc and rng.random() < 0.5)

    def lines(size: int) -> np.ndarray:
        return np.concatenate([b * size + rng.permutation(size) for b in rng.permutation(n // size)])

    return SudokuTransform(digit_map, transpose, lines(br), lines(bc))


# --------------------------------------------------------------------------- generation


@dataclass
class SudokuSet:
    """Generated base puzzles.

    Attributes:
        puzzles: [M, n*n] digits, 0 blank.
        solutions: [M, n*n] digits.
        givens: [M] number of givens.
        backtracks: [M] dead ends of the count-to-2 search (hardness).
    """

    puzzles: np.ndarray
    solutions: np.ndarray
    givens: np.ndarray
    backtracks: np.ndarray


def generate_puzzles(
    count: int,
    n: int = 9,
    givens: tuple[int, int] | None = None,
    seed: int | np.random.Generator = 0,
    *,
    min_backtracks: int = 0,
    progress: bool = False,
    max_rounds: int = 1000,
) -> SudokuSet:
    """Generate `count` distinct unique-solution puzzles (distinct up to augmentation).

    Args:
        count: Number of puzzles.
        n: Board side, 4, 6 or 9.
        givens: (min, max) number of givens; default per size in `DEFAULT_GIVENS`.
        seed: Seed or generator; same seed -> same puzzles.
        min_backtracks: Keep only puzzles whose hardness is at least this.
        progress: Print a progress line on stderr.
        max_rounds: Give up after this many chunks (a spec that admits too few
            distinct puzzles, e.g. thousands of 4x4 boards, would loop forever).

    Returns:
        A `SudokuSet` in generation order.

    Raises:
        DataError: Impossible givens range, or not enough distinct puzzles.
    """
    geometry(n)  # validates n
    lo, hi = givens if givens is not None else DEFAULT_GIVENS[n]
    if not (0 <= lo <= hi <= n * n):
        raise DataError(f"givens range ({lo}, {hi}) is invalid for {n}x{n}; use 0 <= min <= max <= {n * n}")
    if hi < MIN_UNIQUE_GIVENS.get(n, 0):
        raise DataError(f"no {n}x{n} puzzle with givens in [{lo}, {hi}] has a unique solution; a {n}x{n} puzzle needs at least "
                        f"{MIN_UNIQUE_GIVENS[n]} givens: raise the givens max")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    maps = spatial_maps(n) if n <= 6 else None
    seen: set[bytes] = set()
    parts: list[tuple[np.ndarray, ...]] = []
    have = 0
    bar = Progress(f"sudoku {n}x{n}", count, progress)
    # Small requests use small chunks (a function of the arguments only, so
    # results stay reproducible); about a fifth of boards miss the givens range.
    chunk = int(min(CHUNK, max(32, count + count // 4)))
    for rounds in range(max_rounds):
        if have >= count:
            break
        if have == 0 and rounds >= FUTILE_ROUNDS:
            raise DataError(
                f"no {n}x{n} puzzle with givens in [{lo}, {hi}] and min_backtracks={min_backtracks} among {rounds * chunk} generated boards; "
                f"widen the givens range (9x9 needs at least 17; about 22-27 for puzzles that need a guess) or lower min_backtracks"
            )
        sol = random_solutions(chunk, n, rng)
        puz = remove_givens(sol, n, (lo, hi), rng)
        ng = (puz > 0).sum(axis=1)
        res = solve_batch(boards_to_masks(puz, n), n, limit=2)
        unique = (res.counts == 1) & (res.solutions == sol).all(axis=1)
        if not unique.all():  # pragma: no cover - would be a generator bug
            raise AssertionError("generator produced a puzzle without a unique solution")
        keep = (ng >= lo) & (ng <= hi) & (res.backtracks >= min_backtracks)
        for i in np.nonzero(keep)[0]:
            key = canonical_key(puz[i], n, maps)
            if key in seen:
                continue
            seen.add(key)
            parts.append((puz[i], sol[i], ng[i], res.backtracks[i]))
            have += 1
            if have >= count:
                break
        bar.update(have)
    bar.close()
    if have < count:
        raise DataError(
            f"only {have} distinct {n}x{n} puzzles with givens in [{lo}, {hi}] and min_backtracks={min_backtracks} were found "
            f"(asked for {count}); ask for fewer puzzles or widen the givens range"
        )
    if not parts:
        z = np.zeros((0, n * n), np.int32)
        return SudokuSet(z, z.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64))
    p, s, g, b = zip(*parts)
    return SudokuSet(np.stack(p), np.stack(s), np.asarray(g, np.int64), np.asarray(b, np.int64))


def build_sudoku(
    out: str | os.PathLike[str],
    *,
    size: int = 9,
    num_train: int = 1000,
    num_test: int = 200,
    num_aug: int = 0,
    test_aug: int = 0,
    givens: tuple[int, int] | None = None,
    min_backtracks: int = 0,
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Generate a Sudoku dataset and write it in the HRM layout.

    Args:
        out: Dataset root to write (`train/`, `test/`, `identifiers.json`).
        size: Board side (4, 6, 9).
        num_train: Base puzzles in the train split (groups).
        num_test: Base puzzles in the test split.
        num_aug: Augmented variants added per train puzzle (group = 1 + num_aug).
        test_aug: Augmented variants per test puzzle (0 by default, as the original).
        givens: (min, max) givens; see `generate_puzzles`.
        min_backtracks: Hardness filter.
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json` (defaults to these arguments).

    Returns:
        The dataset root.
    """
    if num_train < 0 or num_test < 0 or num_aug < 0 or test_aug < 0:
        raise DataError("sudoku counts must be >= 0")
    root = Path(out)
    rng = np.random.default_rng(seed)
    base = generate_puzzles(num_train + num_test, size, givens, rng, min_backtracks=min_backtracks, progress=progress)
    aug_rng = np.random.default_rng([seed, 1])  # separate stream: changing num_aug never changes the base puzzles
    for split, sl, n_aug in (("train", slice(0, num_train), num_aug), ("test", slice(num_train, None), test_aug)):
        puz, sol = base.puzzles[sl], base.solutions[sl]
        inputs, labels = [], []
        for p, s in zip(puz, sol):
            inputs.append(p)
            labels.append(s)
            for _ in range(n_aug):
                t = random_transform(size, aug_rng)
                inputs.append(t.apply(p))
                labels.append(t.apply(s))
        write_flat_split(root / split, to_tokens(np.asarray(inputs)), to_tokens(np.asarray(labels)), np.full(len(puz), 1 + n_aug),
                         seq_len=size * size, vocab_size=vocab_size(size),
                         extras={"givens": base.givens[sl].astype(np.int32), "backtracks": base.backtracks[sl].astype(np.int32)})
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_build_info(root, "sudoku", spec or dict(size=size, num_train=num_train, num_test=num_test, num_aug=num_aug,
                                                  test_aug=test_aug, givens=list(givens) if givens else None,
                                                  min_backtracks=min_backtracks, seed=seed))
    return root
