"""Seeded min-cost flow on small supply networks (planning under constraints).

An instance is a directed network of `n` nodes and `2n` edges (fewer when the
graph cannot hold them: no self-loops, no two edges between one pair of
nodes in either direction), each edge with an integer capacity
1..`max_capacity` and cost 1..`max_cost`; one or two sources supply and one
or two sinks demand goods (totals equal). The answer is the flow on every
edge of the cheapest way to meet every demand within the capacities.

Unique optimum: an optimal flow is the only one exactly when the residual
network, with costs reduced by node potentials, holds no cycle of zero
reduced cost (a cycle that would move goods at no extra cost). Instances
with such a cycle get new costs (or, after a few tries, a new network);
instances whose demand cannot be met are drawn again. The generator's own
solver is successive shortest paths (Bellman-Ford); the tests check every
label against networkx instead.

Layout (`seq_len = 2 * max_nodes + 5 * max_edges`, sized for the larger of
the train and test node ranges so both splits share one layout): positions
2i, 2i + 1 hold node i's name and balance (`NODE0 + i`, `BAL0 + 9 + b`:
supply b > 0, demand b < 0, 0 transshipment; PAD past the network, so a
model finds a node's balance by the name the edges use), then `max_edges` slots
`[from, to, capacity, cost, ASK]` in random order (PAD past the network).
The label of the fifth token of an edge slot is the flow (`NUM0 + f`);
everything else is unsupervised. `nodes` and `test_nodes` set the network
sizes of the two splits (larger test networks go beyond the training range);
`max_nodes` fixes the layout, so builds with different test ranges share
one layout (and, drawn from the same stream, the same train split).

Splits: separate seeded streams; a test instance equal in content (balances
and the set of edges, order ignored) to a train instance is drawn again.
Per example: `extra__nodes.npy` (n) and `extra__cost.npy` (the optimum).
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Sequence

import numpy as np

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, write_build_info, write_flat_split, write_identifiers
from hrmzoo.data.progress import Progress

PAD, ASK = 0, 1
NUM0 = 2  # values 0..9
MAX_VALUE = 9
MAX_NODES = 16
NODE0 = NUM0 + MAX_VALUE + 1
BAL0 = NODE0 + MAX_NODES  # balances -9..9
VOCAB_SIZE = BAL0 + 2 * MAX_VALUE + 1
SLOT = 5
INF = float("inf")

Edge = tuple[int, int, int, int]  # (from, to, capacity, cost)


def num_edges(n: int) -> int:
    return min(2 * n, n * (n - 1) // 2)


def layout_nodes(nodes: Sequence[int], test_nodes: Sequence[int] | None, max_nodes: int | None = None) -> int:
    """Nodes the layout holds: `max_nodes`, or the larger of the two ranges' maxima."""
    return max_nodes if max_nodes is not None else max(nodes[1], (test_nodes or nodes)[1])


def seq_len(max_nodes: int) -> int:
    return 2 * max_nodes + SLOT * num_edges(max_nodes)


def check_params(nodes: Sequence[int], test_nodes: Sequence[int], max_capacity: int, max_cost: int, max_supply: int,
                 max_nodes: int | None = None) -> None:
    for name, (lo, hi) in (("nodes", nodes), ("test_nodes", test_nodes)):
        if not (4 <= lo <= hi <= MAX_NODES):
            raise DataError(f"flow: {name} ({lo}, {hi}) must satisfy 4 <= min <= max <= {MAX_NODES}")
    if max_nodes is not None and not (max(nodes[1], test_nodes[1]) <= max_nodes <= MAX_NODES):
        raise DataError(f"flow: max_nodes {max_nodes} (the layout) must hold the largest network ({max(nodes[1], test_nodes[1])} nodes) "
                        f"and be <= {MAX_NODES}; raise max_nodes or leave it unset")
    for name, v in (("max_capacity", max_capacity), ("max_cost", max_cost), ("max_supply", max_supply)):
        if not (1 <= v <= MAX_VALUE):
            raise DataError(f"flow: {name} {v} must be 1..{MAX_VALUE} (one number token each)")


def min_cost_flow(n: int, edges: Sequence[Edge], balance: Sequence[int]) -> tuple[list[int], int] | None:
    """Successive shortest paths: (flow per edge, cost) meeting every balance, or None when infeasible."""
    s, t = n, n + 1
    head: list[int] = []
    cap: list[int] = []
    cost: list[int] = []
    tail: list[int] = []

    def arc(u: int, v: int, c: int, w: int) -> None:
        for a, b, cc, ww in ((u, v, c, w), (v, u, 0, -w)):
            tail.append(a)
            head.append(b)
            cap.append(cc)
            cost.append(ww)

    for u, v, c, w in edges:
        arc(u, v, c, w)
    need = 0
    for i, b in enumerate(balance):
        if b > 0:
            arc(s, i, b, 0)
            need += b
        elif b < 0:
            arc(i, t, -b, 0)
    sent = 0
    while sent < need:
        dist = [INF] * (n + 2)
        via = [-1] * (n + 2)
        dist[s] = 0
        for _ in range(n + 1):  # Bellman-Ford: residual arcs carry negative costs
            changed = False
            for a in range(len(head)):
                if cap[a] > 0 and dist[tail[a]] + cost[a] < dist[head[a]]:
                    dist[head[a]] = dist[tail[a]] + cost[a]
                    via[head[a]] = a
                    changed = True
            if not changed:
                break
        if dist[t] == INF:
            return None
        push, v = need - sent, t
        while v != s:
            push = min(push, cap[via[v]])
            v = tail[via[v]]
        v = t
        while v != s:
            cap[via[v]] -= push
            cap[via[v] ^ 1] += push
            v = tail[via[v]]
        sent += push
    flow = [cap[2 * e + 1] for e in range(len(edges))]
    return flow, sum(f * e[3] for f, e in zip(flow, edges))


def is_unique(n: int, edges: Sequence[Edge], flow: Sequence[int]) -> bool:
    """Whether an optimal `flow` is the only optimum: no residual cycle of zero reduced cost (of 3+ arcs)."""
    arcs = []  # (from, to, cost, edge)
    for e, ((u, v, c, w), f) in enumerate(zip(edges, flow)):
        if f < c:
            arcs.append((u, v, w, e))
        if f > 0:
            arcs.append((v, u, -w, e))
    pot = [0] * n  # shortest distances from a virtual root: no negative cycles at an optimum
    for _ in range(n):
        changed = False
        for u, v, w, _e in arcs:
            if pot[u] + w < pot[v]:
                pot[v] = pot[u] + w
                changed = True
        if not changed:
            break
    tight = [(u, v, e) for u, v, w, e in arcs if pot[u] + w == pot[v]]
    for u, v, e in tight:
        # a simple path v -> u over tight arcs of other edges closes a cycle through (u, v); with no two
        # edges on one pair of nodes it has 3+ arcs, so it changes the flow: a second optimum
        seen, q = {v}, deque([v])
        while q:
            x = q.popleft()
            for a, b, e2 in tight:
                if a == x and e2 != e and b not in seen:
                    if b == u:
                        return False
                    seen.add(b)
                    q.append(b)
    return True


def make_network(rng: np.random.Generator, n: int, max_capacity: int) -> list[tuple[int, int, int]]:
    """A connected network: (from, to, capacity) per edge, no two edges on one pair of nodes."""
    order = [int(v) for v in rng.permutation(n)]
    pairs: set[frozenset] = set()
    edges = []
    for i in range(1, n):  # a random spanning tree keeps every node reachable in the undirected sense
        j = order[int(rng.integers(i))]
        u, v = (order[i], j) if rng.random() < 0.5 else (j, order[i])
        pairs.add(frozenset((u, v)))
        edges.append((u, v))
    while len(edges) < num_edges(n):
        u, v = (int(a) for a in rng.choice(n, size=2, replace=False))
        if frozenset((u, v)) not in pairs:
            pairs.add(frozenset((u, v)))
            edges.append((u, v))
    caps = rng.integers(1, max_capacity + 1, size=len(edges))
    return [(u, v, int(c)) for (u, v), c in zip(edges, caps)]


def make_instance(rng: np.random.Generator, n: int, max_capacity: int, max_cost: int, max_supply: int, tries: int = 50):
    """(edges, balance, flow, cost) of a feasible instance with a unique optimum, or None."""
    net = make_network(rng, n, max_capacity)
    ends = [int(v) for v in rng.permutation(n)]
    n_src, n_snk = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    sources, sinks = ends[:n_src], ends[n_src:n_src + n_snk]
    total = int(rng.integers(max(n_src, n_snk), max_supply * min(n_src, n_snk) + 1))
    balance = [0] * n
    for group, sign in ((sources, 1), (sinks, -1)):
        cuts = sorted(int(c) for c in rng.choice(np.arange(1, total), size=len(group) - 1, replace=False)) if len(group) > 1 else []
        for node, amount in zip(group, np.diff([0, *cuts, total])):
            balance[node] = sign * int(amount)
    if any(abs(b) > max_supply for b in balance):
        return None
    for _ in range(tries):
        costs = rng.integers(1, max_cost + 1, size=len(net))
        edges = [(u, v, c, int(w)) for (u, v, c), w in zip(net, costs)]
        solved = min_cost_flow(n, edges, balance)
        if solved is None:
            return None  # the capacities cannot carry the demand, whatever the costs
        if is_unique(n, edges, solved[0]):
            return edges, balance, *solved
    return None


def canonical_key(balance: Sequence[int], edges: Sequence[Edge]) -> bytes:
    return repr((tuple(balance), sorted(edges))).encode()


def encode(max_nodes: int, edges: Sequence[Edge], balance: Sequence[int], flow: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros(seq_len(max_nodes), dtype=np.uint8)
    y = np.zeros_like(x)
    for i, b in enumerate(balance):
        x[2 * i:2 * i + 2] = (NODE0 + i, BAL0 + MAX_VALUE + b)
    for k, ((u, v, c, w), f) in enumerate(zip(edges, flow)):
        p = 2 * max_nodes + SLOT * k
        x[p:p + SLOT] = (NODE0 + u, NODE0 + v, NUM0 + c, NUM0 + w, ASK)
        y[p + SLOT - 1] = NUM0 + f
    return x, y


def decode(x: np.ndarray, max_nodes: int) -> tuple[list[Edge], list[int]]:
    """(edges, balance) of an input row."""
    x = np.asarray(x).reshape(-1)
    balance = [int(t) - BAL0 - MAX_VALUE for t in x[1:2 * max_nodes:2] if t != PAD]
    edges = []
    for p in range(2 * max_nodes, len(x), SLOT):
        if x[p] != PAD:
            u, v, c, w = (int(t) for t in x[p:p + 4])
            edges.append((u - NODE0, v - NODE0, c - NUM0, w - NUM0))
    return edges, balance


def flows(y: np.ndarray, max_nodes: int, count: int) -> list[int]:
    """The flow per edge slot of a label row (first `count` slots)."""
    y = np.asarray(y).reshape(-1)
    return [int(y[2 * max_nodes + SLOT * k + SLOT - 1]) - NUM0 for k in range(count)]


def render(x: np.ndarray, y: np.ndarray | None, max_nodes: int) -> str:
    """An instance as a person reads it: supplies, demands, the edge table and (given labels) the flows."""
    edges, balance = decode(x, max_nodes)
    name = lambda i: "ABCDEFGHIJKLMNOP"[i]
    lines = ["supply: " + ", ".join(f"{name(i)} {b}" for i, b in enumerate(balance) if b > 0)
             + "   demand: " + ", ".join(f"{name(i)} {-b}" for i, b in enumerate(balance) if b < 0)]
    lines.append("edge    capacity  cost" + ("  flow" if y is not None else ""))
    fl = flows(y, max_nodes, len(edges)) if y is not None else [None] * len(edges)
    for (u, v, c, w), f in zip(edges, fl):
        lines.append(f"{name(u)} -> {name(v)}  {c:>8d}  {w:>4d}" + (f"  {f:>4d}" if f is not None else ""))
    if y is not None:
        lines.append(f"total cost: {sum(f * e[3] for f, e in zip(fl, edges))}")
    return "\n".join(lines)


def generate_split(rng: np.random.Generator, count: int, *, nodes: Sequence[int], max_capacity: int, max_cost: int, max_supply: int,
                   exclude: set[bytes], label: str, progress: bool = False) -> list[tuple]:
    out = []
    bar = Progress(label, count, progress)
    misses = 0
    while len(out) < count:
        n = int(rng.integers(nodes[0], nodes[1] + 1))
        inst = make_instance(rng, n, max_capacity, max_cost, max_supply)
        key = canonical_key(inst[1], inst[0]) if inst is not None else None
        if inst is None or key in exclude:
            misses += 1
            if misses > 1000 + 20 * count:
                raise DataError(f"flow: could only find {len(out)} instances (asked for {count}); raise max_capacity or lower max_supply")
            continue
        exclude.add(key)
        edges, balance, flow, cost = inst
        order = [int(i) for i in rng.permutation(len(edges))]
        out.append(([edges[i] for i in order], balance, [flow[i] for i in order], cost, n))
        bar.update(len(out))
    bar.close()
    return out


def build_flow(
    out: str | os.PathLike[str],
    *,
    nodes: Sequence[int] = (5, 7),
    test_nodes: Sequence[int] | None = None,
    max_nodes: int | None = None,
    max_capacity: int = 4,
    max_cost: int = 9,
    max_supply: int = 6,
    num_train: int = 1000,
    num_test: int = 1000,
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Generate a min-cost-flow dataset and write it in the HRM layout.

    Args:
        out: Dataset root.
        nodes: (min, max) nodes of train networks.
        test_nodes: (min, max) nodes of test networks; None: `nodes`.
        max_nodes: Nodes the layout holds (fix it to share one layout between builds with different
            test ranges); None: the larger range's maximum.
        max_capacity: Edge capacities are 1..max_capacity.
        max_cost: Edge costs are 1..max_cost.
        max_supply: Largest supply or demand of one node.
        num_train: Train instances.
        num_test: Test instances.
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json`.

    Returns:
        The dataset root.
    """
    test_nodes = tuple(test_nodes) if test_nodes is not None else tuple(nodes)
    check_params(nodes, test_nodes, max_capacity, max_cost, max_supply, max_nodes)
    if num_train < 0 or num_test < 0:
        raise DataError("flow: num_train and num_test must be >= 0")
    size = layout_nodes(nodes, test_nodes, max_nodes)
    root = Path(out)
    seen: set[bytes] = set()
    common = dict(max_capacity=max_capacity, max_cost=max_cost, max_supply=max_supply, exclude=seen, progress=progress)
    splits = {
        "train": generate_split(np.random.default_rng([seed, 0]), num_train, nodes=nodes, label="flow train", **common),
        "test": generate_split(np.random.default_rng([seed, 1]), num_test, nodes=test_nodes, label="flow test", **common),
    }
    for split, rows in splits.items():
        xy = [encode(size, e, b, f) for e, b, f, _, _ in rows]
        write_flat_split(root / split, [x for x, _ in xy], [y for _, y in xy], np.ones(len(rows), np.int64), seq_len=seq_len(size),
                         vocab_size=VOCAB_SIZE, extras={"nodes": np.asarray([r[4] for r in rows], np.int32),
                                                        "cost": np.asarray([r[3] for r in rows], np.int32)})
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_build_info(root, "flow", spec or dict(nodes=list(nodes), test_nodes=list(test_nodes), max_nodes=max_nodes, max_capacity=max_capacity, max_cost=max_cost,
                                                max_supply=max_supply, num_train=num_train, num_test=num_test, seed=seed))
    return root
