"""Theory-of-mind grids: every label re-derived from the input alone by a plainly written checker.

The checker reads only the input tokens (header: question, perspective, event
log; map below) and recomputes the answer with different algorithms from the
generator's: line of sight by clipping the segment against each wall square
(the generator walks grid-line crossings), belief by replaying the log,
distances by repeated relaxation (the generator runs BFS).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.data.sight_lines import segment_enters_square
from hrmzoo.data import tom
from hrmzoo.data.cli import main as data_main
from hrmzoo.data.errors import DataError
from hrmzoo.data.prepare import config_metadata, parse_config, prepare_data


# ---------------------------------------------------------------------------- the independent checker

def distances(world, start):
    """All-pairs-free shortest distances by relaxing every cell until nothing changes."""
    n = world.shape[0]
    inf = 10 ** 9
    dist = {(r, c): inf for r in range(n) for c in range(n) if world[r, c] != tom.WALL}
    dist[start] = 0
    changed = True
    while changed:
        changed = False
        for (r, c), d in list(dist.items()):
            for v in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if v in dist and dist[v] + 1 < d:
                    d = dist[v] + 1
                    dist[(r, c)] = d
                    changed = True
    return dist


def expected_answer(inp: np.ndarray, size: int, view_radius: int | None = None, max_goal_dist: int | None = None) -> tuple[np.ndarray, int, bool]:
    """(answer mask [n, n], agent index, agent k was away at the move) from one input sequence and the spec's reach limits."""
    rows = inp.reshape(size + 1, size)
    header, world = [int(v) for v in rows[0]], rows[1:]
    kind = tom.KINDS[header[0] - tom.QUESTION0]
    k = header[1] - tom.PERSPECTIVE0
    cell = lambda token: tuple(int(v) for v in np.argwhere(world == token)[0])  # noqa: E731
    present = {i for i in range(tom.MAX_AGENTS) if (world == tom.AGENT0 + i).any()}
    saw_move = None
    for ev in header[2:]:
        if tom.LEAVE0 <= ev < tom.LEAVE0 + tom.MAX_AGENTS:
            assert ev - tom.LEAVE0 in present, "an agent leaves only when present"
            present.discard(ev - tom.LEAVE0)
        elif tom.ENTER0 <= ev < tom.ENTER0 + tom.MAX_AGENTS:
            assert ev - tom.ENTER0 not in present, "an agent enters only when away"
            present.add(ev - tom.ENTER0)
        elif ev == tom.MOVE:
            assert saw_move is None, "exactly one move"
            saw_move = set(present)
        else:
            assert ev == tom.PAD
    assert saw_move is not None
    away = k not in saw_move
    mask = np.zeros((size, size), dtype=bool)
    if kind == "visibility":
        me = cell(tom.AGENT0 + k)
        walls = [tuple(w) for w in np.argwhere(world == tom.WALL)]
        for r in range(size):
            for c in range(size):
                in_reach = view_radius is None or (abs(r - me[0]) <= view_radius and abs(c - me[1]) <= view_radius)
                if in_reach and world[r, c] != tom.WALL:
                    mask[r, c] = not any(segment_enters_square(me, (r, c), wr, wc) for wr, wc in walls)
    elif kind == "path":
        ds, dg = distances(world, cell(tom.AGENT0 + k)), distances(world, cell(tom.GOAL))
        total = ds[cell(tom.GOAL)]
        assert total < 10 ** 9, "the goal is reachable"
        assert max_goal_dist is None or total <= max_goal_dist
        for (r, c), d in ds.items():
            mask[r, c] = d + dg[(r, c)] == total
    else:
        believed = tom.OBJ_BEFORE if (kind == "belief" and away) else tom.OBJ_AFTER
        mask[cell(believed)] = True
    return mask, k, away


def _arrays(split_dir: Path):
    x = np.load(split_dir / "all__inputs.npy")
    y = np.load(split_dir / "all__labels.npy")
    return x, y, np.load(split_dir / "extra__agent.npy"), np.load(split_dir / "extra__false_belief.npy")


# ---------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def tom_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("tom")
    return {kind: tom.build_tom(base / kind, kind=kind, size=8, num_agents=2, num_train=40, num_test=12, seed=7) for kind in tom.KINDS}


@pytest.fixture(scope="module")
def tom_near_roots(tmp_path_factory):
    """The recipes' variant: sight reaches 2 cells, the goal is at most 4 moves away."""
    base = tmp_path_factory.mktemp("tom_near")
    return {kind: tom.build_tom(base / kind, kind=kind, view_radius=2, max_goal_dist=4, num_train=40, num_test=12, seed=2) for kind in tom.KINDS}


@pytest.mark.parametrize("kind", tom.KINDS)
@pytest.mark.parametrize("near", [False, True])
def test_checker_agrees_with_every_label(tom_roots, tom_near_roots, kind, near):
    limits = {"view_radius": 2, "max_goal_dist": 4} if near else {}
    for split in ("train", "test"):
        x, y, agent, fb = _arrays((tom_near_roots if near else tom_roots)[kind] / split)
        assert len(x) == (40 if split == "train" else 12)
        for i in range(len(x)):
            mask, k, away = expected_answer(x[i], 8, **limits)
            assert (y[i, :8] == 0).all(), "the header row is unsupervised"
            assert (y[i, 8:] == np.where(mask.reshape(-1), tom.YES, tom.NO)).all(), f"{kind} {split} example {i}:\n{tom.to_text(x[i], 8)}"
            assert k == agent[i] and away == bool(fb[i])


def test_three_agents_on_a_larger_map(tmp_path):
    for kind in tom.KINDS:
        data = tom.generate_tom(kind, 15, 5, size=10, num_agents=3, wall_density=0.3, seed=1)
        for split in data.values():
            for x, y in zip(split["inputs"], split["labels"]):
                mask, _, _ = expected_answer(x, 10)
                assert (y[10:] == np.where(mask.reshape(-1), tom.YES, tom.NO)).all()


def test_framing_decides_the_answer(tom_roots):
    """The kinds ask about the same worlds with the same agent and log: inputs differ only in the question token."""
    xs = {kind: _arrays(tom_roots[kind] / "train")[0] for kind in tom.KINDS}
    for kind in tom.KINDS:
        same = xs[kind].copy()
        same[:, 0] = xs["belief"][:, 0]
        assert (same == xs["belief"]).all()
    yb, yr = (_arrays(tom_roots[k] / "train")[1] for k in ("belief", "reality"))
    fb = _arrays(tom_roots["belief"] / "train")[3].astype(bool)
    assert (yb[~fb] == yr[~fb]).all() and (yb[fb] != yr[fb]).any(axis=1).all()
    assert 0.25 < fb.mean() < 0.75, "true and false belief both well represented"


def test_train_and_test_share_no_world(tom_roots):
    maps = {}
    for split in ("train", "test"):
        x = np.concatenate([_arrays(tom_roots[k] / split)[0] for k in tom.KINDS])
        maps[split] = {row[8:].tobytes() for row in x}
    assert maps["train"] and maps["test"] and not (maps["train"] & maps["test"])
    # the split is a function of the map itself: another seed and size of build never moves a map across
    other = tom.generate_tom("reality", 60, 10, seed=8)
    for split, d in other.items():
        assert all(tom.is_test_world(w) == (split == "test") for w in d["worlds"])


def test_same_seed_same_bytes(tmp_path):
    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}

    a = tom.build_tom(tmp_path / "a", kind="visibility", num_train=20, num_test=5, seed=3)
    b = tom.build_tom(tmp_path / "b", kind="visibility", num_train=20, num_test=5, seed=3)
    c = tom.build_tom(tmp_path / "c", kind="visibility", num_train=20, num_test=5, seed=4)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_sight_cells_match_the_clipping_checker():
    n = 9
    for a in ((0, 0), (4, 4), (2, 7)):
        for r in range(n):
            for c in range(n):
                crossed = set(tom.sight_cells(a, (r, c)))
                clipped = {(i, j) for i in range(n) for j in range(n) if segment_enters_square(a, (r, c), i, j)}
                assert crossed == clipped, (a, (r, c))


def test_recipe_spec_and_metadata(tmp_path):
    cfg = parse_config({"type": "tom", "kind": "path", "size": 9, "num_agents": 3, "num_train": 6, "num_test": 2})
    assert config_metadata(cfg) == {"vocab_size": tom.VOCAB_SIZE, "seq_len": 90, "num_puzzle_identifiers": 1, "num_tasks": 1}
    root = prepare_data(cfg, tmp_path / "cache")
    assert np.load(root / "train" / "all__inputs.npy").shape == (6, 90)


@pytest.mark.parametrize("spec, words", [
    ({"kind": "gossip"}, "kind"),
    ({"size": 5}, "size"),
    ({"num_agents": 3, "size": 8}, "num_agents 3 needs a larger map"),
    ({"wall_density": 0.9}, "wall_density"),
    ({"seed": -1}, "seed"),
    ({"view_radius": 0}, "view_radius"),
])
def test_bad_spec_is_one_line(spec, words):
    with pytest.raises(DataError) as e:
        parse_config({"type": "tom", **spec})
    assert "\n" not in str(e.value) and words in str(e.value)


def test_cli_builds_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "belief"
    assert data_main(["tom", "--version", "1", "--kind", "belief", "--num-train", "8", "--num-test", "2", "--out", str(out), "--quiet"]) == 0
    assert "train groups(tasks)=       8" in capsys.readouterr().out
    for argv in (["tom", "--version", "1", "--num-agents", "3", "--out", str(tmp_path / "x")], ["tom", "--version", "1", "--kind", "nope", "--out", str(tmp_path / "y")]):
        assert data_main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
