"""Maze generator: the label is the unique shortest S->G path (independent BFS)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from hrmzoo.data.maze import GOAL, OPEN, PATH, START, WALL, build_maze, generate_mazes
from hrmzoo.data.reader import load_split


def shortest_paths(grid: np.ndarray, s, g) -> tuple[int, int]:
    """Independent BFS: (distance, number of distinct shortest paths)."""
    n, m = grid.shape
    dist = {s: 0}
    ways = {s: 1}
    q = deque([s])
    while q:
        y, x = q.popleft()
        for v in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
            if 0 <= v[0] < n and 0 <= v[1] < m and grid[v] != WALL:
                if v not in dist:
                    dist[v] = dist[(y, x)] + 1
                    ways[v] = ways[(y, x)]
                    q.append(v)
                elif dist[v] == dist[(y, x)] + 1:
                    ways[v] += ways[(y, x)]
    return dist[g], ways[g]


def check_pair(x: np.ndarray, y: np.ndarray, min_len: int = 0) -> int:
    s = tuple(np.argwhere(x == START)[0])
    g = tuple(np.argwhere(x == GOAL)[0])
    assert (x == START).sum() == 1 and (x == GOAL).sum() == 1 and not (x == PATH).any()
    d, ways = shortest_paths(x, s, g)
    assert ways == 1, "the shortest path must be unique"
    assert d >= max(min_len, 1)
    path = (y == PATH)
    # Label = input with path cells marked; S and G kept.
    assert ((y == x) | path).all() and (x[path] == OPEN).all()
    assert y[s] == START and y[g] == GOAL
    assert path.sum() == d - 1
    # Connected S -> path -> G, each step a neighbour, with no branching.
    cells = {tuple(c) for c in np.argwhere(path)} | {s, g}
    seen, q = {s}, deque([s])
    while q:
        cy, cx = q.popleft()
        for v in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
            if v in cells and v not in seen:
                seen.add(v)
                q.append(v)
    assert seen == cells
    return d


@pytest.mark.parametrize("n,min_len", [(7, 0), (12, 10), (30, 110)])
def test_label_is_unique_shortest_path(n, min_len):
    xs, ys, lens = generate_mazes(8, n, min_len, seed=n)
    for x, y, length in zip(xs, ys, lens):
        assert check_pair(x, y, min_len) == length


def test_built_dataset(maze_root):
    tr, te = load_split(maze_root, "train", check_values=True), load_split(maze_root, "test", check_values=True)
    assert tr.vocab_size == 6 and tr.seq_len == 81
    assert (tr.num_groups, tr.num_puzzles) == (20, 160) and (te.num_groups, te.num_puzzles) == (8, 8)
    a = tr.sets[0]
    for i in range(0, a.num_examples, 7):
        check_pair(np.asarray(a.inputs[i]).reshape(9, 9), np.asarray(a.labels[i]).reshape(9, 9))
    # Groups are the 8 dihedral images of one maze; no maze crosses splits.
    keys = lambda arr: {min(np.rot90(np.asarray(g).reshape(9, 9), k)[::f].tobytes() for k in range(4) for f in (1, -1)) for g in arr}
    train_keys, test_keys = keys(np.asarray(a.inputs)), keys(np.asarray(te.sets[0].inputs))
    assert len(train_keys) == 20 and not train_keys & test_keys


def test_seeded(tmp_path, maze_root):
    again = build_maze(tmp_path / "a", size=9, num_train=20, num_test=8, augment=True, seed=5)
    other = build_maze(tmp_path / "b", size=9, num_train=20, num_test=8, augment=True, seed=6)
    for f in ("train/all__inputs.npy", "test/all__labels.npy", "train/dataset.json", "identifiers.json"):
        assert (maze_root / f).read_bytes() == (again / f).read_bytes()
    assert (maze_root / "train/all__inputs.npy").read_bytes() != (other / "train/all__inputs.npy").read_bytes()


def test_hard_30x30_path_lengths_stored_match_bfs(tmp_path):
    """Maze-Hard style: 30x30, shortest path >= 60 moves; the stored `extra__path_len` is re-computed by BFS."""
    root = build_maze(tmp_path / "hard", size=30, num_train=6, num_test=5, min_path_len=60, augment=True, seed=2)
    for split, groups in (("train", 6), ("test", 5)):
        stored = np.load(root / split / "extra__path_len.npy")
        data = load_split(root, split).sets[0]
        assert stored.shape == (groups,) and (stored >= 60).all()
        for g in range(groups):
            first = int(data.puzzle_indices[int(data.group_indices[g])])  # the group's first example: the maze itself
            x = np.asarray(data.inputs[first]).reshape(30, 30)
            d, ways = shortest_paths(x, tuple(np.argwhere(x == START)[0]), tuple(np.argwhere(x == GOAL)[0]))
            assert ways == 1 and d == stored[g]
