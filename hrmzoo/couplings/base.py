"""Couplings: the schedule of one segment as a list of cycles of updates over levels.

A model is a stack of *levels*, fastest first (HRM: L then H; a three-level
model: L, M, H). Each level has a state tensor, a block and an injection (its
own, or those of another level it shares them with, as TRM's one network
serves both its latent z and its answer y), and a *period*: how many updates
of the level below come before one update of this level.

A coupling does not run anything. `cycles(...)` returns the segment as a list
of cycles, each a list of `Update` (a tagged function state -> state); the
gradient estimator decides which updates run with gradient. This keeps every
estimator usable with every coupling. For the implicit estimator one cycle is
the map F whose fixed point is solved.

The update rule of a level is the same for every coupling (`level_update`):
level i's block reads its own state injected with what it hears, the state of
the level below (its *message*, the HRM H update's z_L) plus the state of the
level above (its *context*, the HRM L update's z_H), and the fastest level's
context also carries the input x. HRM, TRM and the flat ablation are the two-
and one-level cases, so their outputs are those of the earlier hand-written
couplings bit for bit (tests/test_fidelity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from torch import nn

from hrmzoo.errors import RecipeError
from hrmzoo.registry import ComponentConfig

State = dict[str, torch.Tensor]
HOOK_ROLES = ("context", "message", "step")


@dataclass(frozen=True)
class Update:
    """One primitive update of the state.

    Attributes:
        tag: the level it belongs to ("L", "M", "H"...); used for reports.
        fn: state -> state; replaces the `writes` entry.
        writes: the state key the update replaces.
        reads: the state keys it reads (its own key included when it does).
            Gradient estimators choose updates by this data dependence, not by
            position, so a rule is right for every order of the updates.
        reads_input: whether it reads the embedded input x (the fastest level's
            context does). Building a model refuses a schedule whose output depends
            on no such update (`hrmzoo.gradients.coverage`).
    """

    tag: str
    fn: Callable[[State], State]
    writes: str = ""
    reads: tuple[str, ...] = ()
    reads_input: bool = False

    def __call__(self, state: State) -> State:
        return self.fn(state)


@dataclass(frozen=True)
class LevelSpec:
    """One level as the recipe describes it (nothing built yet).

    Attributes:
        name: the level's name and update tag ("L", "M", "H"); its networks are
            the model's `<name lower>_block` and `<name lower>_injection`, its
            controller hook points `<name lower>_context`, `_message`, `_step`.
        state_key: the state tensor it updates ("z_L"; TRM: "z", "y").
        period: updates of the level below per update of this one (1 for the fastest).
        block: the block config it builds (None when shared, or when a coupling
            is built on its own, without a model).
        injection: the injection config it builds (None: as `block`).
        shared_with: the level whose block and injection it runs instead of its own.
    """

    name: str
    state_key: str
    period: int = 1
    block: Any = None
    injection: Any = None
    shared_with: str | None = None

    @property
    def prefix(self) -> str:
        """Lower-case name: the prefix of its module names and hook points."""
        return self.name.lower()

    def hook(self, role: str) -> str:
        """This level's hook point for `role` (context, message or step), e.g. `l_step`."""
        return f"{self.prefix}_{role}"


@dataclass(frozen=True)
class Level:
    """One level's networks at run time (owned by the model, not the coupling)."""

    block: nn.Module
    injection: nn.Module


Levels = Mapping[str, Level]
"""Level name -> its networks, fastest level first; a shared level maps to the networks it shares."""


def hook_points(specs: Sequence[LevelSpec]) -> tuple[str, ...]:
    """Every controller hook point the levels pass, fastest level first.

    The fastest level hears a context (the level above plus x) and no message;
    the slowest hears a message (the level below) and no context, so two
    levels have HRM's `l_context`, `l_step`, `h_message`, `h_step`; a middle
    level M passes `m_message`, `m_context` and `m_step`.
    """
    points = []
    for i, spec in enumerate(specs):
        if i > 0:
            points.append(spec.hook("message"))
        if i == 0 or i < len(specs) - 1:
            points.append(spec.hook("context"))
        points.append(spec.hook("step"))
    return tuple(points)


def level_update(specs: Sequence[LevelSpec], levels: Levels, i: int, x, ctl) -> Update:
    """The update of level `i`: z_i <- block_i(injection_i(z_i, message + context)).

    message = z_{i-1} (the level below; none for the fastest level), context =
    z_{i+1} (the level above; none for the slowest level) plus x for the
    fastest level (x alone when it is the only level). Both pass their hook
    points before they are added, and the new state passes `<level>_step`.
    """
    spec = specs[i]
    net = levels[spec.name]
    key = spec.state_key
    below = specs[i - 1].state_key if i > 0 else None
    above = specs[i + 1].state_key if i + 1 < len(specs) else None

    def update(s):
        heard = None
        if below is not None:
            heard = ctl.hook(spec.hook("message"), s[below], state=s)
        if i == 0:
            context = ctl.hook(spec.hook("context"), s[above] + x if above is not None else x, state=s)
            heard = context if heard is None else heard + context
        elif above is not None:
            context = ctl.hook(spec.hook("context"), s[above], state=s)
            heard = heard + context
        new = net.block(net.injection(s[key], heard))
        return {**s, key: ctl.hook(spec.hook("step"), new, old=s[key], state=s)}

    reads = tuple(k for k in (key, below, above) if k is not None)
    return Update(spec.name, update, writes=key, reads=reads, reads_input=i == 0)


def nested_cycle(specs: Sequence[LevelSpec], order: Literal["fast_first", "slow_first"]) -> list[int]:
    """One cycle as level indices: one update of the slowest level and everything under it.

    With `fast_first` a level updates after its `period` runs of the level
    below (HRM: L L H; three levels with periods 2, 2: L L M L L M H); with
    `slow_first` before them (H L L).
    """

    def unit(i: int) -> list[int]:
        if i == 0:
            return [0]
        below = unit(i - 1) * specs[i].period
        return below + [i] if order == "fast_first" else [i] + below

    return unit(len(specs) - 1)


def nested_cycles(specs: Sequence[LevelSpec], levels: Levels, x, ctl, *, cycles: int, order: Literal["fast_first", "slow_first"]) -> list[list[Update]]:
    """`cycles` repetitions of `nested_cycle`, as `Update`s."""
    updates = [level_update(specs, levels, i, x, ctl) for i in range(len(specs))]
    one = [updates[i] for i in nested_cycle(specs, order)]
    return [list(one) for _ in range(cycles)]


class CouplingConfig(ComponentConfig):
    """Couplings have no shared fields."""


class Coupling(nn.Module):
    """Base class.

    A coupling is built as `Coupling(cfg, levels=...)`: its config and the
    model's `LevelSpec`s (from `level_specs`). It exposes the levels, the state
    tensors and which of them the output heads read.

    Attributes:
        levels: the `LevelSpec`s it schedules, fastest first.
    """

    levels: tuple[LevelSpec, ...] = ()

    @classmethod
    def level_specs(cls, cfg, model_cfg) -> tuple[LevelSpec, ...]:
        """The levels a recipe's model section asks for under this coupling, fastest first.

        Args:
            cfg: this coupling's config.
            model_cfg: the recipe's model section (block and injection configs), or
                None to get the levels without their network configs.
        """
        # a coupling written before issue 13 (against `Parts`) lands here: say what changed
        raise RecipeError(
            f"coupling {cls.__module__}.{cls.__name__} does not define level_specs(cfg, model_cfg): since hrmzoo's "
            f"N-level model, a coupling names its levels (LevelSpec) and its cycles(levels, x, ctl) takes level name -> "
            f"(block, injection) instead of Parts; see hrmzoo.couplings.base"
        )

    @property
    def state_keys(self) -> tuple[str, ...]:
        """Names of the state tensors, each [B, S, D], slowest level first."""
        return tuple(spec.state_key for spec in reversed(self.levels))

    @property
    def output_key(self) -> str:
        """The state the output heads read: the slowest level's."""
        return self.levels[-1].state_key

    def hook_points(self) -> tuple[str, ...]:
        """The controller hook points its updates pass."""
        return hook_points(self.levels)

    def cycles(self, levels: Levels, x: torch.Tensor, ctl) -> list[list[Update]]:  # pragma: no cover - abstract
        """The segment as cycles of tagged updates: what a coupling implements.

        Each `Update` closes over `levels`, `x` and `ctl` and maps the state dict to
        a new one; it should pass its values through `ctl.hook(...)` at the hook
        points so any controller works (`level_update` does). Nothing runs here:
        the gradient estimator runs the updates and decides which carry gradient,
        and `schedule` (and the diagrams of `hrmzoo build --schedule`) read the tags.

        Args:
            levels: level name -> the networks the model owns (block and injection).
            x: the embedded input [B, S, D].
            ctl: the segment's controller context (its `hook` method).

        Returns:
            One list of updates per cycle; for the implicit estimator one cycle
            is the map whose fixed point is solved.
        """
        raise NotImplementedError

    def stand_in_levels(self, block: Callable[[], nn.Module] = nn.Identity, injection: Callable[[], nn.Module] = nn.Identity) -> dict[str, Level]:
        """Stand-in networks for every level (for reports and probes; not meant to train)."""
        return {spec.name: Level(block(), injection()) for spec in self.levels}

    def plan(self) -> list[list[Update]]:
        """One segment's updates, cycle by cycle, built on stand-in identity networks (for
        reports and gradient masks; the functions are not meant to run)."""
        return self.cycles(self.stand_in_levels(), None, None)

    def schedule(self) -> list[list[str]]:
        """The tags of one segment's updates, cycle by cycle (for reports)."""
        return [[u.tag for u in cyc] for cyc in self.plan()]
