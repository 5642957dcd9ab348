"""Min-cost-flow generator: every label checked feasible, optimal and the only optimum by networkx, not the generator's solver."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from hrmzoo.data import flow
from hrmzoo.data.errors import DataError
from hrmzoo.data.prepare import config_metadata, prepare_data
from hrmzoo.data.reader import load_split

LAYOUT = 9  # nodes (5, 7) train, (8, 9) test: the layout holds 9 nodes and 18 edges


def read_instance(x: np.ndarray, y: np.ndarray, layout: int = LAYOUT):
    """The test's own reading of the layout: balances, then [from, to, capacity, cost, ASK] slots; the label's flows."""
    names = [int(t) - 12 for t in x[0:2 * layout:2] if t != 0]
    balance = [int(t) - 28 - 9 for t in x[1:2 * layout:2] if t != 0]
    assert names == list(range(len(balance))) and (y[:2 * layout] == 0).all()
    edges, flows = [], []
    for slot, lab in zip(x[2 * layout:].reshape(-1, 5), y[2 * layout:].reshape(-1, 5)):
        if slot[0] == 0:
            assert (slot == 0).all() and (lab == 0).all()
            continue
        assert slot[4] == 1 and (lab[:4] == 0).all()
        edges.append((int(slot[0]) - 12, int(slot[1]) - 12, int(slot[2]) - 2, int(slot[3]) - 2))
        flows.append(int(lab[4]) - 2)
    return balance, edges, flows


def graph(balance, edges, cost_of=lambda i, w: w) -> nx.DiGraph:
    g = nx.DiGraph()
    for i, b in enumerate(balance):
        g.add_node(i, demand=-b)  # networkx: demand > 0 receives
    for i, (u, v, c, w) in enumerate(edges):
        assert not g.has_edge(u, v) and not g.has_edge(v, u)
        g.add_edge(u, v, capacity=c, weight=cost_of(i, w))
    return g


def check(balance, edges, flows, unique: bool) -> int:
    n = len(balance)
    assert sum(balance) == 0 and any(balance)
    # feasible: capacities and conservation
    net = [0] * n
    for (u, v, c, _w), f in zip(edges, flows):
        assert 0 <= f <= c
        net[u] += f
        net[v] -= f
    assert net == balance
    cost = sum(f * e[3] for f, e in zip(flows, edges))
    assert cost == nx.min_cost_flow_cost(graph(balance, edges))  # optimal
    if unique:
        # the only optimum: with costs scaled by S and edge i's cost nudged by +-1, any other optimum f' with
        # f'_i != f_i would cost less than the label on one of the two signs; non-optimal flows cost >= S more
        scale = sum(e[2] for e in edges) + 1
        for i in range(len(edges)):
            for sign in (1, -1):
                g = graph(balance, edges, lambda j, w: w * scale + (sign if j == i else 0))
                assert nx.min_cost_flow_cost(g) == cost * scale + sign * flows[i]
    return cost


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow") / "ds"
    return flow.build_flow(root, nodes=(5, 7), test_nodes=(8, 9), num_train=1000, num_test=1000, seed=1)


@pytest.mark.parametrize("split,lo,hi", [("train", 5, 7), ("test", 8, 9)])
def test_every_label_is_the_networkx_optimum(built, split, lo, hi):
    d = load_split(built, split, check_values=True)
    xs, ys = np.asarray(d.sets[0].inputs), np.asarray(d.sets[0].labels)
    sizes, costs = np.load(built / split / "extra__nodes.npy"), np.load(built / split / "extra__cost.npy")
    assert len(xs) == 1000 and d.seq_len == 2 * LAYOUT + 5 * 18 and d.vocab_size == 47
    for k, (x, y, n, c) in enumerate(zip(xs, ys, sizes, costs)):
        balance, edges, flows = read_instance(x, y)
        assert len(balance) == n and lo <= n <= hi and len(edges) == 2 * n
        assert check(balance, edges, flows, unique=k < 200) == c
    assert set(sizes) == set(range(lo, hi + 1))


@pytest.mark.slow
@pytest.mark.parametrize("split", ["train", "test"])
def test_every_label_is_the_only_optimum(built, split):
    d = load_split(built, split)
    for x, y in zip(np.asarray(d.sets[0].inputs), np.asarray(d.sets[0].labels)):
        check(*read_instance(x, y), unique=True)


def test_no_instance_in_both_splits(tmp_path):
    root = flow.build_flow(tmp_path / "a", nodes=(5, 6), num_train=600, num_test=600, seed=5)  # same sizes: collisions possible

    def keys(split):
        d = load_split(root, split)
        out = set()
        for x, y in zip(np.asarray(d.sets[0].inputs), np.asarray(d.sets[0].labels)):
            balance, edges, _ = read_instance(x, y, layout=6)
            out.add((tuple(balance), frozenset(edges)))
        return out

    train, test = keys("train"), keys("test")
    assert len(train) == 600 and len(test) == 600 and not train & test


def test_same_seed_same_bytes(tmp_path):
    a = flow.build_flow(tmp_path / "a", num_train=40, num_test=20, seed=7)
    b = flow.build_flow(tmp_path / "b", num_train=40, num_test=20, seed=7)
    c = flow.build_flow(tmp_path / "c", num_train=40, num_test=20, seed=8)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "train/all__inputs.npy").read_bytes() != (c / "train/all__inputs.npy").read_bytes()


@pytest.mark.parametrize("kwargs,match", [
    (dict(nodes=(3, 5)), "4 <= min"),
    (dict(test_nodes=(8, 20)), "<= 16"),
    (dict(max_capacity=12), "max_capacity 12"),
    (dict(max_supply=0), "max_supply 0"),
])
def test_impossible_parameters_are_one_line(tmp_path, kwargs, match):
    with pytest.raises(DataError, match=match) as e:
        flow.build_flow(tmp_path / "x", num_train=5, num_test=5, **kwargs)
    assert "\n" not in str(e.value)
    with pytest.raises(DataError) as e:
        prepare_data(dict(type="flow", num_train=5, num_test=5, **kwargs), tmp_path / "cache")
    assert "\n" not in str(e.value)


def test_cli_builds_and_rejects_in_one_line(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "hrmzoo", "data", "flow", *a], capture_output=True, text=True)
    ok = run("--num-train", "20", "--num-test", "10", "--test-nodes", "8", "8", "--out", str(tmp_path / "d"), "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert set(np.load(tmp_path / "d/test/extra__nodes.npy")) == {8}
    bad = run("--nodes", "2", "5", "--out", str(tmp_path / "e"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nodes" in bad.stderr and not (tmp_path / "e").exists()


def test_recipe_spec_metadata_matches_the_build(tmp_path):
    cfg = dict(type="flow", nodes=[4, 5], test_nodes=[6, 6], num_train=10, num_test=10)
    d = load_split(prepare_data(cfg, tmp_path), "train")
    meta = config_metadata(cfg)
    assert (meta["vocab_size"], meta["seq_len"]) == (d.vocab_size, d.seq_len) == (47, 12 + 5 * 12)


def test_render_shows_the_plan(built):
    d = load_split(built, "train")
    text = flow.render(np.asarray(d.sets[0].inputs[0]), np.asarray(d.sets[0].labels[0]), LAYOUT)
    assert text.startswith("supply: ") and "total cost:" in text


def test_fixed_layout_shares_the_train_split_across_test_ranges(tmp_path):
    """The beyond-range protocol trains once on the same instances: only the test split may change with test_nodes."""
    a = flow.build_flow(tmp_path / "a", nodes=(5, 6), test_nodes=(5, 6), max_nodes=8, num_train=50, num_test=20, seed=3)
    b = flow.build_flow(tmp_path / "b", nodes=(5, 6), test_nodes=(7, 8), max_nodes=8, num_train=50, num_test=20, seed=3)
    assert (a / "train/all__inputs.npy").read_bytes() == (b / "train/all__inputs.npy").read_bytes()
    assert (a / "train/all__labels.npy").read_bytes() == (b / "train/all__labels.npy").read_bytes()
    assert set(np.load(b / "test/extra__nodes.npy")) == {7, 8}
    with pytest.raises(DataError, match="max_nodes 7") as e:
        flow.build_flow(tmp_path / "c", nodes=(5, 6), test_nodes=(7, 8), max_nodes=7, num_train=5, num_test=5)
    assert "\n" not in str(e.value)
