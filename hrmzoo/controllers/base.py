"""Controllers: modules that modulate the recurrent updates at named hook points.

A coupling calls `ctl.hook(point, value, old=..., state=...)` at the hook
points of every update (see `hrmzoo.couplings.base.hook_points`); a controller
returns the value it wants used instead. Any coupling can therefore take any
controller.

Each level `X` of the model passes up to three points, named by its
lower-case name: `x_message` (the state of the level below, before
injection), `x_context` (the state of the level above, plus the input for the
fastest level) and `x_step` (its new state; `old` is the state before the
update). With two levels these are HRM's four (TRM's latent z plays L, its
answer y plays H):

- `l_context`: the context L receives (z_H + x) before injection.
- `l_step`: L's new state; `old` is the state before the update.
- `h_message`: the message H receives from L (z_L) before injection.
- `h_step`: H's new state; `old` is the state before the update.

A middle level M of a three-level model adds `m_message` (z_L), `m_context`
(z_H) and `m_step`; controllers written for two levels keep acting on the
fastest (L) and slowest (H) level.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hrmzoo.errors import HrmzooError
from hrmzoo.registry import ComponentConfig

# the two-level hook points (HRM, TRM); a model with more levels passes more (hrmzoo.couplings.base.hook_points)
HOOK_POINTS = ("l_context", "l_step", "h_message", "h_step")


class ControllerError(HrmzooError):
    """A batch does not fit the controller (e.g. a task id beyond its perspective table)."""


class ControllerConfig(ComponentConfig):
    """Controllers have no shared fields."""


class ControlContext:
    """Per-forward controller state: applies hooks, collects activity and losses.

    Args:
        batch: the segment's batch (`inputs` [B, S], optional `task_id` [B]).
        x: the embedded input [B, S', D].

    Attributes:
        trace: name -> list of per-call activity scalars (detached), one per hook
            call; names are `"<head>/<hook point>"`.
        aux_losses: name -> loss tensor (already weighted) added to the training loss.
    """

    def __init__(self, batch: dict[str, Any] | None = None, x: torch.Tensor | None = None) -> None:
        self.batch = batch or {}
        self.x = x
        self.trace: dict[str, list[torch.Tensor]] = {}
        self.aux_losses: dict[str, torch.Tensor] = {}

    @property
    def task_id(self) -> torch.Tensor:
        """[B] task-family ids: `batch["task_id"]`, or zeros when the batch has none."""
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
        """Append one detached activity scalar to `trace[name]`.

        Call it from `hook` once per call with whatever measures how much the
        controller acted (e.g. the mean absolute modulation); evaluation averages
        it per segment and `hrmzoo trace` plots it.

        Args:
            name: `"<head>/<hook point>"` by convention, e.g. `"FF/l_step"`.
            activity: a scalar tensor (it is detached here).
        """
        self.trace.setdefault(name, []).append(activity.detach())

    def reset_losses(self) -> None:
        """Forget the auxiliary losses recorded so far.

        The implicit estimator calls this after its solve, so that losses read
        inside the cycle come from the differentiable application at the fixed
        point, not from the solver's iterates.
        """
        self.aux_losses.clear()

    def reset_trace(self) -> None:
        """Forget the activity recorded so far.

        The implicit estimator calls this after its solve too: the trace then
        holds the applications at the fixed point, one entry per hook call of
        the cycle, as the other estimators' traces hold one per update run.
        """
        self.trace = {}

    def hook(self, point: str, value: torch.Tensor, *, old: torch.Tensor | None = None, state: dict | None = None) -> torch.Tensor:
        """The value to use at a hook point instead of `value`: the one method a controller overrides.

        Couplings call it at every update (see `HOOK_POINTS`); the base class
        returns `value` unchanged, so a model with the `none` controller is
        exactly the model without one. An override may change `value` as it
        likes but must return a tensor of the same shape and dtype, may add
        terms to `aux_losses` and should `record` its activity.

        Args:
            point: which hook point: `"l_context"`, `"l_step"`, `"h_message"`, `"h_step"`,
                or a middle level's (`"m_message"`, `"m_context"`, `"m_step"`).
            value: the tensor passing that point, [B, S, D].
            old: for `*_step` points, the state before the update (so a
                controller can gate the step); None at the other points.
            state: the whole recurrent state at the moment of the call
                (name -> [B, S, D]), e.g. to pool it.

        Returns:
            The tensor the coupling uses from here on, [B, S, D].
        """
        return value


class Controller(nn.Module):
    """Base: `context(batch, x)` returns the `ControlContext` for one segment.

    A controller is built as `Controller(cfg, **sizes)`, asking by keyword for
    what it needs (`hidden_size`, `state_keys`, `output_key`, `hook_points`;
    see `hrmzoo.model.wiring`), and owns its parameters; the per-segment work happens
    in the context it returns.

    Attributes:
        hook_points: the hook points this controller acts on (for reports and
            diagrams; the context still sees every call).
    """

    hook_points: tuple[str, ...] = ()

    def heads_at(self) -> dict[str, list[str]]:
        """Hook point -> the names of the heads acting there, for reports and diagrams. A controller
        without named heads is one head per point, named by its class; controllers with heads override."""
        return {point: [type(self).__name__] for point in self.hook_points}

    def context(self, batch: dict[str, Any], x: torch.Tensor) -> ControlContext:
        """A fresh context for one segment (the model calls it once per forward).

        Args:
            batch: the segment's batch (`inputs` [B, S], optional `task_id` [B]).
            x: the embedded input [B, S', D].

        Returns:
            The context whose `hook` the coupling calls; subclasses return their
            own `ControlContext` subclass.
        """
        return ControlContext(batch, x)
