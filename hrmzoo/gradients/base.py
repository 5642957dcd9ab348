"""Gradient estimators: which updates of a segment carry gradient.

An estimator takes the coupling's cycles and the incoming state and returns the
new state plus diagnostics. Every estimator gives the same forward values; they
differ only in the graph they keep.
"""

from __future__ import annotations

import torch
from torch import nn

from hrmzoo.couplings.base import State, Update
from hrmzoo.gradients import rules
from hrmzoo.registry import ComponentConfig


class GradientConfig(ComponentConfig):
    """Estimators have no shared fields."""


def state_residual(new: State, old: State) -> torch.Tensor:
    """Per-sample relative residual ||F(z) - z|| / ||F(z)|| over all state tensors."""
    num = sum((new[k].float() - old[k].float()).pow(2).flatten(1).sum(1) for k in new)
    den = sum(new[k].float().pow(2).flatten(1).sum(1) for k in new)
    return (num / den.clamp_min(1e-12)).sqrt()


class GradientEstimator(nn.Module):
    """Base: `forward(cycles, state, output_key=..., ctl=...) -> (state, diagnostics)`.

    Diagnostics hold `residual` [B]: the relative change of the state over the
    last cycle, ||F(z) - z|| / ||F(z)||, so users can see whether L converged.
    """

    def grad_mask(self, updates: list[Update], cycle_lengths: list[int], output_key: str) -> list[bool]:  # pragma: no cover - abstract
        """Which of the flattened updates run with gradient (see `hrmzoo.gradients.rules`).

        Args:
            updates: the segment's updates, flattened (each knows what it writes and reads).
            cycle_lengths: updates per cycle.
            output_key: the state the output heads read.
        """
        raise NotImplementedError

    def output_dependence(self, updates: list[Update], cycle_lengths: list[int], output_key: str) -> list[bool]:
        """Which updates the output's value depends on as this estimator runs the segment
        (default: the segment unrolled as the coupling lists it; `hrmzoo.gradients.rules.dependence`)."""
        return rules.dependence(updates, output_key)

    def gradient_reach(self, updates: list[Update], cycle_lengths: list[int], output_key: str) -> list[bool]:
        """Which updates the output's gradient reaches (their parameters train): the mask's
        updates linked to the output through updates of the mask (`rules.reach`)."""
        return rules.reach(updates, self.grad_mask(updates, cycle_lengths, output_key), output_key)

    def widening(self, updates: list[Update], cycle_lengths: list[int], output_key: str, covers) -> str | None:
        """A setting of this estimator whose reach satisfies `covers(reach) -> bool`, as a
        fix to print ("raise model.gradient.k to 5"), or None when it has no such knob."""
        return None

    def forward(self, cycles: list[list[Update]], state: State, *, output_key: str, ctl=None) -> tuple[State, dict[str, torch.Tensor]]:
        """Run one segment's cycles from `state`.

        Args:
            cycles: the coupling's updates, cycle by cycle.
            state: the incoming state.
            output_key: the state the heads read (gradient rules start from it).
            ctl: the segment's controller context (for losses computed inside the cycle).
        """
        raise NotImplementedError  # pragma: no cover - abstract


class MaskedEstimator(GradientEstimator):
    """Runs every update; those outside the mask run under `no_grad`.

    An update under `no_grad` saves nothing for backward, so the memory of a
    segment depends only on how many updates the mask selects.
    """

    def forward(self, cycles, state, *, output_key, ctl=None):
        flat = [u for cyc in cycles for u in cyc]
        lengths = [len(c) for c in cycles]
        mask = self.grad_mask(flat, lengths, output_key)
        last_start = len(flat) - lengths[-1]
        grad_on = torch.is_grad_enabled()
        before_last = state
        for i, update in enumerate(flat):
            if i == last_start:
                before_last = {k: v.detach() for k, v in state.items()}
            with torch.set_grad_enabled(grad_on and mask[i]):
                state = update(state)
        with torch.no_grad():
            residual = state_residual(state, before_last)
        return state, {"residual": residual}
