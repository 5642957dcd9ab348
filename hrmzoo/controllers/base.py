"""Controllers: modules that modulate the recurrent updates at named hook points.

A coupling calls ``ctl.hook(point, value, old=..., state=...)`` at four points
of every segment (see :data:`HOOK_POINTS`); a controller returns the value it
wants used instead. Any coupling can therefore take any controller.

Hook points (HRM names; TRM's latent z plays L, its answer y plays H):

- ``l_context``: the context L receives (z_H + x) before injection.
- ``l_step``: L's new state; ``old`` is the state before the update.
- ``h_message``: the message H receives from L (z_L) before injection.
- ``h_step``: H's new state; ``old`` is the state before the update.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hrmzoo.registry import ComponentConfig

HOOK_POINTS = ("l_context", "l_step", "h_message", "h_step")


class ControllerConfig(ComponentConfig):
    """Controllers have no shared fields."""


class ControlContext:
    """Per-forward controller state: applies hooks, collects activity and losses.

    Attributes:
        trace: hook point -> list of per-call activity scalars (detached).
        aux_losses: name -> loss tensor added to the training loss.
    """

    def __init__(self) -> None:
        self.trace: dict[str, list[torch.Tensor]] = {}
        self.aux_losses: dict[str, torch.Tensor] = {}

    def hook(self, point: str, value: torch.Tensor, *, old: torch.Tensor | None = None, state: dict | None = None) -> torch.Tensor:
        return value


class Controller(nn.Module):
    """Base: ``context(batch, x)`` returns the :class:`ControlContext` for one segment."""

    hook_points: tuple[str, ...] = ()

    def context(self, batch: dict[str, Any], x: torch.Tensor) -> ControlContext:
        return ControlContext()
