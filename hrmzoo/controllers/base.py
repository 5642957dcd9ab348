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

from hrmzoo.errors import HrmzooError
from hrmzoo.registry import ComponentConfig

HOOK_POINTS = ("l_context", "l_step", "h_message", "h_step")


class ControllerError(HrmzooError):
    """A batch does not fit the controller (e.g. a task id beyond its perspective table)."""


class ControllerConfig(ComponentConfig):
    """Controllers have no shared fields."""


class ControlContext:
    """Per-forward controller state: applies hooks, collects activity and losses.

    Args:
        batch: the segment's batch (``inputs`` [B, S], optional ``task_id`` [B]).
        x: the embedded input [B, S', D].

    Attributes:
        trace: name -> list of per-call activity scalars (detached), one per hook
            call; names are ``"<head>/<hook point>"``.
        aux_losses: name -> loss tensor (already weighted) added to the training loss.
    """

    def __init__(self, batch: dict[str, Any] | None = None, x: torch.Tensor | None = None) -> None:
        self.batch = batch or {}
        self.x = x
        self.trace: dict[str, list[torch.Tensor]] = {}
        self.aux_losses: dict[str, torch.Tensor] = {}

    @property
    def task_id(self) -> torch.Tensor:
        """[B] task-family ids: ``batch["task_id"]``, or zeros when the batch has none."""
        tid = self.batch.get("task_id")
        if tid is not None:
            return tid.long()
        if "inputs" in self.batch:
            ref = self.batch["inputs"]
        elif self.x is not None:
            ref = self.x
        else:
            raise ControllerError("controller context: no batch and no input, so the batch size is unknown; pass batch and x")
        return torch.zeros(ref.shape[0], dtype=torch.long, device=ref.device)

    def record(self, name: str, activity: torch.Tensor) -> None:
        """Append one detached activity scalar to ``trace[name]``."""
        self.trace.setdefault(name, []).append(activity.detach())

    def reset_losses(self) -> None:
        """Forget the auxiliary losses recorded so far.

        The implicit estimator calls this after its solve, so that losses read
        inside the cycle come from the differentiable application at the fixed
        point, not from the solver's iterates.
        """
        self.aux_losses.clear()

    def hook(self, point: str, value: torch.Tensor, *, old: torch.Tensor | None = None, state: dict | None = None) -> torch.Tensor:
        return value


class Controller(nn.Module):
    """Base: ``context(batch, x)`` returns the :class:`ControlContext` for one segment."""

    hook_points: tuple[str, ...] = ()

    def context(self, batch: dict[str, Any], x: torch.Tensor) -> ControlContext:
        return ControlContext(batch, x)
