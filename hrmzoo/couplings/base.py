"""Couplings: the schedule of one segment as a list of cycles of updates.

A coupling does not run anything. ``cycles(...)`` returns the segment as a list
of cycles, each a list of :class:`Update` (a tagged function state -> state);
the gradient estimator decides which updates run with gradient. This keeps
every estimator usable with every coupling. For the implicit estimator one
cycle is the map F whose fixed point is solved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn

from hrmzoo.registry import ComponentConfig

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Update:
    """One primitive update; ``tag`` is "L" (fast/latent) or "H" (slow/answer)."""

    tag: str
    fn: Callable[[State], State]

    def __call__(self, state: State) -> State:
        return self.fn(state)


@dataclass
class Parts:
    """The networks a coupling schedules (owned by the model, not the coupling)."""

    l_block: nn.Module
    h_block: nn.Module | None
    l_injection: nn.Module
    h_injection: nn.Module | None


class CouplingConfig(ComponentConfig):
    """Couplings have no shared fields."""


class Coupling(nn.Module):
    """Base class.

    Attributes:
        state_keys: names of the state tensors, each [B, S, D].
        output_key: the state the output heads read.
        h_block_use: whether the model builds a separate H network:
            ``mirror`` (always; with no ``h_block`` in the recipe it copies
            ``l_block``'s configuration, with its own weights), ``optional``
            (only when the recipe gives ``h_block``) or ``never`` (a recipe's
            ``h_block`` is ignored, so no untrained block is counted or
            regularised).
    """

    state_keys: tuple[str, ...] = ()
    output_key: str = ""
    h_block_use: Literal["mirror", "optional", "never"] = "mirror"

    def h_block_config(self, model_cfg):
        """The block config the model builds as H for this coupling, or None."""
        if self.h_block_use == "never":
            return None
        if model_cfg.h_block is None and self.h_block_use == "mirror":
            return model_cfg.l_block
        return model_cfg.h_block

    def cycles(self, parts: Parts, x: torch.Tensor, ctl) -> list[list[Update]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def schedule(self) -> list[list[str]]:
        """The tags of one segment's updates, cycle by cycle (for reports)."""
        dummy = Parts(nn.Identity(), nn.Identity(), nn.Identity(), nn.Identity())
        return [[u.tag for u in cyc] for cyc in self.cycles(dummy, None, None)]
