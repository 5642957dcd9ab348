"""HRM's two-level coupling: a fast L module and a slow H module."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hrmzoo.couplings.base import Coupling, CouplingConfig, Parts, Update
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


@register("coupling", "hierarchical", config=HierarchicalConfig)
class HierarchicalCoupling(Coupling):
    """z_L <- L(z_L + z_H + x) l_cycles times and z_H <- H(z_H + z_L), h_cycles times."""

    state_keys = ("z_H", "z_L")
    output_key = "z_H"

    def __init__(self, cfg: HierarchicalConfig, model_cfg):
        super().__init__()
        self.cfg = cfg

    def cycles(self, parts: Parts, x, ctl):
        def l_update(s):
            context = ctl.hook("l_context", s["z_H"] + x, state=s)
            new = parts.l_block(parts.l_injection(s["z_L"], context))
            return {**s, "z_L": ctl.hook("l_step", new, old=s["z_L"], state=s)}

        def h_update(s):
            message = ctl.hook("h_message", s["z_L"], state=s)
            new = parts.h_block(parts.h_injection(s["z_H"], message))
            return {**s, "z_H": ctl.hook("h_step", new, old=s["z_H"], state=s)}

        L = Update("L", l_update, writes="z_L", reads=("z_L", "z_H"))
        H = Update("H", h_update, writes="z_H", reads=("z_H", "z_L"))
        cycle = [L] * self.cfg.l_cycles + [H] if self.cfg.order == "L_then_H" else [H] + [L] * self.cfg.l_cycles
        return [list(cycle) for _ in range(self.cfg.h_cycles)]
