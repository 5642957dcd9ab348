"""experiments/tom/belief_probe.py: SE's readout scored against X's belief map, per belief group."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "tom"))

import ablate  # noqa: E402
import belief_probe  # noqa: E402

from hrmzoo import build_model  # noqa: E402
from hrmzoo.data import tom_story as T  # noqa: E402
from hrmzoo.errors import HrmzooError  # noqa: E402

SMALL = ["model.hidden_size=16", "model.controller.head_width=8"]


@pytest.fixture(scope="module")
def split():
    d = T.generate_tom_story(40, 0, event_slots=12, seed=4)["train"]
    batch = {"inputs": torch.from_numpy(d["inputs"].astype(np.int64)), "labels": torch.from_numpy(d["labels"].astype(np.int64)),
             "puzzle_identifiers": torch.zeros(len(d["inputs"]), dtype=torch.long)}
    groups = ablate.groups_of(d)
    return batch, groups, d["belief_map"]


class Oracle(torch.nn.Module):
    """A readout that answers a fixed map per example: the true one, or one given."""

    def __init__(self, maps: np.ndarray, classes: int):
        super().__init__()
        self.logits = 10.0 * torch.nn.functional.one_hot(torch.from_numpy(maps.astype(np.int64)), classes).float()

    def forward(self, h):
        return self.logits


@pytest.mark.parametrize("modulate", [True, False])
def test_a_readout_holding_the_belief_map_scores_100_and_one_holding_the_world_does_not(split, modulate):
    batch, groups, maps = split
    model = build_model("tom2_perspective", [*SMALL, f"model.controller.modulate={str(modulate).lower()}"], seed=0).eval()
    classes = model.controller.heads["SE"].readout.out_features
    model.controller.heads["SE"].readout = Oracle(maps, classes)
    right = belief_probe.belief_map_scores(model, [batch], groups)
    assert set(right) <= set(belief_probe.BELIEF_GROUPS) and "first-order FB" in right
    assert all(v == {"object cell right %": 100.0, "whole map right %": 100.0} for v in right.values()), right
    assert "hidden" not in vars(model.controller.heads["SE"])  # the capture is removed afterwards
    # the world's map instead of X's: wrong on every first-order false belief
    world = maps.copy()
    for r, row in enumerate(batch["inputs"].numpy()):
        story, question = T.decode(row.astype(np.int64), 8, 12)
        world[r] = T.perspective_targets(story, ("reality",) + tuple(question[1:]), 12, None)[2]
    model.controller.heads["SE"].readout = Oracle(world, classes)
    wrong = belief_probe.belief_map_scores(model, [batch], groups)
    assert wrong["first-order FB"]["whole map right %"] == 0.0
    for g in right:  # whole maps right exactly where X's map is the world's
        same = (maps[groups == g] == world[groups == g]).all(axis=1)
        assert wrong[g]["whole map right %"] == round(100 * same.mean(), 1)
    assert wrong["first-order TB"]["whole map right %"] > 0


def test_a_run_without_the_perspective_controller_is_one_line(split):
    batch, groups, _ = split
    with pytest.raises(HrmzooError) as e:
        belief_probe.belief_map_scores(build_model("tom2_none", ["model.hidden_size=16"]), [batch], groups)
    assert "\n" not in str(e.value) and "SE head" in str(e.value)


class Replay(torch.nn.Module):
    """A readout that answers given logits per example (in batch order), whatever the hidden layer."""

    def __init__(self, logits: np.ndarray):
        super().__init__()
        self.logits = torch.from_numpy(logits).float()

    def forward(self, h):
        return self.logits


def test_perception_scores_an_oracle_100_and_an_always_saw_readout_0_on_missed_moves(split):
    batch, groups, _ = split
    model = build_model("tom2_perspective", [*SMALL, "model.controller.view_map=true"], seed=0).eval()
    fe = model.controller.heads["FE"]
    keys = [r.astype(np.int64).tobytes() for r in batch["inputs"].numpy()]
    presence, witness = (np.stack([belief_probe._targets(k, 8, 12, None)[i] for k in keys]) for i in (0, 1))
    view = np.stack([belief_probe._views(k, 8, 12, None) for k in keys])
    sign = lambda t: np.where(t == 1, 10.0, -10.0)  # noqa: E731
    fe.readout = Replay(np.stack([sign(presence), sign(witness)], -1))
    fe.map_readout = Replay(sign(view).transpose(0, 2, 1))
    right = belief_probe.perception_scores(model, [batch], groups)
    assert set(right) == set(belief_probe.BELIEF_GROUPS)
    assert all(v == 100.0 for g in right.values() for v in g.values()), right
    assert {"moves missed: right %", "view: hidden cells right %", "view: whole maps right %"} <= set(right["first-order FB"])
    fe.readout = Replay(np.stack([sign(presence), np.full(witness.shape, 10.0)], -1))  # "X saw every move"
    fe.map_readout = Replay(np.full(view.transpose(0, 2, 1).shape, 10.0))  # "X sees every cell"
    blind = belief_probe.perception_scores(model, [batch], groups)
    assert blind["first-order FB"]["moves missed: right %"] == 0.0 and blind["first-order FB"]["moves seen: right %"] == 100.0
    assert blind["first-order FB"]["view: hidden cells right %"] == 0.0 and blind["first-order FB"]["view: whole maps right %"] == 0.0
    assert "hidden" not in vars(fe)


def test_view_cnn_inputs_mark_x_and_the_walls_its_view_leaves_out():
    import view_cnn

    x, y = view_cnn.view_examples(6, 0, "train")
    assert x.shape[1:] == (2, 8, 8) and y.shape == (len(x), 8, 8)
    assert (x[:, 1].flatten(1).sum(1) == 1).all()  # exactly one cell is X's
    assert ((y == -1) == (x[:, 0] == 1)).all()  # unsupervised exactly on the walls
    assert (y[x[:, 1] == 1] == 1).all()  # X sees its own cell
    assert (y == 0).any()  # and walls hide some cell
    found, y2 = view_cnn.view_examples(6, 0, "train", find_x=True)
    assert found.shape[1] == 9 and torch.equal(y2, y) and torch.equal(found[:, 0], x[:, 0])
    me = (found[:, 1:5] * found[:, 5:9, :1, :1]).sum(1)  # the cell of the agent the identity planes name
    assert torch.equal(me, x[:, 1])
    assert sum(p.numel() for p in view_cnn.cnn(4, 8, tied=True).parameters()) < sum(p.numel() for p in view_cnn.cnn(4, 8).parameters())


def test_perception_scores_read_the_view_from_the_eyes_when_fe_has_them(split):
    """With `perception_layers` the view is the eyes' (`ctl.look`), not FE's map readout (which then does not exist)."""
    batch, groups, _ = split
    model = build_model("tom2_perspective", [*SMALL, "model.controller.view_map=true", "model.controller.perception_layers=1",
                                             "model.controller.perception_width=4"], seed=0).eval()
    ctl = model.controller
    keys = [r.astype(np.int64).tobytes() for r in batch["inputs"].numpy()]
    view = torch.from_numpy(np.stack([belief_probe._views(k, 8, 12, None) for k in keys]))
    look = ctl.look
    ctl.look = lambda inputs, marker=None: (look(inputs, marker)[0], torch.where(view == 1, 10.0, -10.0))  # the eyes, with an oracle's view
    right = belief_probe.perception_scores(model, [batch], groups)
    assert right["first-order FB"]["view: whole maps right %"] == 100.0 and right["second-order TB"]["view: hidden cells right %"] == 100.0
