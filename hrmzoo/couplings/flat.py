"""Single-level recurrence: the "no hierarchy" ablation."""

from __future__ import annotations

from pydantic import Field

from hrmzoo.couplings.base import Coupling, CouplingConfig, Parts, Update
from hrmzoo.registry import register


class FlatConfig(CouplingConfig):
    """One state, one network.

    Attributes:
        cycles: cycles per segment.
        steps: updates per cycle (cycles x steps updates in all).
    """

    cycles: int = Field(2, gt=0)
    steps: int = Field(2, gt=0)


@register("coupling", "flat", config=FlatConfig)
class FlatCoupling(Coupling):
    """z <- net(z + x), cycles x steps times; one state read by the heads."""

    state_keys = ("z",)
    output_key = "z"
    h_block_use = "never"

    def __init__(self, cfg: FlatConfig, model_cfg):
        super().__init__()
        self.cfg = cfg

    def cycles(self, parts: Parts, x, ctl):
        def update(s):
            context = ctl.hook("l_context", x, state=s)
            new = parts.l_block(parts.l_injection(s["z"], context))
            return {**s, "z": ctl.hook("l_step", new, old=s["z"], state=s)}

        step = Update("L", update)
        return [[step] * self.cfg.steps for _ in range(self.cfg.cycles)]
