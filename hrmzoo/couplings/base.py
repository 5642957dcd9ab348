"""Couplings: the schedule of one segment as a list of cycles of updates.

A coupling does not run anything. `cycles(...)` returns the segment as a list
of cycles, each a list of `Update` (a tagged function state -> state);
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
    """One primitive update of the state.

    Attributes:
        tag: the level it belongs to, "L" (fast/latent) or "H" (slow/answer);
            used for reports.
        fn: state -> state; replaces the `writes` entry.
        writes: the state key the update replaces.
        reads: the state keys it reads (its own key included when it does).
            Gradient estimators choose updates by this data dependence, not by
            position, so a rule is right for every order of the updates.
    """

    tag: str
    fn: Callable[[State], State]
    writes: str = ""
    reads: tuple[str, ...] = ()

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
            `mirror` (always; with no `h_block` in the recipe it copies
            `l_block`'s configuration, with its own weights), `optional`
            (only when the recipe gives `h_block`) or `never` (a recipe's
            `h_block` is ignored, so no untrained block is counted or
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
        """The segment as cycles of tagged updates: what a coupling implements.

        Each `Update` closes over `parts`, `x` and `ctl` and maps the state dict to
        a new one; it should pass its values through `ctl.hook(...)` at the hook
        points so any controller works. Nothing runs here: the gradient
        estimator runs the updates and decides which carry gradient, and
        `schedule` (and the diagrams of `hrmzoo build --schedule`) read the tags.

        Args:
            parts: the networks the model owns (blocks and injections).
            x: the embedded input [B, S, D].
            ctl: the segment's controller context (its `hook` method).

        Returns:
            One list of updates per cycle; for the implicit estimator one cycle
            is the map whose fixed point is solved.
        """
        raise NotImplementedError

    def plan(self) -> list[list[Update]]:
        """One segment's updates, cycle by cycle, built on stand-in identity networks (for
        reports and gradient masks; the functions are not meant to run)."""
        dummy = Parts(nn.Identity(), nn.Identity(), nn.Identity(), nn.Identity())
        return self.cycles(dummy, None, None)

    def schedule(self) -> list[list[str]]:
        """The tags of one segment's updates, cycle by cycle (for reports)."""
        return [[u.tag for u in cyc] for cyc in self.plan()]
