"""N levels, fastest first, each updating once per `period` updates of the level below.

The general form of the hierarchy (issue 13): `model.levels` lists the levels,
fastest first; this coupling schedules them. HRM is two levels:

    levels: [{name: L, block: ...}, {name: H, period: 2}]   # H after every 2 L updates
    coupling: {type: levels, steps: 4}                      # 4 L updates per segment: L L H L L H

and a third level goes in between (`L L M L L M H` with periods 2 and 2).
`hierarchical`, `recursive` (TRM) and `flat` remain as couplings of their own:
they are the two-, two- and one-level cases of the same update rule
(`hrmzoo.couplings.base.level_update`) and keep their recipe keys (`l_block`,
`h_block`, `h_cycles`...), parameter names and outputs, so every existing
recipe, checkpoint and `hrmzoo import` mapping works unchanged; they are sugar,
not a second implementation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hrmzoo.couplings.base import Coupling, CouplingConfig, LevelSpec, nested_cycles
from hrmzoo.registry import register


class LevelsConfig(CouplingConfig):
    """Schedule of `model.levels`.

    Attributes:
        steps: updates of the fastest level per segment; a multiple of the
            fastest level's updates per update of the slowest one (the product
            of the periods), so a segment is whole cycles.
        order: `fast_first` (a level updates after the runs of the levels below
            it, as HRM's `L_then_H`) or `slow_first` (before them, `H_then_L`).
    """

    steps: int = Field(4, gt=0)
    order: Literal["fast_first", "slow_first"] = "fast_first"


def updates_per_slowest(periods: list[int]) -> list[int]:
    """Updates of the fastest level per update of each level (the running product of periods)."""
    out, acc = [], 1
    for i, p in enumerate(periods):
        acc *= p if i else 1
        out.append(acc)
    return out


@register("coupling", "levels", config=LevelsConfig, sizes=('levels',))
class LevelsCoupling(Coupling):
    """`model.levels`, fastest first: level i updates after every `period` updates of level i-1."""

    def __init__(self, cfg: LevelsConfig, levels: tuple[LevelSpec, ...] | None = None):
        super().__init__()
        if not levels:
            raise ValueError("coupling 'levels' schedules model.levels: give the list of levels, fastest first")
        self.cfg = cfg
        self.levels = tuple(levels)

    @classmethod
    def level_specs(cls, cfg: LevelsConfig, model_cfg) -> tuple[LevelSpec, ...]:
        """One spec per entry of `model.levels`: state `z_<name>`; a level without `block` or
        `shared_with` copies the fastest level's block config (with its own weights)."""
        if model_cfg is None or not getattr(model_cfg, "levels", None):
            raise ValueError("coupling 'levels' needs model.levels (a list of levels, fastest first)")
        first = model_cfg.levels[0].block
        specs = []
        for level in model_cfg.levels:
            block = None if level.shared_with else (level.block if level.block is not None else first)
            injection = None if level.shared_with else (level.injection if level.injection is not None else model_cfg.injection)
            specs.append(LevelSpec(level.name, f"z_{level.name}", level.period, block, injection, level.shared_with))
        return tuple(specs)

    def cycles(self, levels, x, ctl):
        per_cycle = updates_per_slowest([s.period for s in self.levels])[-1]
        return nested_cycles(self.levels, levels, x, ctl, cycles=self.cfg.steps // per_cycle, order=self.cfg.order)
