"""Seeded perspective-taking (theory-of-mind) grid worlds.

One *world* is an `n x n` map: walls, `num_agents` agents, an object that is
moved once (its cell before the move `o` and after it `x`) and a goal `G`.
Every example asks one question about one world from the viewpoint of agent
`k`, named by a perspective token in the input, so the same map gets
different answers under different framings. Question kinds (each its own
dataset, hence its own `task_id` in a mix):

- `visibility`: the cells agent k sees. A non-wall cell is seen when the
  segment between the two cell centres passes through the interior of no wall
  cell (touching a wall's corner does not block; agents and objects never block),
  within `view_radius` cells (Chebyshev distance) when set.
- `belief` (Sally-Anne): the cell where agent k believes the object is. The
  event log says who leaves and re-enters the room and when the object moves;
  k believes the object moved only if k was present at the move.
- `reality`: where the object truly is (the control question: the same
  scenario and log as `belief`, only the question token differs).
- `path`: every cell on a shortest 4-neighbour path from agent k to the goal
  (the union over all shortest paths, so the answer is unique; agents and
  objects do not block); `max_goal_dist` keeps the goal that close to agent k.

Layout (`seq_len = (n + 1) * n`): row 0 is a header
`[question, perspective, event_1, ..., PAD...]`, rows 1..n the map. The label
marks every map cell `YES`/`NO`; the header is unsupervised.

Determinism and splits: world `i` is drawn from `default_rng([seed, i])` and
its question (agent k, event log) from `default_rng([seed, i, 1])`, so the
four kinds built with one seed ask about the same worlds with the same agents
and logs. A world belongs to the test split exactly when the first byte of the
SHA-256 of its map is below `TEST_BUCKET` (1/8 of worlds): a map is in train
or in test for every kind, size of build and seed, never both.

Per example (`extra__*.npy`): `agent` (k, 0-based) and `false_belief`
(1 when k was away at the move, so belief and reality differ).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import deque
from fractions import Fraction
from pathlib import Path

import numpy as np

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, write_build_info, write_flat_split, write_identifiers
from hrmzoo.data.progress import Progress

KINDS = ("visibility", "belief", "reality", "path")
MAX_AGENTS = 3

PAD, WALL, OPEN, GOAL, OBJ_BEFORE, OBJ_AFTER = 0, 1, 2, 3, 4, 5
AGENT0 = 6  # agents 1..3: 6, 7, 8
QUESTION0 = AGENT0 + MAX_AGENTS  # 9..12 in KINDS order
PERSPECTIVE0 = QUESTION0 + len(KINDS)  # 13..15
LEAVE0 = PERSPECTIVE0 + MAX_AGENTS  # 16..18
ENTER0 = LEAVE0 + MAX_AGENTS  # 19..21
MOVE = ENTER0 + MAX_AGENTS  # 22
NO, YES = MOVE + 1, MOVE + 2  # 23, 24
VOCAB_SIZE = YES + 1
#: map characters by token id (PAD, wall, open, goal, object before/after, agents); for :func:`to_text`.
CHARSET = "?#.Gox" + "ABC"[:MAX_AGENTS]
TEST_BUCKET = 32  # first SHA-256 byte < 32: 1/8 of maps are test maps

# Per-agent event patterns around the single MOVE: (events before, events after, present at the move).
_PRESENT = (((), (), True), ((), ("L",), True))
_AWAY = ((("L",), (), False), (("L",), ("E",), False))


def max_agents(size: int) -> int:
    """Agents whose events fit in the header: each needs up to 2 events, plus MOVE, in `size - 2` slots."""
    return min(MAX_AGENTS, (size - 3) // 2)


def seq_len(size: int) -> int:
    return (size + 1) * size


def to_text(tokens: np.ndarray, size: int) -> str:
    """Render one example's input (header as words, map as characters) for debugging."""
    t = np.asarray(tokens).reshape(size + 1, size)
    words = []
    for v in t[0]:
        v = int(v)
        if QUESTION0 <= v < QUESTION0 + len(KINDS):
            words.append(f"Q:{KINDS[v - QUESTION0]}")
        elif PERSPECTIVE0 <= v < PERSPECTIVE0 + MAX_AGENTS:
            words.append(f"P:{'ABC'[v - PERSPECTIVE0]}")
        elif LEAVE0 <= v < LEAVE0 + MAX_AGENTS:
            words.append(f"{'ABC'[v - LEAVE0]}-leaves")
        elif ENTER0 <= v < ENTER0 + MAX_AGENTS:
            words.append(f"{'ABC'[v - ENTER0]}-enters")
        elif v == MOVE:
            words.append("move")
    rows = ["".join(CHARSET[int(v)] if int(v) < len(CHARSET) else "?" for v in row) for row in t[1:]]
    return " ".join(words) + "\n" + "\n".join(rows)


# ---------------------------------------------------------------------------- worlds
def _components(open_: np.ndarray) -> np.ndarray:
    """Label 4-connected components of open cells (0 = wall)."""
    n = open_.shape[0]
    comp = np.zeros(open_.shape, dtype=np.int64)
    label = 0
    for r, c in np.argwhere(open_):
        if comp[r, c]:
            continue
        label += 1
        comp[r, c] = label
        q = deque([(int(r), int(c))])
        while q:
            y, x = q.popleft()
            for v in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= v[0] < n and 0 <= v[1] < n and open_[v] and not comp[v]:
                    comp[v] = label
                    q.append(v)
    return comp


def make_world(size: int, num_agents: int, wall_density: float, rng: np.random.Generator, *, focus: int = 0,
               max_goal_dist: int | None = None) -> np.ndarray:
    """One map [size, size]: walls, agents, object before/after the move and the goal.

    Agents, both object cells and the goal lie in the largest open component, so
    every agent can reach the goal; with `max_goal_dist` the goal is at most that
    many moves from agent `focus` (the agent whose perspective the question takes).
    """
    need = num_agents + 3
    for _ in range(100):
        grid = np.where(rng.random((size, size)) < wall_density, WALL, OPEN).astype(np.uint8)
        comp = _components(grid == OPEN)
        if comp.max() == 0:
            continue
        sizes = np.bincount(comp.reshape(-1))[1:]
        cells = np.argwhere(comp == 1 + int(np.argmax(sizes)))
        if len(cells) < need:
            continue
        picks = cells[rng.choice(len(cells), need, replace=False)]
        for i in range(num_agents):
            grid[tuple(picks[i])] = AGENT0 + i
        grid[tuple(picks[num_agents])] = OBJ_BEFORE
        grid[tuple(picks[num_agents + 1])] = OBJ_AFTER
        goal = tuple(picks[num_agents + 2])
        if max_goal_dist is not None:
            dist = _bfs(grid, tuple(int(v) for v in picks[focus]))
            near = np.argwhere((dist >= 1) & (dist <= max_goal_dist) & (grid == OPEN))
            if not len(near):
                continue
            goal = tuple(near[rng.integers(len(near))])
        grid[goal] = GOAL
        return grid
    raise DataError(f"no {size}x{size} world with wall_density={wall_density} had room for {num_agents} agents in 100 tries; lower wall_density")


def make_log(num_agents: int, agent: int, false_belief: bool, rng: np.random.Generator) -> list[int]:
    """Event tokens: every agent follows a random pattern around one MOVE; `agent` is away at it iff `false_belief`."""
    before: list[list[int]] = []
    after: list[list[int]] = []
    for i in range(num_agents):
        pool = (_AWAY if false_belief else _PRESENT) if i == agent else _PRESENT + _AWAY
        pre, post, _ = pool[int(rng.integers(len(pool)))]
        code = {"L": LEAVE0 + i, "E": ENTER0 + i}
        before.append([code[e] for e in pre])
        after.append([code[e] for e in post])
    return _interleave(before, rng) + [MOVE] + _interleave(after, rng)


def _interleave(seqs: list[list[int]], rng: np.random.Generator) -> list[int]:
    """A random merge of several sequences, each keeping its own order."""
    slots = [i for i, s in enumerate(seqs) for _ in s]
    rng.shuffle(slots)
    pos = [0] * len(seqs)
    out = []
    for i in slots:
        out.append(seqs[i][pos[i]])
        pos[i] += 1
    return out


# ---------------------------------------------------------------------------- answers
@functools.lru_cache(maxsize=1 << 16)  # pure in its arguments; a world asks ~n^2 of them
def sight_cells(a: tuple[int, int], b: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Cells whose interior the segment between the centres of `a` and `b` crosses (exact arithmetic).

    Cell (r, c) is the square [r, r+1] x [c, c+1]. The segment crosses grid lines
    at parameters t = (k - p0) / (p1 - p0); between two consecutive crossings it
    stays inside one cell, found from the midpoint of that interval.
    """
    (r0, c0), (r1, c1) = a, b
    y0, x0, dy, dx = Fraction(2 * r0 + 1, 2), Fraction(2 * c0 + 1, 2), r1 - r0, c1 - c0
    ts = {Fraction(0), Fraction(1)}
    for p0, d in ((y0, dy), (x0, dx)):
        if d:
            lo, hi = sorted((p0, p0 + d))
            for k in range(int(lo) + 1, int(hi) + 1):
                ts.add((k - p0) / d)
    ts_sorted = sorted(ts)
    cells = []
    for t0, t1 in zip(ts_sorted, ts_sorted[1:]):
        t = (t0 + t1) / 2
        cell = (int(y0 + t * dy), int(x0 + t * dx))  # coordinates are positive: int() floors
        if not cells or cells[-1] != cell:
            cells.append(cell)
    return tuple(cells)


def visible(world: np.ndarray, agent_cell: tuple[int, int], radius: int | None = None) -> np.ndarray:
    """[n, n] bool: non-wall cells within `radius` (Chebyshev; None: any) whose line of sight from `agent_cell` crosses no wall."""
    n = world.shape[0]
    out = np.zeros((n, n), dtype=bool)
    for r in range(n):
        for c in range(n):
            near = radius is None or max(abs(r - agent_cell[0]), abs(c - agent_cell[1])) <= radius
            if near and world[r, c] != WALL:
                out[r, c] = all(world[cell] != WALL for cell in sight_cells(agent_cell, (r, c)))
    return out


def _bfs(world: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    n = world.shape[0]
    dist = np.full((n, n), -1, dtype=np.int64)
    dist[start] = 0
    q = deque([start])
    while q:
        y, x = q.popleft()
        for v in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
            if 0 <= v[0] < n and 0 <= v[1] < n and world[v] != WALL and dist[v] < 0:
                dist[v] = dist[y, x] + 1
                q.append(v)
    return dist


def shortest_path_cells(world: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> np.ndarray:
    """[n, n] bool: cells on some shortest path from `start` to `goal` (both included)."""
    ds, dg = _bfs(world, start), _bfs(world, goal)
    d = ds[goal]
    return (ds >= 0) & (dg >= 0) & (ds + dg == d)


def answer(kind: str, world: np.ndarray, agent: int, false_belief: bool, view_radius: int | None = None) -> np.ndarray:
    """[n, n] bool answer mask for one question."""
    where = lambda token: tuple(int(v) for v in np.argwhere(world == token)[0])  # noqa: E731
    if kind == "visibility":
        return visible(world, where(AGENT0 + agent), view_radius)
    if kind == "path":
        return shortest_path_cells(world, where(AGENT0 + agent), where(GOAL))
    cell = where(OBJ_BEFORE if (kind == "belief" and false_belief) else OBJ_AFTER)
    out = np.zeros(world.shape, dtype=bool)
    out[cell] = True
    return out


def is_test_world(world: np.ndarray) -> bool:
    """The fixed split of a map: test iff the first byte of its SHA-256 is below `TEST_BUCKET`."""
    return hashlib.sha256(np.ascontiguousarray(world, dtype=np.uint8).tobytes()).digest()[0] < TEST_BUCKET


# ---------------------------------------------------------------------------- dataset
def check_spec(kind: str, size: int, num_agents: int, wall_density: float, view_radius: int | None = None,
               max_goal_dist: int | None = None) -> None:
    if kind not in KINDS:
        raise DataError(f"tom kind {kind!r} is not one of {', '.join(KINDS)}")
    if not 6 <= size <= 16:
        raise DataError(f"tom size {size} is outside 6..16")
    if not 2 <= num_agents <= max_agents(size):
        raise DataError(f"tom num_agents {num_agents}: a {size}x{size} world fits 2..{max_agents(size)} agents (the event log lives in the header row)")
    if not 0.0 <= wall_density <= 0.5:
        raise DataError(f"tom wall_density {wall_density} is outside 0..0.5")
    if view_radius is not None and view_radius < 1:
        raise DataError(f"tom view_radius {view_radius} must be >= 1 (or unset: unlimited)")
    if max_goal_dist is not None and max_goal_dist < 1:
        raise DataError(f"tom max_goal_dist {max_goal_dist} must be >= 1 (or unset: anywhere)")


def generate_tom(kind: str, num_train: int, num_test: int, *, size: int = 8, num_agents: int = 2, wall_density: float = 0.2,
                 view_radius: int | None = None, max_goal_dist: int | None = None, seed: int = 0,
                 progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Examples per split: `inputs`/`labels` [N, (size+1)*size], `agent` [N], `false_belief` [N], `worlds` [N, size, size]."""
    check_spec(kind, size, num_agents, wall_density, view_radius, max_goal_dist)
    want = {"train": num_train, "test": num_test}
    got: dict[str, list] = {"train": [], "test": []}
    seen: set[bytes] = set()
    bar = Progress(f"tom {kind} {size}x{size}", num_train + num_test, progress)
    i = 0
    limit = 64 * (num_train + num_test) + 1000
    while any(len(got[s]) < want[s] for s in want):
        if i > limit:
            raise DataError(f"only {len(got['train'])} train / {len(got['test'])} test distinct {size}x{size} worlds in {i} draws; ask for fewer")
        qrng = np.random.default_rng([seed, i, 1])
        agent = int(qrng.integers(num_agents))
        world = make_world(size, num_agents, wall_density, np.random.default_rng([seed, i]), focus=agent, max_goal_dist=max_goal_dist)
        i += 1
        split = "test" if is_test_world(world) else "train"
        key = world.tobytes()
        if len(got[split]) >= want[split] or key in seen:
            continue
        seen.add(key)
        false_belief = bool(qrng.random() < 0.5)
        log = make_log(num_agents, agent, false_belief, qrng)
        header = np.full(size, PAD, dtype=np.uint8)
        header[: 2 + len(log)] = [QUESTION0 + KINDS.index(kind), PERSPECTIVE0 + agent, *log]
        label = np.where(answer(kind, world, agent, false_belief, view_radius), YES, NO).astype(np.uint8)
        x = np.concatenate([header, world.reshape(-1)])
        y = np.concatenate([np.zeros(size, np.uint8), label.reshape(-1)])  # header unsupervised (0 = ignore on disk)
        got[split].append((x, y, agent, int(false_belief), world))
        bar.update(len(got["train"]) + len(got["test"]))
    bar.close()
    out = {}
    L = seq_len(size)
    for split, rows in got.items():
        out[split] = {
            "inputs": np.stack([r[0] for r in rows]) if rows else np.zeros((0, L), np.uint8),
            "labels": np.stack([r[1] for r in rows]) if rows else np.zeros((0, L), np.uint8),
            "agent": np.asarray([r[2] for r in rows], np.int32),
            "false_belief": np.asarray([r[3] for r in rows], np.int32),
            "worlds": np.stack([r[4] for r in rows]) if rows else np.zeros((0, size, size), np.uint8),
        }
    return out


def build_tom(
    out: str | os.PathLike[str],
    *,
    kind: str = "visibility",
    size: int = 8,
    num_agents: int = 2,
    wall_density: float = 0.2,
    view_radius: int | None = None,
    max_goal_dist: int | None = None,
    num_train: int = 1000,
    num_test: int = 200,
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Generate one question kind and write it in the HRM layout (one example per world and group).

    Args:
        out: Dataset root.
        kind: One of `KINDS`.
        size: Map side (the sequence is `(size + 1) * size`: a header row, then the map).
        num_agents: Agents per world (2..3; 3 needs size >= 9).
        wall_density: Probability that a cell is a wall before agents are placed.
        view_radius: Visibility reaches this many cells (Chebyshev distance); None: the whole map.
        max_goal_dist: The goal is at most this many moves from the asked agent; None: anywhere.
        num_train: Worlds in the train split.
        num_test: Worlds in the test split.
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json`.

    Returns:
        The dataset root.
    """
    if num_train < 0 or num_test < 0:
        raise DataError("tom counts must be >= 0")
    root = Path(out)
    data = generate_tom(kind, num_train, num_test, size=size, num_agents=num_agents, wall_density=wall_density, view_radius=view_radius,
                        max_goal_dist=max_goal_dist, seed=seed, progress=progress)
    for split, d in data.items():
        write_flat_split(root / split, d["inputs"], d["labels"], np.ones(len(d["inputs"]), np.int64), seq_len=seq_len(size),
                         vocab_size=VOCAB_SIZE, extras={"agent": d["agent"], "false_belief": d["false_belief"]})
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_build_info(root, "tom", spec or dict(kind=kind, size=size, num_agents=num_agents, wall_density=wall_density, view_radius=view_radius,
                                               max_goal_dist=max_goal_dist, num_train=num_train, num_test=num_test, seed=seed))
    return root
