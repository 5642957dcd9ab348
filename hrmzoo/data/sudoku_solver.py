"""Sudoku solvers for N x N boards (N = 4, 6, 9) over candidate bitmasks.

Two solvers share the same board convention (digits ``1..N``, ``0`` blank, boards
flattened row-major):

* :func:`solve_batch` works on many boards at once with numpy. Each state is a
  row of per-cell candidate bitmasks; constraint propagation (naked and hidden
  singles) runs vectorised over all states, and undecided states split in two
  on their most constrained cell (lowest candidate vs the rest). The generator
  calls it thousands of times, so it is the part that has to be fast.
* :func:`count_solutions` is a plain backtracking solver for one board, handy
  for spot checks and small boards.

Both count solutions up to a limit (2 is enough to prove uniqueness).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Box shape (rows, cols) per board size.
BOX_SHAPES: dict[int, tuple[int, int]] = {4: (2, 2), 6: (2, 3), 9: (3, 3)}


@dataclass(frozen=True)
class Geometry:
    """Index tables for one board size.

    Attributes:
        n: Board side (and number of digits).
        box: Box shape (rows, cols).
        units: [3n, n] cell indices of every row, column and box.
        cell_units: [n*n, 3] the row, column and box unit of each cell.
        popcount: [2**n] bit counts.
        full: Mask with all n digit bits set.
    """

    n: int
    box: tuple[int, int]
    units: np.ndarray
    cell_units: np.ndarray
    popcount: np.ndarray
    full: int


@lru_cache(maxsize=None)
def geometry(n: int) -> Geometry:
    """Cached :class:`Geometry` for board side ``n`` (4, 6 or 9)."""
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
    popcount = np.array([bin(m).count("1") for m in range(1 << n)], dtype=np.int8)
    return Geometry(n, (br, bc), units, cell_units, popcount, (1 << n) - 1)


def boards_to_masks(boards: np.ndarray, n: int) -> np.ndarray:
    """Digits (0 blank) -> candidate masks: a given is its own bit, a blank is all bits."""
    boards = np.asarray(boards, dtype=np.int32)
    full = (1 << n) - 1
    return np.where(boards > 0, np.left_shift(1, np.maximum(boards - 1, 0)), full).astype(np.int32)


def masks_to_boards(masks: np.ndarray, n: int) -> np.ndarray:
    """Single-bit masks -> digits 1..n (cells that are not decided become 0)."""
    g = geometry(n)
    masks = np.asarray(masks, dtype=np.int32)
    single = g.popcount[masks] == 1
    digits = np.zeros(masks.shape, dtype=np.int32)
    for d in range(n):
        digits[single & (masks == (1 << d))] = d + 1
    return digits


def propagate(states: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply naked and hidden singles to a fixpoint, vectorised over states.

    Args:
        states: [M, n*n] int32 candidate masks (modified copy is returned).
        n: Board side.

    Returns:
        ``(states, dead, solved)``: the propagated masks, a [M] flag for
        contradictions, and a [M] flag for fully decided consistent boards.
    """
    g = geometry(n)
    pop, U, CU, full = g.popcount, g.units, g.cell_units, g.full
    x = np.array(states, dtype=np.int32, copy=True)
    m = x.shape[0]
    dead = np.zeros(m, dtype=bool)
    active = np.arange(m)
    while active.size:
        xa = x[active]
        single = pop[xa] == 1
        vals = np.where(single, xa, 0)
        uv = vals[:, U]                                  # [a, 3n, n]
        u_or = np.bitwise_or.reduce(uv, axis=2)          # digits placed per unit
        # Two placed cells with the same digit make the sum carry past the OR.
        bad = (u_or != uv.sum(axis=2)).any(axis=1)
        elim = u_or[:, CU[:, 0]] | u_or[:, CU[:, 1]] | u_or[:, CU[:, 2]]
        xn = np.where(single, xa, xa & ~elim)
        cu = xn[:, U]
        once = np.zeros(cu.shape[:2], dtype=np.int32)
        twice = np.zeros_like(once)
        for k in range(n):
            twice |= once & cu[:, :, k]
            once |= cu[:, :, k]
        bad |= (once != full).any(axis=1)                # a digit with no place left in a unit
        exact1 = once & ~twice
        hidden = (exact1[:, CU[:, 0]] | exact1[:, CU[:, 1]] | exact1[:, CU[:, 2]]) & xn
        hp = pop[hidden]
        bad |= (hp > 1).any(axis=1)                      # one cell forced to two digits
        xn = np.where(hp == 1, hidden, xn)
        bad |= (xn == 0).any(axis=1)
        changed = (xn != xa).any(axis=1) & ~bad
        x[active] = xn
        dead[active[bad]] = True
        active = active[changed]
    solved = ~dead & (pop[x] == 1).all(axis=1)
    return x, dead, solved


@dataclass
class BatchResult:
    """Outcome of :func:`solve_batch` per board.

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


_CHUNK = 4096


def solve_batch(masks: np.ndarray, n: int, limit: int = 2, max_guesses: int | None = None) -> BatchResult:
    """Count solutions (up to ``limit``) of many boards given as candidate masks.

    The search is deterministic: each level of the search tree is processed as
    one batch (split into fixed-size chunks when large), children in a fixed
    order, so results never depend on timing.

    Args:
        masks: [B, n*n] candidate masks (see :func:`boards_to_masks`).
        n: Board side.
        limit: Stop counting a board once this many solutions are found.
        max_guesses: Give up on a board after this many branch points
            (``None``: never). Used to bound uniqueness checks.

    Returns:
        A :class:`BatchResult`.
    """
    g = geometry(n)
    masks = np.asarray(masks, dtype=np.int32)
    b = masks.shape[0]
    counts = np.zeros(b, dtype=np.int64)
    sols = np.zeros((b, n * n), dtype=np.int32)
    have_sol = np.zeros(b, dtype=bool)
    backtracks = np.zeros(b, dtype=np.int64)
    guesses = np.zeros(b, dtype=np.int64)
    gave_up = np.zeros(b, dtype=bool)
    stack: list[tuple[np.ndarray, np.ndarray]] = [(masks, np.arange(b))]
    while stack:
        x, own = stack.pop()
        if x.shape[0] > _CHUNK:
            stack.append((x[_CHUNK:], own[_CHUNK:]))
            x, own = x[:_CHUNK], own[:_CHUNK]
        keep = (counts[own] < limit) & ~gave_up[own]
        if not keep.all():
            x, own = x[keep], own[keep]
        if x.shape[0] == 0:
            continue
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
        pc = g.popcount[x].astype(np.int32)
        cell = np.argmin(np.where(pc > 1, pc, 127), axis=1)
        r = np.arange(x.shape[0])
        m = x[r, cell]
        low = m & -m
        a = x.copy()
        a[r, cell] = low
        x[r, cell] = m & ~low
        # Both children go in as one array so the next level is one vectorised
        # call (level-synchronous search keeps the numpy call count low).
        stack.append((np.concatenate([a, x]), np.concatenate([own, own])))
    return BatchResult(np.minimum(counts, limit), sols, backtracks, guesses, gave_up)


def count_solutions(board: np.ndarray, n: int, limit: int = 2) -> tuple[int, np.ndarray | None]:
    """Count solutions of one board by bitmask backtracking (most constrained cell first).

    Args:
        board: [n*n] or [n, n] digits, 0 blank.
        n: Board side.
        limit: Stop after this many solutions.

    Returns:
        ``(count, first_solution)``; the solution is ``None`` when there is none.
    """
    g = geometry(n)
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
    full = g.full
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
