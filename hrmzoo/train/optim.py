"""Optimizers: Adam-atan2 and AdamW for the network, sign-SGD for the puzzle embedding.

`OPTIMIZERS` maps the recipe's `train.optimizer` name to a factory
`(params, lr, betas, weight_decay) -> torch.optim.Optimizer`; add an entry here
and its name to `hrmzoo.recipe.train_config.OPTIMIZER_NAMES` (which the recipe
validates against without importing torch) to make another optimizer selectable.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch


class AdamAtan2(torch.optim.Optimizer):
    """Adam with `atan2` in place of the division by `sqrt(v) + eps` (HRM's optimizer).

    The exact rule of the CUDA `adam-atan2` package HRM trains with::

        m <- lerp(m, g, 1 - beta1);  v <- beta2 * v + (1 - beta2) * g^2
        p <- p * (1 - lr * wd) - (lr / (1 - beta1^t)) * atan2(m, sqrt(v) / sqrt(1 - beta2^t))

    The first-moment bias correction scales the step, outside `atan2`; it is
    not `lr * atan2(m_hat, sqrt(v_hat))` (at step 1 the two step by 0.997 lr
    and 0.785 lr). `atan2` is bounded and scale-invariant, so no epsilon is
    needed. Pure PyTorch: runs on CPU and GPU (the PyPI package is CUDA-only).

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        betas: moment decay rates.
        weight_decay: decoupled weight decay (multiplied by `lr`).
    """

    def __init__(self, params: Iterable, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.95), weight_decay: float = 0.0):
        if lr < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid AdamAtan2 settings lr={lr}, betas={betas}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamAtan2 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = float(state["step"])
                m, v = state["exp_avg"], state["exp_avg_sq"]
                g = p.grad
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                step_size = lr / (1 - beta1**t)
                denom = v.sqrt() / math.sqrt(1 - beta2**t)
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_(torch.atan2(m, denom), alpha=-step_size)
        return loss


class SignSGDRows(torch.optim.Optimizer):
    """Sign-SGD with decoupled weight decay on the touched rows of an embedding table.

    HRM's per-puzzle embedding: only the rows of puzzles present in the batch are
    updated (`p[r] <- p[r] * (1 - lr * wd) - lr * sign(grad[r])`); rows not in
    the batch are neither moved nor decayed. Call `step(rows)` with the
    touched row ids (duplicates allowed).
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, rows: torch.Tensor | None = None, closure: Callable | None = None):  # type: ignore[override]
        if rows is None:
            raise ValueError("SignSGDRows.step needs the touched rows")
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                idx = torch.unique(rows.to(p.device))
                g = p.grad[idx]
                p[idx] = p[idx] * (1 - lr * wd) - lr * torch.sign(g)
        return None


def _adamw(params, lr, betas, weight_decay):
    # foreach=False keeps the update order fixed: resumed runs reproduce bitwise
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=False)


def _adam_atan2(params, lr, betas, weight_decay):
    return AdamAtan2(params, lr=lr, betas=betas, weight_decay=weight_decay)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam_atan2": _adam_atan2,
    "adamw": _adamw,
}


def scale_group_lrs(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Make each param group's `lr_scale` (default 1) multiply its `lr` during `step()`.

    The trainer's schedule writes one `lr` into every group before each step;
    scaling inside the step (and restoring after it) keeps that contract, so the
    schedule and checkpoints need not know about per-group rates.
    """
    def scale(optimizer, args, kwargs):
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * g.get("lr_scale", 1.0)

    def unscale(optimizer, args, kwargs):
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] / g.get("lr_scale", 1.0)

    opt.register_step_pre_hook(scale)
    opt.register_step_post_hook(unscale)
    return opt


def build_optimizers(model: torch.nn.Module, cfg) -> tuple[torch.optim.Optimizer, SignSGDRows | None]:
    """The network optimizer and, when the model has a puzzle-embedding table, its sign-SGD.

    A controller with an `lr_scale` attribute other than 1 (the perspective controller's
    `lr_scale` field; the heads of `experiments/controllers/tuned_heads.py`) gets its
    parameters a second group that steps at `lr * lr_scale`.

    Args:
        model: the ReasoningModel.
        cfg: the recipe's TrainConfig.
    """
    table = getattr(model.embedding, "puzzle_emb", None)
    params = [p for p in model.parameters() if p.requires_grad and p is not table]
    lr_scale = float(getattr(getattr(model, "controller", None), "lr_scale", 1.0))
    controller = {id(p) for p in model.controller.parameters()} if hasattr(model, "controller") else set()
    if lr_scale != 1.0 and any(id(p) in controller for p in params):
        groups = [{"params": [p for p in params if id(p) not in controller]},
                  {"params": [p for p in params if id(p) in controller], "lr_scale": lr_scale}]
        main = scale_group_lrs(OPTIMIZERS[cfg.optimizer](groups, cfg.lr, tuple(cfg.betas), cfg.weight_decay))
    else:
        main = OPTIMIZERS[cfg.optimizer](params, cfg.lr, tuple(cfg.betas), cfg.weight_decay)
    sparse = None
    if table is not None:
        sparse = SignSGDRows([table], lr=cfg.puzzle_emb_lr, weight_decay=cfg.puzzle_emb_weight_decay)
    return main, sparse
