"""Fixed-point solvers: find z with f(z) = z for a batched map f on tensors [B, ...].

A solver is built from its config (`registry.create("solver", cfg)`) and called
as `solver(f, z0) -> SolverResult`. Every solver measures the same residual,
the relative change `||f(z) - z|| / ||f(z)||`, either per sample (the run
stops when the worst sample is below `tol`) or over the whole batch at once,
and records it at every evaluation of `f` so a caller can see how the solve
went. A solver that stops at `max_iter` without reaching `tol` says so in
`converged`; it never pretends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from pydantic import Field

from hrmzoo.registry import ComponentConfig

Map = Callable[[torch.Tensor], torch.Tensor]


class SolverConfig(ComponentConfig):
    """Fields every solver has.

    Attributes:
        tol: stop once the relative residual ||f(z) - z|| / ||f(z)|| is below this.
        max_iter: most evaluations of f.
        norm: `per_sample` (every sample must reach `tol`; the trace holds the
            worst sample) or `global` (one norm over the whole batch).
    """

    tol: float = Field(1e-4, gt=0)
    max_iter: int = Field(50, gt=0)
    norm: Literal["per_sample", "global"] = "per_sample"


@dataclass
class SolverResult:
    """What a solve returns.

    Attributes:
        z: the best iterate found (lowest residual), same shape as `z0`.
        residual: [B] relative residual of `z` per sample.
        trace: the stopping criterion after every evaluation of f, in order.
        criterion: the stopping criterion at `z` (what is compared to `tol`).
        converged: whether the criterion reached `tol`.
        iterations: evaluations of f.
    """

    z: torch.Tensor
    residual: torch.Tensor
    trace: list[float] = field(default_factory=list)
    criterion: float = float("inf")
    converged: bool = False
    iterations: int = 0


def relative_residual(fz: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-sample ||f(z) - z|| / ||f(z)|| over all non-batch dimensions, [B] in float32 or wider."""
    wide = torch.promote_types(fz.dtype, torch.float32)
    diff = (fz.to(wide) - z.to(wide)).flatten(1).pow(2).sum(1)
    size = fz.to(wide).flatten(1).pow(2).sum(1)
    # a zero map value (e.g. an all-zero adjoint right-hand side) has converged when z is zero too
    return (diff / size.clamp_min(torch.finfo(wide).tiny)).sqrt()


class Solver:
    """Base class: subclasses implement `solve`; `__call__` adds bookkeeping.

    Args:
        cfg: the solver's config.
    """

    def __init__(self, cfg: SolverConfig, **context):
        self.cfg = cfg

    def criterion(self, fz: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(per-sample residual [B], the scalar the stopping rule compares to `tol`)."""
        per_sample = relative_residual(fz, z)
        if self.cfg.norm == "per_sample":
            return per_sample, float(per_sample.max())
        wide = per_sample.dtype
        diff = (fz.to(wide) - z.to(wide)).pow(2).sum()
        size = fz.to(wide).pow(2).sum().clamp_min(torch.finfo(wide).tiny)
        return per_sample, float((diff / size).sqrt())

    @torch.no_grad()
    def __call__(self, f: Map, z0: torch.Tensor) -> SolverResult:
        """Solve `f(z) = z` from `z0` without building a graph."""
        return self.solve(f, z0)

    def solve(self, f: Map, z0: torch.Tensor) -> SolverResult:  # pragma: no cover - abstract
        """Find `z` with `f(z) = z` from `z0`: what a solver implements (called under no_grad)."""
        raise NotImplementedError


class Tracker:
    """Keeps the trace and the best iterate seen so far (solvers need not be monotone)."""

    def __init__(self, solver: Solver, z0: torch.Tensor):
        self.solver = solver
        self.result = SolverResult(z=z0, residual=torch.full((z0.shape[0],), float("inf")))

    def record(self, z: torch.Tensor, fz: torch.Tensor) -> bool:
        """Note iterate `z` with its map value `fz`; True once the criterion is below tol."""
        per_sample, crit = self.solver.criterion(fz, z)
        res = self.result
        res.trace.append(crit)
        res.iterations += 1
        if crit < res.criterion or res.iterations == 1:
            res.z, res.residual, res.criterion = z, per_sample, crit
        res.converged = res.criterion < self.solver.cfg.tol
        return res.converged
