"""Sudoku (4x4, 6x6, 9x9) as text: 16, 36 or 81 cells, digits with `0` or `.` for blanks.

Tokens are the zoo's (`hrmzoo.data.sudoku`): PAD 0, blank 1, digit d -> d + 1.
Whitespace and the drawing characters `| - +` are ignored, so a drawn grid
(`decode`'s output) reads back.

Examples:
    >>> from hrmzoo.tasks import sudoku
    >>> puzzle = sudoku.encode("1..4 .4.. 2... ...1")
    >>> puzzle.tolist()[:4]
    [2, 1, 1, 5]
    >>> print(sudoku.decode(puzzle))
    1 . | . 4
    . 4 | . .
    ----+----
    2 . | . .
    . . | . 1
    >>> sudoku.check(puzzle, sudoku.encode("1234 3412 2143 4321"))
    []
    >>> sudoku.check(puzzle, sudoku.encode("1234 3412 2143 4312"))[0]
    '1 givens changed (first at row 4, column 4: 1 -> 2)'
"""

from __future__ import annotations

import numpy as np

from hrmzoo.data.sudoku_solver import BOX_SHAPES
from hrmzoo.tasks import TaskError

NAME = "sudoku"
BLANKS = "0._"
SEPARATORS = "|-+"
#: cells -> side
SIDES = {n * n: n for n in BOX_SHAPES}
#: side -> the shipped pretrained model
DEFAULT_MODELS = {4: "tiny_sudoku4", 6: "cpu_sudoku6", 9: "cpu_sudoku9"}


def _cells(text: str) -> list[str]:
    return [c for c in text if not c.isspace() and c not in SEPARATORS]


def parse(text: str) -> np.ndarray:
    """Tokens [n*n] (int64) of one puzzle: digits 1..n, and `0`, `.` or `_` for blanks."""
    cells = _cells(text)
    if len(cells) not in SIDES:
        raise TaskError(f"a Sudoku has 16, 36 or 81 cells (4x4, 6x6, 9x9); this one has {len(cells)}")
    n = SIDES[len(cells)]
    bad = sorted({c for c in cells if c not in BLANKS and not (c.isdigit() and 1 <= int(c) <= n)})
    if bad:
        raise TaskError(f"a {n}x{n} Sudoku holds the digits 1-{n} and '0' or '.' for blanks; found {''.join(bad)!r}")
    return np.asarray([1 if c in BLANKS else int(c) + 1 for c in cells], dtype=np.int64)


encode = parse


def read_puzzles(text: str) -> list[str]:
    """The puzzles of a file: one per line (16/36/81 cells each), or one grid drawn over several lines."""
    lines = [line for line in text.splitlines() if _cells(line) and not line.lstrip().startswith("#")]
    if lines and all(len(_cells(line)) in SIDES for line in lines) and len(lines) != SIDES.get(len(_cells("".join(lines))), 0):
        return lines
    return ["".join(lines)] if lines else []


def side(tokens: np.ndarray) -> int:
    tokens = np.asarray(tokens).reshape(-1)
    if tokens.size not in SIDES:
        raise TaskError(f"{tokens.size} tokens are not a 4x4, 6x6 or 9x9 Sudoku")
    return SIDES[tokens.size]


def digits(tokens: np.ndarray) -> np.ndarray:
    """[n, n] digits, 0 for a blank (or PAD, or a token that is no digit)."""
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    n = side(tokens)
    d = tokens - 1
    return np.where((d >= 1) & (d <= n), d, 0).reshape(n, n)


def decode(tokens: np.ndarray) -> str:
    """The grid drawn as text: boxes separated by `|` and `-`, blanks as `.`."""
    grid = digits(tokens)
    n = grid.shape[0]
    br, bc = BOX_SHAPES[n]
    rows = []
    for r in range(n):
        if r and r % br == 0:
            rows.append("-+-".join("-" * (2 * bc - 1) for _ in range(n // bc)))
        cells = [str(v) if v else "." for v in grid[r]]
        rows.append(" | ".join(" ".join(cells[c:c + bc]) for c in range(0, n, bc)))
    return "\n".join(rows)


def to_string(tokens: np.ndarray) -> str:
    """One line of n*n characters, `.` for blanks (what `parse` reads)."""
    return "".join(str(v) if v else "." for v in digits(tokens).reshape(-1))


def check(puzzle: np.ndarray, answer: np.ndarray) -> list[str]:
    """The rules `answer` breaks: blanks left, a digit twice in a row, column or box, a given changed."""
    given, grid = digits(puzzle), digits(answer)
    n = grid.shape[0]
    if given.shape != grid.shape:
        return [f"the answer is {grid.shape[0]}x{grid.shape[0]} but the puzzle {given.shape[0]}x{given.shape[0]}"]
    problems = []
    blanks = int((grid == 0).sum())
    if blanks:
        problems.append(f"{blanks} cells left blank")
    changed = np.argwhere((given > 0) & (grid != given))
    if len(changed):
        r, c = changed[0]
        problems.append(f"{len(changed)} givens changed (first at row {r + 1}, column {c + 1}: {given[r, c]} -> {grid[r, c]})")
    br, bc = BOX_SHAPES[n]
    units = [("row", i + 1, grid[i]) for i in range(n)] + [("column", i + 1, grid[:, i]) for i in range(n)]
    units += [("box", b + 1, grid[(b // (n // bc)) * br:(b // (n // bc)) * br + br, (b % (n // bc)) * bc:(b % (n // bc)) * bc + bc].reshape(-1))
              for b in range(n)]
    for kind, index, values in units:
        values = values[values > 0]
        repeated = sorted({int(v) for v in values if (values == v).sum() > 1})
        if repeated:
            problems.append(f"{kind} {index} holds {', '.join(map(str, repeated))} more than once")
    return problems


def default_model(tokens: np.ndarray) -> str:
    """The shipped pretrained model for this puzzle's size."""
    return DEFAULT_MODELS[side(tokens)]
