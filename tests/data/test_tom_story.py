"""Theory of mind, version 2: every label re-derived independently, pairs, splits, and the shortcut suite.

The solver (`tom_story_solver.py`, beside this file) reads only the input tokens
and follows the documented rules with its own algorithms. The shortcut suite
runs on a build and bounds every rule that answers a belief question without
the perception the labels follow.

Chance, and the bounds. Every story gives one true-belief and one false-belief
example with different answers (the cell now vs a stale cell) and inputs that
differ only in where one or two walls stand. So:

- a rule or model that reads nothing the two members differ in (the header
  alone, the map with its walls erased, a bag of events) gives both members
  the same answer: at most one of them is right. Chance is 50% per example and
  0% per pair, and the bound is exact: <= 50% and pair score 0.
- a rule that reads the walls but not through the asked mind's eyes (another
  agent's belief; "a wall near the sight line") is not tied to the pair by
  construction; its bound is 50% plus three binomial standard deviations of
  the test belief examples (sd = sqrt(0.25 / n): 10.6 points at the default
  suite's n = 200, 3.5 points at the slow suite's n = 2,000), so a rule at
  chance fails it about once in 700 builds, and a cue worth more than the
  bound fails it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hrmzoo.data import tom_story as T
from hrmzoo.data.cli import main as data_main
from hrmzoo.data.errors import DataError
from hrmzoo.data.prepare import config_metadata, parse_config, prepare_data

import tom_story_solver as S  # noqa: E402  (tests/data is on sys.path under pytest's rootdir-relative imports)

N = 8


def _load(split_dir: Path) -> dict[str, np.ndarray]:
    d = {"inputs": np.load(split_dir / "all__inputs.npy"), "labels": np.load(split_dir / "all__labels.npy")}
    for name in T.EXTRAS:
        d[name] = np.load(split_dir / f"extra__{name}.npy")
    return d


def _answer_cell(label: np.ndarray, n: int) -> tuple[int, int]:
    grid = label[-n * n:].reshape(n, n)
    assert (grid == T.YES).sum() == 1 and ((grid == T.YES) | (grid == T.NO)).all()
    return tuple(int(v) for v in np.argwhere(grid == T.YES)[0])


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return T.build_tom_story(tmp_path_factory.mktemp("tom2") / "d", num_train=60, num_test=20, seed=5)


@pytest.fixture(scope="module")
def general(tmp_path_factory):
    """Generalisation build: longer logs and more agents in test, the `contact` mechanism only in test, sight radius 4."""
    return T.build_tom_story(tmp_path_factory.mktemp("tom2g") / "d", size=9, num_agents=(2, 3), num_events=(3, 6), test_num_agents=(4, 4),
                             test_num_events=(8, 10), held_out="contact", view_radius=4, num_train=40, num_test=16, seed=2)


@pytest.fixture(scope="module")
def cell_build(tmp_path_factory):
    """The `build` stories with each move's destination written as one cell token."""
    return T.build_tom_story(tmp_path_factory.mktemp("tom2c") / "d", num_train=60, num_test=20, seed=5, cell_tokens=True)


# ---------------------------------------------------------------------------- labels and records
@pytest.mark.parametrize("which", ["build", "general", "cells"])
def test_solver_agrees_with_every_label_and_record(build, general, cell_build, which):
    root = {"build": build, "general": general, "cells": cell_build}[which]
    n, radius = (9, 4) if which == "general" else (N, None)
    max_events = 10 if which == "general" else 8
    checked = 0
    for split in ("train", "test"):
        d = _load(root / split)
        for i in range(len(d["inputs"])):
            p = S.parse(d["inputs"][i], n, max_events)
            sol = S.solve(p, radius)
            where = f"{which} {split} example {i}:\n{T.to_text(d['inputs'][i], n, max_events)}"
            assert _answer_cell(d["labels"][i], n) == sol.answer, where
            assert (d["labels"][i][: -n * n] == 0).all(), "the header is unsupervised"
            kind = T.KINDS.index(p.kind)
            assert d["kind"][i] == kind and d["thing"][i] == p.j and d["num_events"][i] == len(p.events) and d["num_agents"][i] == len(p.agents)
            if p.kind == "belief":
                assert (d["agent"][i], d["other"][i], d["order"][i]) == (p.x, p.y, 1 if p.y < 0 else 2), where
                assert d["false_belief"][i] == int(sol.answer != sol.reality), where
                stale = list(S.candidates(p))
                assert d["answer_kind"][i] == (2 if sol.answer == stale[-1] else 0 if sol.answer == stale[0] else 1)
                assert list(d["presence"][i][: len(p.events)]) == sol.presence and list(d["witness"][i][: len(p.events)]) == sol.witness
            else:
                assert (d["agent"][i], d["order"][i], d["false_belief"][i], d["mechanism"][i]) == (-1, 0, -1, -1)
            assert (d["presence"][i][len(p.events):] == -1).all()
            believed = np.zeros(n * n, np.int8)
            for j, (r, c) in sol.belief_map.items():
                believed[r * n + c] = j + 1
            assert (d["belief_map"][i] == believed).all(), where
            checked += 1
    assert checked == (4 * 56 if which == "general" else 4 * 80)


def test_cell_tokens_change_only_how_a_move_is_written(build, cell_build):
    """Same stories, questions, labels and records; a move's `r c` becomes the one token CELL0 + r*n + c."""
    assert json.loads((cell_build / "train" / "dataset.json").read_text())["vocab_size"] == T.CELL0 + N * N == T.vocab_size(N, True)
    for split in ("train", "test"):
        rows, cells = _load(build / split), _load(cell_build / split)
        for name in ("labels", *T.EXTRAS):
            assert (rows[name] == cells[name]).all(), name
        a, b = rows["inputs"].astype(np.int64), cells["inputs"].astype(np.int64)
        assert a.shape == b.shape and (a[:, -N * N:] == b[:, -N * N:]).all() and b.max() < T.vocab_size(N, True)
        moves = 0
        for i in range(len(a)):
            pa, pb = S.parse(a[i], N, 8), S.parse(b[i], N, 8)
            assert pa == pb, T.to_text(b[i], N, 8)
            for e, ev in enumerate(pa.events):
                at = T.QUESTION_TOKENS + T.EVENT_TOKENS * e
                if ev[0] == "move":
                    (r, c), moves = ev[2], moves + 1
                    assert list(b[i, at:at + 4]) == [T.MOVE, T.THING0 + ev[1], T.CELL0 + r * N + c, T.PAD]
                    assert f"to-{r},{c}" in T.to_text(b[i], N, 8).split("\n")[0]
                else:
                    assert (a[i, at:at + 4] == b[i, at:at + 4]).all()
            story, question = T.decode(b[i], N, 8)  # what the perspective controller replays
            assert story.events == pa.events and question == (pa.kind, pa.x, pa.y, pa.j)
        assert moves > len(a)


def test_perspective_targets_from_the_input_alone(build):
    """What the empathy controller computes from a batch's inputs is what the build recorded."""
    d = _load(build / "test")
    for i in range(len(d["inputs"])):
        story, question = T.decode(d["inputs"][i], N, 8)
        presence, witness, belief = T.perspective_targets(story, question, 8, None)
        assert (presence == d["presence"][i]).all() and (witness == d["witness"][i]).all() and (belief == d["belief_map"][i]).all()


@pytest.mark.parametrize("which", ["build", "general"])
def test_view_targets_agree_with_the_solver(build, general, which):
    """X's and Y's view per map cell (the perception stage's target) is the solver's line of sight."""
    root = build if which == "build" else general
    n, radius, max_events = (9, 4, 10) if which == "general" else (N, None, 8)
    d = _load(root / "test")
    seen = {0: 0, 1: 0}
    for i in range(len(d["inputs"])):
        story, question = T.decode(d["inputs"][i], n, max_events)
        view = T.view_targets(story, question, radius).reshape(2, n, n)
        p = S.parse(d["inputs"][i], n, max_events)
        for row, agent in enumerate((p.x, p.y)):
            if p.kind != "belief" or agent < 0:
                assert (view[row] == -1).all()
                continue
            want = np.array([[-1 if (r, c) in p.walls else int(S.can_see(p, p.agents[agent], (r, c), radius)) for c in range(n)] for r in range(n)])
            assert (view[row] == want).all(), f"{which} example {i}, row {row}"
            seen[0 if row == 0 else 1] += int((want == 0).any())  # some open cell is out of sight: occlusion is exercised
    assert seen[0] > 0 and seen[1] > 0


def test_pairs_differ_only_in_where_walls_stand(build):
    d = _load(build / "train")
    belief = np.flatnonzero(d["kind"] == 0)
    pairs: dict[int, list[int]] = {}
    for i in belief:
        pairs.setdefault(int(d["pair"][i]), []).append(int(i))
    assert len(pairs) == 60 and all(len(v) == 2 for v in pairs.values())
    for tb, fb in pairs.values():
        assert (d["false_belief"][tb], d["false_belief"][fb]) == (0, 1)
        a, b = d["inputs"][tb], d["inputs"][fb]
        diff = np.flatnonzero(a != b)
        assert len(diff) and (diff >= len(a) - N * N).all(), "the header is the same"
        assert set(a[diff]) | set(b[diff]) <= {T.WALL, T.OPEN}, "only walls move"
        assert (a == T.WALL).sum() == (b == T.WALL).sum(), "the same number of walls"
        assert _answer_cell(d["labels"][tb], N) != _answer_cell(d["labels"][fb], N)
    # every pair's examples sit together; the controls ask on the same two maps
    for pid in pairs:
        members = np.flatnonzero(d["pair"] == pid)
        assert sorted(d["kind"][members]) == [0, 0, 1, 2]
    # balance: half false belief, half second order, both mechanisms of second order
    b = d["kind"] == 0
    assert d["false_belief"][b].mean() == 0.5 and (d["order"][b] == 2).mean() == 0.5
    assert set(d["mechanism"][b & (d["order"] == 2)]) == {1, 2}


def test_no_story_shared_between_train_and_test(build, general):
    for root in (build, general):
        stories = {}
        for split in ("train", "test"):
            x = _load(root / split)["inputs"].copy()
            x[x == T.WALL] = T.OPEN  # a story is everything but where the walls stand
            x[:, :4] = 0  # and whatever question is asked about it
            stories[split] = {row.tobytes() for row in x}
        assert stories["train"] and stories["test"] and not (stories["train"] & stories["test"])


def test_same_seed_same_bytes(tmp_path):
    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}

    a = T.build_tom_story(tmp_path / "a", num_train=12, num_test=4, seed=3)
    b = T.build_tom_story(tmp_path / "b", num_train=12, num_test=4, seed=3)
    c = T.build_tom_story(tmp_path / "c", num_train=12, num_test=4, seed=4)
    assert digest(a) == digest(b) and digest(a) != digest(c)


def test_generalisation_splits(general):
    train, test = _load(general / "train"), _load(general / "test")
    assert train["num_events"].max() <= 6 and test["num_events"].min() >= 8
    assert train["num_agents"].max() <= 3 and (test["num_agents"] == 4).all()
    second = lambda d: d["mechanism"][(d["kind"] == 0) & (d["order"] == 2)]  # noqa: E731
    assert set(second(train)) == {1} and set(second(test)) == {2}, "contact is held out of train"
    assert train["inputs"].shape[1] == test["inputs"].shape[1] == T.seq_len(9, 10)


# ---------------------------------------------------------------------------- the shortcut suite
@pytest.fixture(scope="module")
def shortcut_build():
    return T.generate_tom_story(300, 100, seed=11)


def _truth(d, rows):
    """The independent solver's answers (the tests above show they are the labels)."""
    return [S.solve(S.parse(d["inputs"][i], N, 8)).answer for i in rows]


@pytest.mark.parametrize("name", S.PAIR_BLIND)
def test_rules_blind_to_the_pair_score_at_most_chance(shortcut_build, name):
    d = shortcut_build["test"]
    rows = np.flatnonzero(d["kind"] == 0)
    pred = [S.RULES[name](S.parse(d["inputs"][i], N, 8)) for i in rows]
    exact, pairs = S.score(pred, _truth(d, rows), d["pair"][rows])
    assert exact <= 0.5 and pairs == 0.0, (name, exact, pairs)


def test_order_blind_rule_is_at_chance_on_second_order(shortcut_build):
    """X's own first-order belief: right on every first-order question, and at chance on second order
    (X sees the last move in both members of a second-order pair, by construction)."""
    d = shortcut_build["test"]
    rows = np.flatnonzero((d["kind"] == 0) & (d["order"] == 2))
    pred = [S.rule_first_order(S.parse(d["inputs"][i], N, 8)) for i in rows]
    exact, pairs = S.score(pred, _truth(d, rows), d["pair"][rows])
    assert exact == 0.5 and pairs == 0.0


def _wall_reading_rules_near_chance(d, n_rows: int) -> None:
    rows = np.flatnonzero(d["kind"] == 0)
    assert len(rows) == n_rows
    bound = 0.5 + 3 * np.sqrt(0.25 / n_rows)
    truth = _truth(d, rows)
    assert truth == [_answer_cell(d["labels"][i], N) for i in rows], "the solver agrees with the shortcut build's labels"
    for name in ("other_agent", "wall_near_line"):
        pred = [S.RULES[name](S.parse(d["inputs"][i], N, 8)) for i in rows]
        exact, pairs = S.score(pred, truth, d["pair"][rows])
        assert exact <= bound, (name, exact, pairs, bound)


def test_rules_that_read_walls_elsewhere_stay_near_chance(shortcut_build):
    _wall_reading_rules_near_chance(shortcut_build["test"], 200)


@pytest.mark.slow
def test_rules_that_read_walls_elsewhere_stay_near_chance_on_a_large_build():
    _wall_reading_rules_near_chance(T.generate_tom_story(0, 1000, seed=12)["test"], 2000)


def _category_to_cell(p, category: int):
    cand = S.candidates(p)
    return cand[0] if category == 0 else cand[-1] if category == 2 else cand[max(1, len(cand) - 2)]


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_header_only_models_score_at_most_chance(shortcut_build, model):
    """Logistic regression and a small MLP on the one-hot header (question and event log, no map),
    trained on the train split to predict the answer's kind (first cell / intermediate / cell now)."""
    torch.manual_seed(0)
    tr, te = shortcut_build["train"], shortcut_build["test"]
    rtr, rte = np.flatnonzero(tr["kind"] == 0), np.flatnonzero(te["kind"] == 0)
    xtr = torch.from_numpy(S.header_features(tr["inputs"][rtr], N))
    ytr = torch.from_numpy(tr["answer_kind"][rtr].astype(np.int64))
    xte = torch.from_numpy(S.header_features(te["inputs"][rte], N))
    width = xtr.shape[1]
    net = torch.nn.Linear(width, 3) if model == "logistic" else torch.nn.Sequential(torch.nn.Linear(width, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xtr), ytr)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], "the model trained"
    cats = net(xte).argmax(-1).numpy()
    pred = [_category_to_cell(S.parse(te["inputs"][i], N, 8), int(c)) for i, c in zip(rte, cats)]
    exact, pairs = S.score(pred, _truth(te, rte), te["pair"][rte])
    assert exact <= 0.5 and pairs == 0.0, (model, exact, pairs)


# ---------------------------------------------------------------------------- spec, recipe and CLI
def test_recipe_spec_and_metadata(tmp_path):
    cfg = parse_config({"type": "tom2", "size": 9, "num_events": [3, 5], "test_num_events": [6, 7], "num_train": 4, "num_test": 2})
    meta = config_metadata(cfg)
    assert meta == {"vocab_size": T.VOCAB_SIZE, "seq_len": T.seq_len(9, 7), "num_puzzle_identifiers": 1, "num_tasks": 1}
    assert config_metadata(parse_config({"type": "tom2", "size": 9, "cell_tokens": True}))["vocab_size"] == T.CELL0 + 81
    root = prepare_data(cfg, tmp_path / "cache")
    assert np.load(root / "train" / "all__inputs.npy").shape == (16, meta["seq_len"])


@pytest.mark.parametrize("spec, words", [
    ({"size": 5}, "size"),
    ({"num_agents": [2, 5]}, "num_agents"),
    ({"num_agents": [3, 2]}, "num_agents"),
    ({"num_events": [0, 4]}, "num_events"),
    ({"wall_density": 0.6}, "wall_density"),
    ({"held_out": "self"}, "held_out"),
    ({"held_out": "other", "second_order": 0.0}, "second_order"),
    ({"view_radius": 0}, "view_radius"),
])
def test_bad_spec_is_one_line(spec, words):
    with pytest.raises(DataError) as e:
        parse_config({"type": "tom2", **spec})
    assert "\n" not in str(e.value) and words in str(e.value)


def test_cli_builds_version_2_and_refuses_the_other_version_options(tmp_path, capsys):
    out = tmp_path / "tom2"
    assert data_main(["tom", "--num-train", "5", "--num-test", "2", "--num-events", "3", "6", "--out", str(out), "--quiet"]) == 0
    assert "train groups(tasks)=      20" in capsys.readouterr().out
    assert (out / "train" / "extra__belief_map.npy").exists()
    cells = tmp_path / "tom2-cells"
    assert data_main(["tom", "--num-train", "5", "--num-test", "2", "--num-events", "3", "6", "--cell-tokens", "--out", str(cells), "--quiet"]) == 0
    assert json.loads((cells / "train" / "dataset.json").read_text())["vocab_size"] == T.CELL0 + N * N
    capsys.readouterr()
    for argv, words in ((["tom", "--kind", "belief"], "--kind is a version 1 option"),
                        (["tom", "--version", "1", "--num-events", "3", "5"], "--num-events is a version 2 option"),
                        (["tom", "--version", "1", "--cell-tokens"], "--cell-tokens is a version 2 option"),
                        (["tom", "--num-agents", "3"], "MIN MAX")):
        assert data_main([*argv, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and words in err
    assert not (tmp_path / "x").exists()
