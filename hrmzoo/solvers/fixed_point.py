"""Plain (optionally damped) fixed-point iteration."""

from __future__ import annotations

from pydantic import Field

from hrmzoo.registry import register
from hrmzoo.solvers.base import Map, Solver, SolverConfig, SolverResult, Tracker


class FixedPointConfig(SolverConfig):
    """Picard iteration `z <- (1 - damping) z + damping f(z)`.

    Attributes:
        damping: step size in (0, 1]; 1 is plain iteration `z <- f(z)`.
    """

    damping: float = Field(1.0, gt=0, le=1)


@register("solver", "fixed_point", config=FixedPointConfig, sizes=())
class FixedPointSolver(Solver):
    """Plain fixed-point iteration; converges at the contraction rate of f."""

    def solve(self, f: Map, z0) -> SolverResult:
        track = Tracker(self, z0)
        z, a = z0, self.cfg.damping
        for _ in range(self.cfg.max_iter):
            fz = f(z)
            if track.record(z, fz):
                break
            z = fz if a == 1.0 else z + a * (fz - z)
        return track.result
