"""Single-level recurrence: the "no hierarchy" ablation.

The one-level case of the level scheme (`hrmzoo.couplings.base`): level L with
state z, whose context is the input x alone. Its own coupling because a
cycle here is `steps` updates of the one level, which a stack of levels
cannot say (its cycle is one update of the slowest level).
"""

from __future__ import annotations

from pydantic import Field

from hrmzoo.couplings.base import Coupling, CouplingConfig, LevelSpec, level_update
from hrmzoo.registry import register


class FlatConfig(CouplingConfig):
    """One state, one network.

    Attributes:
        cycles: cycles per segment.
        steps: updates per cycle (cycles x steps updates in all).
    """

    cycles: int = Field(2, gt=0)
    steps: int = Field(2, gt=0)


@register("coupling", "flat", config=FlatConfig, sizes=('levels',))
class FlatCoupling(Coupling):
    """z <- net(z + x), cycles x steps times; one state read by the heads.

    A recipe's `h_block` is ignored (no untrained block is counted or regularised).
    """

    def __init__(self, cfg: FlatConfig, levels: tuple[LevelSpec, ...] | None = None):
        super().__init__()
        self.cfg = cfg
        self.levels = tuple(levels) if levels else self.level_specs(cfg, None)

    @classmethod
    def level_specs(cls, cfg: FlatConfig, model_cfg) -> tuple[LevelSpec, ...]:
        if model_cfg is None:
            return (LevelSpec("L", "z"),)
        return (LevelSpec("L", "z", 1, model_cfg.l_block, model_cfg.injection),)

    def cycles(self, levels, x, ctl):
        step = level_update(self.levels, levels, 0, x, ctl)
        return [[step] * self.cfg.steps for _ in range(self.cfg.cycles)]
