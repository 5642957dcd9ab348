"""TRM's recursion: one network updates a latent z from (x, y, z), then the answer y.

A two-level case of the level scheme (`hrmzoo.couplings.base`): level L is the
latent z (period 1), level H the answer y (period n_cycles), and H runs L's
network (`shared_with: L`). It stays a coupling of its own rather than a
`levels` recipe so that TRM recipes read in the paper's terms (T, n, the state
names y and z that `hrmzoo import trm` maps onto).
"""

from __future__ import annotations

from pydantic import Field

from hrmzoo.couplings.base import Coupling, CouplingConfig, LevelSpec, nested_cycles
from hrmzoo.registry import register


class RecursiveConfig(CouplingConfig):
    """TRM schedule.

    Attributes:
        t_cycles: rounds per segment (TRM's T, its H_cycles).
        n_cycles: latent updates per round (TRM's n, its L_cycles).
    """

    t_cycles: int = Field(3, gt=0)
    n_cycles: int = Field(6, gt=0)


@register("coupling", "recursive", config=RecursiveConfig, sizes=('levels',))
class RecursiveCoupling(Coupling):
    """TRM: z <- net(z + x + y) n times, then y <- net(y + z); T rounds, one shared net.

    The presence of x in the input tells the shared network which job it does.
    With an `h_block` in the recipe, y gets its own network (TRM's
    "separate networks" ablation).
    """

    def __init__(self, cfg: RecursiveConfig, levels: tuple[LevelSpec, ...] | None = None):
        super().__init__()
        self.cfg = cfg
        self.levels = tuple(levels) if levels else self.level_specs(cfg, None)

    @classmethod
    def level_specs(cls, cfg: RecursiveConfig, model_cfg) -> tuple[LevelSpec, ...]:
        """L (z, `l_block`) and H (y: `h_block` when the recipe gives one, else L's network)."""
        if model_cfg is None or model_cfg.h_block is None:
            injection = model_cfg.injection if model_cfg is not None else None
            h = LevelSpec("H", "y", cfg.n_cycles, shared_with="L")
        else:
            injection = model_cfg.injection
            h = LevelSpec("H", "y", cfg.n_cycles, model_cfg.h_block, injection)
        l_block = model_cfg.l_block if model_cfg is not None else None
        return (LevelSpec("L", "z", 1, l_block, injection), h)

    def cycles(self, levels, x, ctl):
        return nested_cycles(self.levels, levels, x, ctl, cycles=self.cfg.t_cycles, order="fast_first")
