"""HRM's two-level coupling: a fast L module and a slow H module.

Two-level sugar for `levels` (see `hrmzoo.couplings.levels`): the recipe keys
`l_block`, `h_block` and `l_cycles`/`h_cycles` describe levels L (state z_L,
period 1) and H (state z_H, period l_cycles), repeated h_cycles times. The
networks keep their names (`l_block`, `h_block`, ...), so checkpoints and
`hrmzoo import hrm` are unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hrmzoo.couplings.base import Coupling, CouplingConfig, LevelSpec, nested_cycles
from hrmzoo.registry import register


class HierarchicalConfig(CouplingConfig):
    """Two-level schedule.

    Attributes:
        order: `L_then_H` (HRM: l_cycles L updates, then one H update) or
            `H_then_L` (H first, then the L updates).
        h_cycles: cycles per segment (H updates per segment).
        l_cycles: L updates per cycle.
    """

    order: Literal["L_then_H", "H_then_L"] = "L_then_H"
    h_cycles: int = Field(2, gt=0)
    l_cycles: int = Field(2, gt=0)


@register("coupling", "hierarchical", config=HierarchicalConfig, sizes=('levels',))
class HierarchicalCoupling(Coupling):
    """z_L <- L(z_L + z_H + x) l_cycles times and z_H <- H(z_H + z_L), h_cycles times."""

    def __init__(self, cfg: HierarchicalConfig, levels: tuple[LevelSpec, ...] | None = None):
        super().__init__()
        self.cfg = cfg
        self.levels = tuple(levels) if levels else self.level_specs(cfg, None)

    @classmethod
    def level_specs(cls, cfg: HierarchicalConfig, model_cfg) -> tuple[LevelSpec, ...]:
        """L (z_L, `l_block`) and H (z_H, `h_block`, or a copy of `l_block`'s config with its own weights)."""
        l_block = h_block = injection = None
        if model_cfg is not None:
            l_block, injection = model_cfg.l_block, model_cfg.injection
            h_block = model_cfg.h_block if model_cfg.h_block is not None else model_cfg.l_block
        return (
            LevelSpec("L", "z_L", 1, l_block, injection),
            LevelSpec("H", "z_H", cfg.l_cycles, h_block, injection),
        )

    def cycles(self, levels, x, ctl):
        order = "fast_first" if self.cfg.order == "L_then_H" else "slow_first"
        return nested_cycles(self.levels, levels, x, ctl, cycles=self.cfg.h_cycles, order=order)
