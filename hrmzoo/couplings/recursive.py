"""TRM's recursion: one network updates a latent z from (x, y, z), then the answer y."""

from __future__ import annotations

from pydantic import Field

from hrmzoo.couplings.base import Coupling, CouplingConfig, Parts, Update
from hrmzoo.registry import register


class RecursiveConfig(CouplingConfig):
    """TRM schedule.

    Attributes:
        t_cycles: rounds per segment (TRM's T, its H_cycles).
        n_cycles: latent updates per round (TRM's n, its L_cycles).
    """

    t_cycles: int = Field(3, gt=0)
    n_cycles: int = Field(6, gt=0)


@register("coupling", "recursive", config=RecursiveConfig)
class RecursiveCoupling(Coupling):
    """TRM: z <- net(z + x + y) n times, then y <- net(y + z); T rounds, one shared net.

    The presence of x in the input tells the shared network which job it does.
    With an `h_block` in the recipe, y gets its own network (TRM's
    "separate networks" ablation).
    """

    state_keys = ("y", "z")
    output_key = "y"
    h_block_use = "optional"

    def __init__(self, cfg: RecursiveConfig, model_cfg):
        super().__init__()
        self.cfg = cfg

    def cycles(self, parts: Parts, x, ctl):
        y_net = parts.h_block if parts.h_block is not None else parts.l_block
        y_inj = parts.h_injection if parts.h_injection is not None else parts.l_injection

        def z_update(s):
            context = ctl.hook("l_context", s["y"] + x, state=s)
            new = parts.l_block(parts.l_injection(s["z"], context))
            return {**s, "z": ctl.hook("l_step", new, old=s["z"], state=s)}

        def y_update(s):
            message = ctl.hook("h_message", s["z"], state=s)
            new = y_net(y_inj(s["y"], message))
            return {**s, "y": ctl.hook("h_step", new, old=s["y"], state=s)}

        Z = Update("L", z_update, writes="z", reads=("z", "y"))
        Y = Update("H", y_update, writes="y", reads=("y", "z"))
        return [[Z] * self.cfg.n_cycles + [Y] for _ in range(self.cfg.t_cycles)]
