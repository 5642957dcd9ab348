"""A controller's `lr_scale` (the controllers experiment's `quaternion_tuned`, formerly `train.controller_lr_scale`):
its parameters step at a scaled learning rate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hrmzoo import build_model
from hrmzoo.recipe import load_recipe
from hrmzoo.train.optim import build_optimizers

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "controllers"
TOM_QUATERNION, TOM_NONE = str(EXPERIMENT / "tom_quaternion.yaml"), str(EXPERIMENT / "tom_none.yaml")


def first_step_moves(scale: float, optimizer: str) -> tuple[torch.optim.Optimizer, dict[str, float], set[str]]:
    """Largest |change| / lr per parameter after one step with unit gradients (Adam's first step moves by ~lr * sign(g))."""
    recipe = load_recipe(TOM_QUATERNION, [f"model.controller.lr_scale={scale}", f"train.optimizer={optimizer}", "train.weight_decay=0.0"])
    torch.manual_seed(0)
    model = build_model(recipe)
    opt, _ = build_optimizers(model, recipe.train)
    lr = 1e-3
    for g in opt.param_groups:  # what the trainer's schedule does before every step
        g["lr"] = lr
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    assert all(g["lr"] == lr for g in opt.param_groups), "the scale must not leak into the group's scheduled lr"
    moves = {n: float((p.detach() - before[n]).abs().max()) / lr for n, p in model.named_parameters()}
    controller = {f"controller.{n}" for n, _ in model.controller.named_parameters()}
    return opt, moves, controller


@pytest.mark.parametrize("optimizer", ["adamw", "adam_atan2"])
def test_controller_group_steps_at_the_scaled_lr(optimizer):
    opt, moves, controller = first_step_moves(10.0, optimizer)
    assert controller and len(opt.param_groups) == 2
    assert [g.get("lr_scale", 1.0) for g in opt.param_groups] == [1.0, 10.0]
    for name, move in moves.items():
        want = 10.0 if name in controller else 1.0
        assert move == pytest.approx(want, rel=0.25), (name, move)


def test_scale_one_keeps_a_single_group():
    opt, moves, controller = first_step_moves(1.0, "adamw")
    assert len(opt.param_groups) == 1
    assert all(m == pytest.approx(1.0, rel=0.25) for m in moves.values())


def test_scale_must_be_positive():
    with pytest.raises(Exception, match="lr_scale"):
        load_recipe(TOM_QUATERNION, ["model.controller.lr_scale=0"])


def test_a_controller_without_a_scale_trains_in_one_group():
    recipe = load_recipe(TOM_NONE)
    opt, _ = build_optimizers(build_model(recipe), recipe.train)
    assert len(opt.param_groups) == 1
