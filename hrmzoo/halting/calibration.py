"""Calibration losses for a halting head: how it learns "the current answer is exactly right".

A halting head that stops when its confidence is above a threshold is only as
good as that confidence is calibrated: a sample the head calls 90% sure should
be right 9 times in 10. Each loss here takes the head's logit `l` (p =
sigmoid(l)) and the target y in {0, 1} (or a soft target in [0, 1]) and returns
a per-sample loss. A recipe picks one by name
(`model.halting.halt_loss: brier`); `bce` is what HRM and TRM train with and
stays the default.

Registered by name in `HALT_LOSSES` (`@halt_loss("name")`), the way
components register, so a plugin can add one; `hrmzoo list halting` shows the
field and `registry/components.md` lists the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from hrmzoo.registry import unknown_message

LossFn = Callable[[torch.Tensor, torch.Tensor, Optional[float]], torch.Tensor]


@dataclass(frozen=True)
class HaltLoss:
    """One registered calibration loss: its function, its parameter's name and default (None: takes none)."""

    name: str
    fn: LossFn
    param: Optional[str]
    default: Optional[float]
    doc: str


HALT_LOSSES: dict[str, HaltLoss] = {}


def halt_loss(name: str, *, param: str | None = None, default: float | None = None):
    """Decorator: register `fn(logits, target, param) -> [B]` as calibration loss `name`."""

    def deco(fn: LossFn) -> LossFn:
        if name in HALT_LOSSES:
            raise ValueError(f"halt_loss '{name}' is already registered by {HALT_LOSSES[name].fn.__module__}")
        HALT_LOSSES[name] = HaltLoss(name, fn, param, default, (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


def check_halt_loss(name: str, param: float | None, where: str = "model.halting.halt_loss") -> None:
    """Raise ValueError (one line, with the registered names) for an unknown loss or a bad parameter."""
    if name not in HALT_LOSSES:
        raise ValueError(unknown_message("halt_loss", name, sorted(HALT_LOSSES)).replace("unknown halt_loss", f"{where}: unknown halt loss"))
    spec = HALT_LOSSES[name]
    if param is not None and spec.param is None:
        raise ValueError(f"model.halting.halt_loss_param={param}: halt_loss '{name}' takes no parameter; drop it")
    if spec.name == "smoothed_bce" and param is not None and not 0 <= param < 1:
        raise ValueError(f"model.halting.halt_loss_param={param}: smoothed_bce's epsilon is in [0, 1)")
    if spec.name == "focal" and param is not None and param < 0:
        raise ValueError(f"model.halting.halt_loss_param={param}: focal's gamma is >= 0")


def calibration_loss(name: str, logits: torch.Tensor, target: torch.Tensor, param: float | None = None) -> torch.Tensor:
    """Per-sample loss `name` of halt logits [B] against targets [B] (bool or float in [0, 1])."""
    spec = HALT_LOSSES[name]
    return spec.fn(logits, target.to(logits.dtype), spec.default if param is None else param)


@halt_loss("bce")
def bce(logits: torch.Tensor, target: torch.Tensor, _: float | None) -> torch.Tensor:
    """Binary cross-entropy (log loss): HRM's q_halt and TRM's halt target; the default.

    A strictly proper scoring rule (Good 1952): its expected value is minimised
    only by the true probability, so a head trained to convergence with it is
    calibrated in the limit. Unbounded on confident mistakes (-log p), which is
    also what pushes a small head to extreme logits on the easy majority.
    """
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


@halt_loss("brier")
def brier(logits: torch.Tensor, target: torch.Tensor, _: float | None) -> torch.Tensor:
    """Brier score (p - y)^2 (Brier 1950, "Verification of forecasts expressed in terms of probability").

    Strictly proper like log loss but bounded (at most 1 per sample), so a few
    confidently wrong segments do not dominate the gradient; its reliability
    term is the squared calibration error (Murphy 1973's decomposition), which
    is what a halting threshold relies on.
    """
    return (torch.sigmoid(logits) - target) ** 2


@halt_loss("focal", param="gamma", default=2.0)
def focal(logits: torch.Tensor, target: torch.Tensor, gamma: float | None) -> torch.Tensor:
    """Focal loss -(1 - p_t)^gamma log p_t (Lin et al. 2017), parameter gamma (default 2).

    Mukhoti et al. 2020 ("Calibrating deep neural networks using focal loss")
    show it improves calibration over cross-entropy: the (1 - p_t)^gamma factor
    stops the loss from pushing already-right confident predictions to ever
    larger logits, which is the over-confidence a halting head shows when it
    stops early. Not a proper scoring rule for gamma > 0 (it favours
    probabilities nearer 0.5), which a threshold fitted on validation data
    (`eval_halt_threshold: auto`) absorbs.
    """
    bce_ = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    return (1 - p_t).pow(float(gamma)) * bce_


@halt_loss("smoothed_bce", param="epsilon", default=0.1)
def smoothed_bce(logits: torch.Tensor, target: torch.Tensor, eps: float | None) -> torch.Tensor:
    """BCE against label-smoothed targets y (1 - eps) + eps / 2 (Szegedy et al. 2016), parameter epsilon (default 0.1).

    Müller, Kornblith & Hinton 2019 ("When does label smoothing help?") find it
    calibrates networks as well as temperature scaling: the head can no longer
    win by driving its logit to infinity, so confidence stays inside
    [eps/2, 1 - eps/2] and an honest threshold near the top of it exists.
    """
    eps = float(eps)
    return F.binary_cross_entropy_with_logits(logits, target * (1 - eps) + eps / 2, reduction="none")


def continue_value_target(correct: torch.Tensor, next_confidence: torch.Tensor, is_last: torch.Tensor) -> torch.Tensor:
    """Soft target for "will one more segment change correctness?", [B] in [0, 1].

    The chance that the answer after one more segment is right is estimated by
    the halting head itself at that segment (`next_confidence`, a bootstrap as
    HRM's q_continue target is): from a wrong answer, continuing changes
    correctness with that chance; from a right one, with its complement. At the
    last segment nothing follows, so the target is 0.
    """
    correct = correct.to(next_confidence.dtype)
    change = correct * (1 - next_confidence) + (1 - correct) * next_confidence
    return torch.where(is_last, torch.zeros_like(change), change)
