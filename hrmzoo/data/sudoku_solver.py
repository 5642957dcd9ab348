"""Sudoku solvers for N x N boards (N = 4, 6, 9) over candidate bitmasks.

Two solvers share the same board convention (digits `1..N`, `0` blank, boards
flattened row-major):

* `solve_batch` works on many boards at once with numpy. Each state is a
  row of per-cell candidate bitmasks; constraint propagation (naked and hidden
  singles) runs vectorised over all states, and undecided states split in two
  on their most constrained cell (lowest candidate vs the rest). The generator
  calls it thousands of times, so it is the part that has to be fast.
* `count_solutions` is a plain backtracking solver for one board, handy
  for spot checks and small boards.

Both count solutions up to a limit (2 is enough to prove uniqueness).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Box shape (rows, cols) per board size.
BOX_SHAPES: dict[int, tuple[int, int]] = {4: (2, 2), 6: (2, 3), 9: (3, 3)}


# Candidate sets are "nibble-spread" bitmasks: digit d (1-based) is bit 4*(d-1)
# of a uint64. Summing masks over a unit then counts, per digit, how many cells
# allow it (each nibble holds a count <= 9), which turns hidden-single detection
# into plain integer sums over reshaped views instead of per-digit loops.
_NIBBLE_ONES = sum(1 << (4 * k) for k in range(9))


def digit_bit(d: np.ndarray | int) -> np.ndarray:
    """Mask of digit `d` (1..n)."""
    return np.left_shift(np.uint64(1), (4 * (np.asarray(d, dtype=np.uint64) - np.uint64(1))))


@dataclass(frozen=True)
class Geometry:
    """Index tables and constants for one board size.

    Attributes:
        n: Board side (and number of digits).
        box: Box shape (rows, cols).
        units: [3n, n] cell indices of every row, column and box.
        cell_units: [n*n, 3] the row, column and box unit of each cell.
        units_flat: `units` flattened, for one-call gathers.
        full: Mask with all n digits.
        ones: `full` (one bit per nibble), used for count tests.
    """

    n: int
    box: tuple[int, int]
    units: np.ndarray
    cell_units: np.ndarray
    units_flat: np.ndarray
    full: np.uint64
    ones: np.uint64


@lru_cache(maxsize=None)
def geometry(n: int) -> Geometry:
    """Cached `Geometry` for board side `n` (4, 6 or 9)."""
    if n not in BOX_SHAPES:
        raise ValueError(f"unsupported Sudoku size {n}; choose one of {sorted(BOX_SHAPES)}")
    br, bc = BOX_SHAPES[n]
    cells = np.arange(n * n).reshape(n, n)
    rows = [cells[r] for r in range(n)]
    cols = [cells[:, c] for c in range(n)]
    boxes = [cells[r:r + br, c:c + bc].reshape(-1) for r in range(0, n, br) for c in range(0, n, bc)]
    units = np.stack(rows + cols + boxes).astype(np.intp)
    cell_units = np.zeros((n * n, 3), dtype=np.intp)
    for u, members in enumerate(units):
        cell_units[members, u // n] = u
    full = np.uint64(sum(1 << (4 * k) for k in range(n)))
    return Geometry(n, (br, bc), units, cell_units, units.reshape(-1), full, full)


def popcount(masks: np.ndarray) -> np.ndarray:
    """Number of candidate digits per mask (multiply folds every nibble into the top one)."""
    return ((masks * np.uint64(_NIBBLE_ONES)) >> np.uint64(32)) & np.uint64(0xF)


def boards_to_masks(boards: np.ndarray, n: int) -> np.ndarray:
    """Digits (0 blank) -> candidate masks: a given is its own digit, a blank is all digits."""
    boards = np.asarray(boards, dtype=np.int64)
    return np.where(boards > 0, digit_bit(np.maximum(boards, 1)), geometry(n).full).astype(np.uint64)


def masks_to_boards(masks: np.ndarray, n: int) -> np.ndarray:
    """Single-digit masks -> digits 1..n (undecided cells become 0)."""
    masks = np.asarray(masks, dtype=np.uint64)
    single = popcount(masks) == 1
    digits = np.zeros(masks.shape, dtype=np.int32)
    for d in range(n):
        digits[single & (masks == np.uint64(1 << (4 * d)))] = d + 1
    return digits


def _unit_sums(x: np.ndarray, n: int) -> np.ndarray:
    """Per-unit sums of [a, n*n] masks as [a, 3n] (rows, then cols, then boxes)."""
    g = geometry(n)
    return x[:, g.units_flat].reshape(x.shape[0], 3 * n, n).sum(axis=2)


def _spread(u: np.ndarray, n: int) -> np.ndarray:
    """OR per-unit values [a, 3n] back onto the cells of each unit -> [a, n*n]."""
    return np.bitwise_or.reduce(u[:, geometry(n).cell_units], axis=2)


def propagate(states: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply naked and hidden singles to a fixpoint, vectorised over states.

    The loop body is kept to few numpy calls: search steps often carry only a
    handful of states, where per-call overhead, not arithmetic, is the cost.

    Args:
        states: [M, n*n] uint64 candidate masks (a modified copy is returned).
        n: Board side.

    Returns:
        `(states, dead, solved)`: the propagated masks, a [M] flag for
        contradictions, and a [M] flag for fully decided consistent boards.
    """
    g = geometry(n)
    ones = g.ones
    hi = np.uint64((0xE * _NIBBLE_ONES) & ((1 << (4 * n)) - 1))  # bits 1..3 of each used nibble
    zero, s1, s2, s3 = np.uint64(0), np.uint64(1), np.uint64(2), np.uint64(3)
    x = np.array(states, dtype=np.uint64, copy=True)
    dead = np.zeros(x.shape[0], dtype=bool)
    active = np.arange(x.shape[0])
    while active.size:
        xa = x[active]
        single = (xa & (xa - s1)) == zero
        placed = _unit_sums(np.where(single, xa, zero), n)
        # A digit placed twice in a unit leaves a count >= 2 in its nibble.
        bad = (placed & hi).any(axis=1)
        xn = np.where(single, xa, xa & ~_spread(placed, n))
        allowed = _unit_sums(xn, n)
        many = ((allowed >> s1) | (allowed >> s2) | (allowed >> s3)) & ones
        bad |= (((allowed | many) & ones) != ones).any(axis=1)  # a digit with no place left in a unit
        hidden = _spread(allowed & ~many & ones, n) & xn  # digits allowed in exactly one cell of a unit
        bad |= ((hidden & (hidden - s1)) != zero).any(axis=1)  # one cell forced to two digits
        xn = np.where(hidden != zero, hidden, xn)
        bad |= (xn == zero).any(axis=1)
        changed = (xn != xa).any(axis=1) & ~bad
        x[active] = xn
        dead[active[bad]] = True
        active = active[changed]
    solved = ~dead & (popcount(x) == 1).all(axis=1)
    return x, dead, solved


@dataclass
class BatchResult:
    """Outcome of `solve_batch` per board.

    Attributes:
        counts: [B] solutions found, capped at the limit.
        solutions: [B, n*n] digits of the first solution found (0 where none).
        backtracks: [B] dead ends met (the hardness measure).
        guesses: [B] branch points expanded.
        gave_up: [B] True where the guess budget ran out before a decision.
    """

    counts: np.ndarray
    solutions: np.ndarray
    backtracks: np.ndarray
    guesses: np.ndarray
    gave_up: np.ndarray


#: States expanded per board per step once few boards remain (keeps numpy calls large).
_WIDE = 256


def solve_batch(masks: np.ndarray, n: int, limit: int = 2, max_guesses: int | None = None) -> BatchResult:
    """Count solutions (up to `limit`) of many boards given as candidate masks.

    A depth-first search per board, run in lockstep across boards: every step
    takes the deepest pending state of each board (more than one when few
    boards remain), propagates them all in one vectorised call and pushes two
    children (the most constrained cell's lowest digit, and the rest). Depth
    first matters: most checks of the generator end by *finding* a second
    solution, which a breadth-first search would reach only after expanding
    whole levels. The order is fixed, so results never depend on timing.

    Args:
        masks: [B, n*n] candidate masks (see `boards_to_masks`).
        n: Board side.
        limit: Stop counting a board once this many solutions are found.
        max_guesses: Give up on a board after this many branch points
            (`None`: never). Used to bound uniqueness checks.

    Returns:
        A `BatchResult`.
    """
    masks = np.asarray(masks, dtype=np.uint64)
    b = masks.shape[0]
    counts = np.zeros(b, dtype=np.int64)
    sols = np.zeros((b, n * n), dtype=np.int32)
    have_sol = np.zeros(b, dtype=bool)
    backtracks = np.zeros(b, dtype=np.int64)
    guesses = np.zeros(b, dtype=np.int64)
    gave_up = np.zeros(b, dtype=bool)
    # Pending states: masks, owner board, push sequence (deepest = largest).
    px, pown, pseq = masks, np.arange(b), np.zeros(b, dtype=np.int64)
    seq = 1
    while pown.size:
        alive = (counts[pown] < limit) & ~gave_up[pown]
        if not alive.all():
            px, pown, pseq = px[alive], pown[alive], pseq[alive]
            if not pown.size:
                break
        order = np.lexsort((-pseq, pown))
        own_sorted = pown[order]
        starts = np.ones(order.size, dtype=bool)
        starts[1:] = own_sorted[1:] != own_sorted[:-1]
        group_start = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
        rank = np.arange(order.size) - group_start
        width = max(1, _WIDE // int(starts.sum()))
        take = np.zeros(order.size, dtype=bool)
        take[order] = rank < width
        x, own = px[take], pown[take]
        px, pown, pseq = px[~take], pown[~take], pseq[~take]

        x, dead, solved = propagate(x, n)
        np.add.at(backtracks, own[dead], 1)
        if solved.any():
            s_own = own[solved]
            np.add.at(counts, s_own, 1)
            boards = masks_to_boards(x[solved], n)
            uniq_own, first = np.unique(s_own, return_index=True)
            new = ~have_sol[uniq_own]
            sols[uniq_own[new]] = boards[first[new]]
            have_sol[uniq_own[new]] = True
        open_ = ~dead & ~solved
        if not open_.any():
            continue
        x, own = x[open_], own[open_]
        np.add.at(guesses, own, 1)
        if max_guesses is not None:
            gave_up |= guesses > max_guesses
        pc = popcount(x).astype(np.int32)
        cell = np.argmin(np.where(pc > 1, pc, 127), axis=1)
        r = np.arange(x.shape[0])
        m = x[r, cell]
        low = m & (~m + np.uint64(1))
        a = x.copy()
        a[r, cell] = low
        x[r, cell] = m & ~low
        k = own.size
        # The "lowest digit" child gets the larger sequence number: explored first.
        px = np.concatenate([px, x, a])
        pown = np.concatenate([pown, own, own])
        pseq = np.concatenate([pseq, np.arange(seq, seq + k), np.arange(seq + k, seq + 2 * k)])
        seq += 2 * k
    return BatchResult(np.minimum(counts, limit), sols, backtracks, guesses, gave_up)


def count_solutions(board: np.ndarray, n: int, limit: int = 2) -> tuple[int, np.ndarray | None]:
    """Count solutions of one board by bitmask backtracking (most constrained cell first).

    Args:
        board: [n*n] or [n, n] digits, 0 blank.
        n: Board side.
        limit: Stop after this many solutions.

    Returns:
        `(count, first_solution)`; the solution is `None` when there is none.
    """
    g = geometry(n)
    full = (1 << n) - 1  # plain bitmasks here: Python ints, digit d is bit d-1
    cells = [int(v) for v in np.asarray(board).reshape(-1)]
    used = [0] * (3 * n)
    cu = [tuple(int(u) for u in row) for row in g.cell_units]
    for i, v in enumerate(cells):
        if v:
            bit = 1 << (v - 1)
            if any(used[u] & bit for u in cu[i]):
                return 0, None
            for u in cu[i]:
                used[u] |= bit
    empties = [i for i, v in enumerate(cells) if v == 0]
    found: list[list[int]] = []

    def search() -> int:
        best, best_mask, best_cnt = -1, 0, 99
        for i in empties:
            if cells[i]:
                continue
            r, c, b = cu[i]
            mask = full & ~(used[r] | used[c] | used[b])
            cnt = mask.bit_count()
            if cnt < best_cnt:
                best, best_mask, best_cnt = i, mask, cnt
                if cnt <= 1:
                    break
        if best < 0:
            if not found:
                found.append(list(cells))
            return 1
        if best_cnt == 0:
            return 0
        total = 0
        r, c, b = cu[best]
        mask = best_mask
        while mask:
            bit = mask & -mask
            mask ^= bit
            cells[best] = bit.bit_length()
            used[r] |= bit
            used[c] |= bit
            used[b] |= bit
            total += search()
            used[r] &= ~bit
            used[c] &= ~bit
            used[b] &= ~bit
            cells[best] = 0
            if total >= limit:
                break
        return total

    count = min(search(), limit)
    return count, (np.asarray(found[0], dtype=np.int32) if found else None)
