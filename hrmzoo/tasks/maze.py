"""Mazes as text rows in the zoo's characters (`hrmzoo.data.maze`): `#` wall, space open,
`S` start, `G` goal, `o` path.

The puzzle is a square maze with one `S` and one `G`; the answer is the same
maze with the cells of the path between them (S and G excluded) marked `o`.
Tokens: PAD 0, then `# SGo` -> 1..5. Rows may be framed by `|` characters
(which are dropped) so trailing spaces survive a terminal or a file.
"""

from __future__ import annotations

import numpy as np

from hrmzoo.data.maze import CHARSET, GOAL, OPEN, PATH, START, WALL, bfs
from hrmzoo.tasks import TaskError

NAME = "maze"
#: side -> the shipped pretrained model
DEFAULT_MODELS = {15: "cpu_maze15"}


def _rows(text: str) -> list[str]:
    rows = [line.rstrip("\n") for line in text.splitlines()]
    rows = [row[1:-1] if len(row) >= 2 and row[0] == row[-1] == "|" else row for row in rows]
    return [row for row in rows if row.strip()]


def parse(text: str) -> np.ndarray:
    """Tokens [n*n] (int64) of one square maze drawn in `# SG` (and `o`) characters, one row per line."""
    rows = _rows(text)
    if not rows:
        raise TaskError("the maze is empty; draw it with '#' walls, spaces, one 'S' and one 'G', one row per line")
    n = len(rows)
    width = max(len(row) for row in rows)
    if width != n:
        raise TaskError(f"a maze is square; this one has {n} rows of up to {width} characters")
    rows = [row.ljust(n) for row in rows]  # trailing spaces are open cells an editor may have stripped
    bad = sorted({c for row in rows for c in row if c not in CHARSET})
    if bad:
        raise TaskError(f"a maze is drawn with the characters '# SGo' (one row per line); found {''.join(bad)!r}")
    tokens = np.asarray([CHARSET.index(c) + 1 for row in rows for c in row], dtype=np.int64)
    for mark, token in (("S", START), ("G", GOAL)):
        count = int((tokens == token).sum())
        if count != 1:
            raise TaskError(f"a maze has exactly one '{mark}'; this one has {count}")
    return tokens


encode = parse


def read_puzzles(text: str) -> list[str]:
    """The mazes of a file: blocks of rows separated by empty lines."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def grid(tokens: np.ndarray) -> np.ndarray:
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    n = int(round(tokens.size ** 0.5))
    if n * n != tokens.size:
        raise TaskError(f"{tokens.size} tokens are not a square maze")
    return tokens.reshape(n, n)


def decode(tokens: np.ndarray) -> str:
    """The maze drawn as text, each row framed by `|` so its spaces show (what `parse` reads back)."""
    lut = "?" + CHARSET
    return "\n".join("|" + "".join(lut[int(t)] if 0 <= int(t) < len(lut) else "?" for t in row) + "|" for row in grid(tokens))


def check(puzzle: np.ndarray, answer: np.ndarray) -> list[str]:
    """The rules `answer` breaks: the maze changed (walls, S, G), a path cell on a wall, or the
    `o` cells not forming one simple path from S to G. Reports when the path is not the shortest."""
    maze, ans = grid(puzzle), grid(answer)
    if maze.shape != ans.shape:
        return [f"the answer is {ans.shape[0]}x{ans.shape[0]} but the maze {maze.shape[0]}x{maze.shape[0]}"]
    problems = []
    kept = np.where(ans == PATH, OPEN, ans)
    moved = int((kept != np.where(maze == PATH, OPEN, maze)).sum())
    if moved:
        problems.append(f"{moved} cells of the maze changed (walls, S or G)")
    if problems:
        return problems
    n = maze.shape[0]
    start = tuple(int(v) for v in np.argwhere(maze == START)[0])
    goal = tuple(int(v) for v in np.argwhere(maze == GOAL)[0])
    on_path = (ans == PATH) | (ans == START) | (ans == GOAL)
    # walk from S over path cells: a simple path visits each once, every cell having one way on
    walk = np.where(on_path, OPEN, WALL)
    dist, _ = bfs(walk, start)
    if dist[goal] < 0:
        return ["the path does not connect S to G"]
    stray = int((on_path & (dist < 0)).sum())
    if stray:
        problems.append(f"{stray} path cells are not connected to S")
    degree = np.zeros_like(maze)
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        shifted = np.zeros_like(on_path)
        shifted[max(dy, 0):n + min(dy, 0), max(dx, 0):n + min(dx, 0)] = on_path[max(-dy, 0):n + min(-dy, 0), max(-dx, 0):n + min(-dx, 0)]
        degree += shifted
    branching = int((on_path & (ans == PATH) & (degree != 2)).sum())
    if branching:
        problems.append(f"the path branches or stops at {branching} cells")
    if not problems:
        shortest, _ = bfs(maze, start)
        if int(on_path.sum()) - 1 != int(shortest[goal]):
            problems.append(f"the path takes {int(on_path.sum()) - 1} moves; the shortest takes {int(shortest[goal])}")
    return problems


def default_model(tokens: np.ndarray) -> str:
    n = grid(tokens).shape[0]
    if n not in DEFAULT_MODELS:
        raise TaskError(f"no shipped model solves {n}x{n} mazes (sizes: {', '.join(f'{k}x{k}' for k in DEFAULT_MODELS)}); pass --model RUN_DIR")
    return DEFAULT_MODELS[n]
