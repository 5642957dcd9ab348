"""The perspective (empathy) controller: identity at init, conditioned on the asked agent and not the question,
per-position modulation, perspective targets that carry gradient into both heads, and one-line errors."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hrmzoo import build_model
from hrmzoo.controllers.perspective import _targets, _views
from hrmzoo.data import tom_story as T
from hrmzoo.errors import HrmzooError

RECIPE = "tom2_perspective"
SMALL = ["model.hidden_size=16", "model.controller.head_width=8"]


@pytest.fixture(scope="module")
def batch():
    d = T.generate_tom_story(3, 0, event_slots=12, seed=4)["train"]
    return {"inputs": torch.from_numpy(d["inputs"].astype(np.int64)), "labels": torch.from_numpy(d["labels"].astype(np.int64)),
            "puzzle_identifiers": torch.zeros(len(d["inputs"]), dtype=torch.long)}


def _models(seed=0):
    base = build_model(RECIPE, [*SMALL, "model.controller={type: none}"], seed=seed)
    ctl = build_model(RECIPE, SMALL, seed=seed)
    missing, unexpected = ctl.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("controller.") for k in missing)
    return base, ctl


def test_identity_at_init(batch):
    base, ctl = _models()
    a, b = base(batch), ctl(batch)
    assert torch.equal(a.logits, b.logits)
    assert set(b.aux_losses) == {"perspective_FE", "perspective_SE"} and all(torch.isfinite(v) for v in b.aux_losses.values())
    with torch.no_grad():  # evaluation: the same answers as the base model evaluated, no target replay
        c, base_eval = ctl(batch), base(batch)
    # (compared no-grad to no-grad: with token_norm `sequence`, mlp_mixer's default, torch takes another
    # rms_norm kernel without autograd, which rounds differently by ~1e-6)
    assert torch.equal(c.logits, base_eval.logits) and not c.aux_losses


def test_conditioned_on_the_agent_not_the_question(batch):
    _, model = _models()
    x = model.embedding(batch["inputs"])
    ctx = model.controller.context(batch, x)
    other_q = {**batch, "inputs": batch["inputs"].clone()}
    other_q["inputs"][:, 0] = T.Q_MEMORY  # a different question about the same agent
    assert torch.equal(model.controller.context(other_q, x).perspective, ctx.perspective)
    belief = int(np.flatnonzero(batch["inputs"][:, 0].numpy() == T.Q_BELIEF)[0])
    other_k = {**batch, "inputs": batch["inputs"].clone()}
    k = int(other_k["inputs"][belief, 1]) - T.NAME0
    other_k["inputs"][belief, 1] = T.NAME0 + (1 - k if k < 2 else 0)  # ask about another agent
    assert not torch.equal(model.controller.context(other_k, x).perspective[belief], ctx.perspective[belief])


def test_modulation_differs_per_position(batch):
    _, model = _models()
    with torch.no_grad():
        for head in model.controller.heads.values():
            head.out.weight.normal_(0, 0.1)
    x = model.embedding(batch["inputs"])
    ctx = model.controller.context(batch, x)
    value = torch.randn_like(x)
    out = ctx.hook("h_step", value, old=value, state={})
    gamma_like = (out - value)[0]  # [S, D]
    assert gamma_like.std(dim=0).mean() > 1e-3, "positions are modulated differently"
    assert set(ctx.trace) == {"SE/h_step", "SE/h_step/flat"}
    assert 0.0 <= float(ctx.trace["SE/h_step/flat"][0]) <= 1.0


@pytest.mark.parametrize("keep_scale", [True, False])
def test_keep_scale_holds_each_positions_rms_however_large_the_modulation(batch, keep_scale):
    model = build_model(RECIPE, [*SMALL, f"model.controller.keep_scale={keep_scale}"], seed=0)
    with torch.no_grad():
        for head in model.controller.heads.values():
            head.out.weight.normal_(0, 5.0)  # a modulation far larger than the state
    x = model.embedding(batch["inputs"])
    value = torch.randn_like(x)
    out = model.controller.context(batch, x).hook("h_step", value, old=value, state={})
    rms = lambda t: t.pow(2).mean(-1).sqrt()  # noqa: E731
    assert not torch.allclose(out / rms(out)[..., None], value / rms(value)[..., None], atol=1e-2)  # the direction moved
    assert torch.allclose(rms(out), rms(value), rtol=1e-4) == keep_scale


def test_targets_are_the_benchmark_replay_and_reach_both_heads(batch):
    _, model = _models()
    row = batch["inputs"][0].numpy().astype(np.int64)
    story, question = T.decode(row, 8, 12)
    want = T.perspective_targets(story, question, 12, None)
    got = _targets(row.tobytes(), 8, 12, None)
    assert all((a == b).all() for a, b in zip(want, got))
    out = model(batch)
    sum(out.aux_losses.values()).backward()
    norms = model.controller.head_grad_norms()
    assert norms["FE"] > 0 and norms["SE"] > 0 and norms["rows"] > 0, norms


def test_view_map_trains_fe_on_each_minds_view(batch):
    """`view_map`: FE reads X's and Y's view per map cell (the replay's `view_targets`), and that term moves FE's loss and reaches its readout."""
    model = build_model(RECIPE, [*SMALL, "model.controller.view_map=true"], seed=0)
    plain = build_model(RECIPE, SMALL, seed=0)
    fe = model.controller.heads["FE"]
    assert fe.map_readout is not None and plain.controller.heads["FE"].map_readout is None
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["controller.heads.FE.map_readout.bias", "controller.heads.FE.map_readout.weight"]
    row = batch["inputs"][0].numpy().astype(np.int64)
    story, question = T.decode(row, 8, 12)
    assert (_views(row.tobytes(), 8, 12, None) == T.view_targets(story, question, None)).all()
    out, ref = model(batch), plain(batch)
    assert torch.equal(out.logits, ref.logits)  # the readout adds a loss term, not a change to the answer
    assert not torch.equal(out.aux_losses["perspective_FE"], ref.aux_losses["perspective_FE"])
    assert torch.equal(out.aux_losses["perspective_SE"], ref.aux_losses["perspective_SE"])
    out.aux_losses["perspective_FE"].backward()
    assert fe.map_readout.weight.grad is not None and fe.map_readout.weight.grad.abs().sum() > 0


def test_answer_weight_zero_trains_the_targets_alone(batch):
    """`model.head.loss_weight=0` (a perception stage): the answer's projection gets no gradient, FE's view readout does."""
    from hrmzoo.model.segment_loop import new_carry, segment_step
    model = build_model(RECIPE, [*SMALL, "model.controller.view_map=true", "model.head.loss_weight=0.0"], seed=0)
    _, res = segment_step(model, new_carry(model, batch), batch, training=True)
    res.loss.backward()
    assert res.metrics["loss/lm"].item() == 0.0 and res.loss.item() > 0
    assert model.head.proj.weight.grad is None or model.head.proj.weight.grad.abs().max().item() == 0.0
    assert model.controller.heads["FE"].map_readout.weight.grad.abs().sum() > 0
    assert "FE/view_loss" in res.output.diagnostics["trace"]


EYES = [*SMALL, "model.controller.view_map=true", "model.controller.perception_layers=2", "model.controller.perception_width=8"]


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("answer_grad", [False, True])
def test_eyes_are_trained_by_the_view_and_the_answer_reaches_them_only_when_asked(batch, answer_grad, shared):
    """`perception_layers`: the view loss trains the eyes; the answer's gradient stops at their features unless `perception_grad`."""
    from hrmzoo.model.segment_loop import new_carry, segment_step
    eyes_set = [*EYES, f"model.controller.perception_shared={shared}"]
    model = build_model(RECIPE, [*eyes_set, f"model.controller.perception_grad={answer_grad}", "model.controller.target_weight=0.0"], seed=0)
    eyes = model.controller.eyes
    assert model.controller.heads["FE"].map_readout is None  # the view is the eyes' to read out, not FE's
    with torch.no_grad():  # FE's last layer starts at zero, which would stop every gradient into its hidden layer
        model.controller.heads["FE"].out.weight.normal_(0, 0.1)
    _, res = segment_step(model, new_carry(model, batch), batch, training=True)
    res.loss.backward()  # targets off: the answer alone
    touched = any(p.grad is not None and p.grad.abs().sum() > 0 for p in eyes.convs.parameters())
    assert touched == answer_grad
    model.zero_grad(set_to_none=True)
    model = build_model(RECIPE, [*eyes_set, "model.head.loss_weight=0.0"], seed=0)
    _, res = segment_step(model, new_carry(model, batch), batch, training=True)
    assert res.metrics["loss/perception_view"].item() > 0
    res.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.controller.eyes.parameters() if p.dim() > 1 and p is not model.controller.eyes.token.weight)


def test_eyes_read_the_map_per_mind_and_feed_fe_at_map_cells_only(batch):
    """The eyes give view logits shaped as `view_targets` (one row per mind), and what they see enters FE's hidden layer at map cells only."""
    model = build_model(RECIPE, EYES, seed=0)
    ctl = model.controller
    feats, logits = ctl.look(batch["inputs"])
    n2 = ctl.cfg.size ** 2
    assert feats.shape == (len(batch["inputs"]), n2, 8) and logits.shape == (len(batch["inputs"]), 2, n2)
    ctx = ctl.context(batch, None)
    extra = ctx.fe_perspective - ctx.perspective
    assert extra[:, : ctl.num_prefix + ctl.header_len].abs().max() == 0 and extra[:, ctl.num_prefix + ctl.header_len:].abs().sum() > 0
    with pytest.raises(HrmzooError, match="perception_layers > 0"):
        build_model(RECIPE, SMALL, seed=0).controller.look(batch["inputs"])


def test_shared_eyes_see_from_y_as_they_see_from_x(batch):
    """`perception_shared`: Y's view is the same weights run from Y's cell: swap the X and Y markers and the two view rows swap."""
    ctl = build_model(RECIPE, [*EYES, "model.controller.perception_shared=true"], seed=0).controller
    _, marker = ctl.markers(batch["inputs"])
    assert (marker == 2).any()  # the batch has second-order questions
    swapped = torch.where(marker == 1, 2, torch.where(marker == 2, 1, marker))
    feats, logits = ctl.look(batch["inputs"], marker)
    feats_s, logits_s = ctl.look(batch["inputs"], swapped)
    n2, w = ctl.cfg.size ** 2, ctl.cfg.perception_width
    assert feats.shape == (len(batch["inputs"]), n2, 2 * w) and logits.shape == (len(batch["inputs"]), 2, n2)
    torch.testing.assert_close(logits_s, logits.flip(1))
    torch.testing.assert_close(feats_s, torch.cat([feats[..., w:], feats[..., :w]], -1))
    # one set of weights for both looks: the marker table has the looker's code only
    assert ctl.eyes.marker.num_embeddings == 2 and ctl.eyes.view.out_features == 1


@pytest.mark.parametrize("nonlinear", [False, True])
def test_only_a_nonlinear_readout_can_select_by_perspective(nonlinear):
    """Linear in hidden = state + perspective, a readout shifts every position alike when X changes; through the SiLU it can select."""
    from hrmzoo.controllers.perspective import SpatialHead
    torch.manual_seed(0)
    head = SpatialHead(16, 8, 3, modulate=False, nonlinear_readout=nonlinear)
    value = torch.randn(1, 10, 16)
    p1, p2 = torch.randn(1, 1, 8).expand(1, 10, 8), torch.randn(1, 1, 8).expand(1, 10, 8)
    shift = head.readout(head.features(head.hidden(value, p1))) - head.readout(head.features(head.hidden(value, p2)))
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-5) != nonlinear


@pytest.mark.parametrize("order", ["L_then_H", "H_then_L"])
@pytest.mark.parametrize("gradient", ["one_step", "last_cycle", "k_step", "bptt"])
def test_targets_carry_gradient_in_every_order_and_estimator(batch, order, gradient):
    """H_then_L ends a segment with L steps outside the gradient: the FE terms they add must not drop the carried ones' graph."""
    model = build_model(RECIPE, [*SMALL, f"model.coupling.order={order}", f"model.gradient.type={gradient}"], seed=0)
    out = model(batch)
    assert all(v.requires_grad for v in out.aux_losses.values()), {k: v.requires_grad for k, v in out.aux_losses.items()}
    sum(out.aux_losses.values()).backward()
    norms = model.controller.head_grad_norms()
    assert norms["FE"] > 0 and norms["SE"] > 0, norms


@pytest.mark.parametrize("override, words", [
    ("model.controller.max_events=8", "set model.controller.size/max_events"),
    ("model.controller.heads=[FF]", "FE and/or SE"),
    ("model.controller.modulate=false model.controller.modulation_penalty=0.1", "needs modulate: true"),
    ("model.controller.heads=[SE] model.controller.view_map=true", "add FE to heads"),
    ("model.controller.perception_layers=2", "set view_map: true"),
    ("model.controller.perception_shared=true", "set perception_layers > 0"),
])
def test_bad_config_is_one_line(override, words):
    with pytest.raises(HrmzooError) as e:
        build_model(RECIPE, [*SMALL, *override.split()])
    assert "\n" not in str(e.value) and words in str(e.value)


def test_lr_scale_puts_the_heads_in_a_slower_group_and_steps_them_at_that_rate():
    """`model.controller.lr_scale`: the controller's parameters (and only they) step at lr * scale."""
    from types import SimpleNamespace

    from hrmzoo.train.optim import build_optimizers

    cfg = SimpleNamespace(optimizer="adamw", lr=1e-2, betas=(0.9, 0.95), weight_decay=0.0, puzzle_emb_lr=0.0, puzzle_emb_weight_decay=0.0)
    plain, _ = build_optimizers(build_model(RECIPE, SMALL), cfg)
    assert len(plain.param_groups) == 1
    model = build_model(RECIPE, [*SMALL, "model.controller.lr_scale=0.1"])
    opt, _ = build_optimizers(model, cfg)
    backbone, heads = opt.param_groups
    assert heads["lr_scale"] == 0.1 and {id(p) for p in heads["params"]} == {id(p) for p in model.controller.parameters()}
    assert not {id(p) for p in backbone["params"]} & {id(p) for p in heads["params"]}
    # one Adam step moves each parameter by about lr * scale (Adam's first step is lr * sign(grad))
    before = {id(p): p.detach().clone() for g in opt.param_groups for p in g["params"]}
    for g in opt.param_groups:
        for p in g["params"]:
            p.grad = torch.ones_like(p)
    opt.step()
    moved = {id(p): float((p.detach() - before[id(p)]).abs().max()) for g in opt.param_groups for p in g["params"]}
    assert max(moved[id(p)] for p in heads["params"]) == pytest.approx(1e-3, rel=1e-3)
    assert max(moved[id(p)] for p in backbone["params"]) == pytest.approx(1e-2, rel=1e-3)
    assert all(g["lr"] == 1e-2 for g in opt.param_groups)  # the schedule's lr, restored after the step


def test_readout_only_leaves_the_state_alone_and_trains_the_backbone_on_the_targets(batch):
    """`modulate: false` is the baseline plus the targets through an output head: the same function as
    the baseline, every step, while the target loss reaches the backbone's weights."""
    base = build_model(RECIPE, [*SMALL, "model.controller={type: none}"], seed=0)
    ctl = build_model(RECIPE, [*SMALL, "model.controller.modulate=false"], seed=0)
    missing, unexpected = ctl.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("controller.") for k in missing)
    assert all(head.out is None for head in ctl.controller.heads.values())
    with torch.no_grad():  # heads with weights far from zero still change nothing
        for p in ctl.controller.parameters():
            p.normal_(0, 1.0)
    out = ctl(batch)
    assert torch.equal(out.logits, base(batch).logits)
    assert set(out.aux_losses) == {"perspective_FE", "perspective_SE"}
    sum(out.aux_losses.values()).backward()
    backbone = [p.grad for n, p in ctl.named_parameters() if not n.startswith("controller.") and p.grad is not None]
    assert backbone and sum(float(g.norm()) for g in backbone) > 0, "the targets must train the backbone"
    norms = ctl.controller.head_grad_norms()
    assert norms["FE"] > 0 and norms["SE"] > 0
    assert "no modulation" in "\n".join(ctl.controller.describe())
