"""Seeded maze dataset generator.

Tokens follow the original HRM maze data: characters `"# SGo"` map to 1..5
(PAD 0, vocab 6, sequence `N*N`): `#` wall, space open, `S` start, `G`
goal, `o` path. The input is the maze with S and G; the label is the same maze
with every cell of the shortest S->G path *except S and G themselves* marked
`o` (S and G are kept, as in the original). Every cell is supervised.

Mazes are *perfect* (a random spanning tree carved by a randomised depth-first
search on a lattice of cells two apart), so the path between any two open cells
is unique and therefore the unique shortest path. `path_len` counts moves
(edges) from S to G; `min_path_len` keeps only mazes whose path is at least
that long (the original "hard" 30x30 set has paths over 110).

Augmentation (train split only): the 8 dihedral transforms of each maze form a
group. Splits are de-duplicated up to those transforms.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import numpy as np

from hrmzoo.data.augment import NUM_DIHEDRAL, dihedral
from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, write_build_info, write_flat_split, write_identifiers
from hrmzoo.data.progress import Progress

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = 1, 2, 3, 4, 5
VOCAB_SIZE = len(CHARSET) + 1


def to_text(grid: np.ndarray) -> str:
    """Render a token grid as lines of `# SGo` characters (PAD -> '?')."""
    lut = "?" + CHARSET
    return "\n".join("".join(lut[int(t)] for t in row) for row in np.asarray(grid))


def carve(n: int, rng: np.random.Generator) -> np.ndarray:
    """A perfect maze on an n x n grid: [n, n] tokens WALL/OPEN.

    Cells sit on a lattice with spacing 2 (random offset 0/1 per axis when n is
    even, so the unused border row/column is not always on the same side);
    passages open the wall cell between two neighbouring lattice cells.
    """
    if n < 3:
        raise DataError(f"maze size {n} is too small; use --size 3 or more")
    oy = int(rng.integers(0, 2)) if n % 2 == 0 else 0
    ox = int(rng.integers(0, 2)) if n % 2 == 0 else 0
    h, w = (n - oy + 1) // 2, (n - ox + 1) // 2
    grid = np.full((n, n), WALL, dtype=np.uint8)
    visited = np.zeros((h, w), dtype=bool)
    steps = ((0, 1), (1, 0), (0, -1), (-1, 0))
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    visited[cy, cx] = True
    grid[oy + 2 * cy, ox + 2 * cx] = OPEN
    stack = [(cy, cx)]
    # One batch of random draws per maze: cheaper than a call per step.
    picks = rng.random(4 * h * w + 4)
    k = 0
    while stack:
        y, x = stack[-1]
        nbrs = [(y + dy, x + dx) for dy, dx in steps if 0 <= y + dy < h and 0 <= x + dx < w and not visited[y + dy, x + dx]]
        if not nbrs:
            stack.pop()
            continue
        ny, nx = nbrs[int(picks[k % picks.size] * len(nbrs))]
        k += 1
        visited[ny, nx] = True
        grid[oy + 2 * ny, ox + 2 * nx] = OPEN
        grid[oy + y + ny, ox + x + nx] = OPEN
        stack.append((ny, nx))
    return grid


def bfs(grid: np.ndarray, start: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Distances (-1 unreachable) and parent cell index from `start` over non-wall cells."""
    n, m = grid.shape
    dist = np.full(n * m, -1, dtype=np.int64)
    parent = np.full(n * m, -1, dtype=np.int64)
    passable = (grid != WALL).reshape(-1)
    s = start[0] * m + start[1]
    dist[s] = 0
    q = deque([s])
    while q:
        u = q.popleft()
        y, x = divmod(u, m)
        for v, ok in ((u - m, y > 0), (u + m, y < n - 1), (u - 1, x > 0), (u + 1, x < m - 1)):
            if ok and passable[v] and dist[v] < 0:
                dist[v] = dist[u] + 1
                parent[v] = u
                q.append(v)
    return dist.reshape(n, m), parent


def make_maze(n: int, rng: np.random.Generator, min_path_len: int = 0, max_tries: int = 200) -> tuple[np.ndarray, np.ndarray, int]:
    """One maze with start/goal at least `min_path_len` moves apart.

    Returns:
        `(input_tokens [n, n], label_tokens [n, n], path_len)`.

    Raises:
        DataError: No maze of that size reaches `min_path_len`.
    """
    for _ in range(max_tries):
        grid = carve(n, rng)
        cells = np.argwhere(grid == OPEN)
        sy, sx = (int(v) for v in cells[rng.integers(len(cells))])
        dist, parent = bfs(grid, (sy, sx))
        far = np.argwhere(dist >= max(min_path_len, 1))
        if not len(far):
            continue
        gy, gx = (int(v) for v in far[rng.integers(len(far))])
        inp = grid.copy()
        inp[sy, sx], inp[gy, gx] = START, GOAL
        label = inp.copy()
        u = parent[gy * n + gx]
        while u != sy * n + sx:
            label[u // n, u % n] = PATH
            u = parent[u]
        return inp, label, int(dist[gy, gx])
    raise DataError(f"no {n}x{n} maze reached min_path_len={min_path_len} in {max_tries} tries; lower --min-path-len or raise --size")


def _canonical(grid: np.ndarray) -> bytes:
    return min(dihedral(grid, t).tobytes() for t in range(NUM_DIHEDRAL))


def generate_mazes(count: int, n: int = 30, min_path_len: int = 0, seed: int | np.random.Generator = 0, *, progress: bool = False):
    """`count` distinct mazes (distinct up to dihedral transforms).

    Returns:
        `(inputs [count, n, n], labels [count, n, n], path_lens [count])`.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    seen: set[bytes] = set()
    xs, ys, lens = [], [], []
    bar = Progress(f"maze {n}x{n}", count, progress)
    misses = 0
    while len(xs) < count:
        x, y, length = make_maze(n, rng, min_path_len)
        key = _canonical(x)
        if key in seen:
            misses += 1
            if misses > 1000 + 10 * count:
                raise DataError(f"could only find {len(xs)} distinct {n}x{n} mazes (asked for {count}); ask for fewer or raise --size")
            continue
        seen.add(key)
        xs.append(x)
        ys.append(y)
        lens.append(length)
        bar.update(len(xs))
    bar.close()
    shape = (0, n, n)
    return (np.stack(xs) if xs else np.zeros(shape, np.uint8), np.stack(ys) if ys else np.zeros(shape, np.uint8), np.asarray(lens, np.int64))


def build_maze(
    out: str | os.PathLike[str],
    *,
    size: int = 30,
    num_train: int = 1000,
    num_test: int = 200,
    min_path_len: int = 0,
    augment: bool = False,
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Generate a maze dataset and write it in the HRM layout.

    Args:
        out: Dataset root.
        size: Grid side.
        num_train: Mazes (groups) in the train split.
        num_test: Mazes in the test split.
        min_path_len: Minimum S->G moves (110 gives the original "hard" set on 30x30).
        augment: Add the 7 non-identity dihedral transforms of each train maze.
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json`.

    Returns:
        The dataset root.
    """
    if num_train < 0 or num_test < 0:
        raise DataError("maze counts must be >= 0")
    root = Path(out)
    xs, ys, lens = generate_mazes(num_train + num_test, size, min_path_len, seed, progress=progress)
    for split, sl, aug in (("train", slice(0, num_train), augment), ("test", slice(num_train, None), False)):
        x, y = xs[sl], ys[sl]
        tids = range(NUM_DIHEDRAL) if aug else range(1)
        inputs = [dihedral(g, t) for g in x for t in tids]
        labels = [dihedral(g, t) for g in y for t in tids]
        write_flat_split(root / split, inputs, labels, np.full(len(x), len(tids)), seq_len=size * size, vocab_size=VOCAB_SIZE,
                         extras={"path_len": lens[sl].astype(np.int32)})
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_build_info(root, "maze", spec or dict(size=size, num_train=num_train, num_test=num_test,
                                                min_path_len=min_path_len, augment=augment, seed=seed))
    return root
