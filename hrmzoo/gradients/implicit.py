"""The implicit (deep-equilibrium) gradient estimator.

The segment's last cycle is a map F on the whole state (all state tensors,
flattened and concatenated per sample). The forward pass solves z* = F(z*)
without a graph, then applies F once more with gradient: z = F(z*). In the
backward pass a hook on z replaces the incoming gradient dL/dz by the solution
g of the adjoint equation g = J^T g + dL/dz (J = dF/dz at z*), found by the
same kind of fixed-point solve with vector-Jacobian products. Backpropagating
g through the one differentiable application then gives the implicit-function-
theorem gradient g^T dF/dtheta, whatever F is made of, so the estimator works
with every coupling. Memory is that of one cycle, independent of how many
iterations the solve takes.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch
from pydantic import Field, model_validator

from hrmzoo import registry
from hrmzoo.couplings.base import State, Update
from hrmzoo.gradients.base import GradientConfig, GradientEstimator, state_residual
from hrmzoo.solvers.base import SolverResult


class SolverNotConvergedWarning(RuntimeWarning):
    """A forward or adjoint solve stopped at max_iter above its tolerance."""


class ImplicitConfig(GradientConfig):
    """Implicit differentiation at the fixed point of one cycle.

    Attributes:
        solver: registered solver for the forward fixed point (`hrmzoo list solver`).
        tol: forward relative-residual tolerance.
        max_iter: most forward cycles per segment.
        backward_solver: solver for the adjoint equation (None: the same as `solver`).
        backward_tol: adjoint relative-residual tolerance.
        backward_max_iter: most vector-Jacobian products in the adjoint solve.
        solver_options: extra fields of the solver's config (e.g. `{memory: 5}`
            for Anderson); applied to the forward and the adjoint solver.
    """

    solver: str = "anderson"
    tol: float = Field(1e-4, gt=0)
    max_iter: int = Field(30, gt=0)
    backward_solver: Optional[str] = None
    backward_tol: float = Field(1e-4, gt=0)
    backward_max_iter: int = Field(30, gt=0)
    solver_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_solvers(self):
        # fail at recipe validation, not mid-training: names and options must build
        for name in {self.solver, self.backward_solver or self.solver}:
            entry = registry.get("solver", name)
            allowed = set(entry.config.model_fields) - {"tol", "max_iter", "type"}
            bad = sorted(set(self.solver_options) - allowed)
            if bad:
                raise ValueError(f"solver_options {bad} not accepted by solver '{name}' (allowed: {', '.join(sorted(allowed)) or 'none'}; tol/max_iter are set by the estimator)")
            entry.config(**self.solver_options)
        return self

    def make_solvers(self):
        """(forward solver, adjoint solver) built from the registry."""
        def build(name, tol, max_iter):
            entry = registry.get("solver", name)
            return entry.cls(entry.config(tol=tol, max_iter=max_iter, **self.solver_options))

        return (
            build(self.solver, self.tol, self.max_iter),
            build(self.backward_solver or self.solver, self.backward_tol, self.backward_max_iter),
        )


class _Packing:
    """State dict <-> one flat tensor [B, N] (the vector the solvers work on)."""

    def __init__(self, state: State):
        self.keys = list(state)
        self.shapes = [state[k].shape[1:] for k in self.keys]
        self.sizes = [state[k][0].numel() for k in self.keys]

    def pack(self, state: State) -> torch.Tensor:
        return torch.cat([state[k].flatten(1) for k in self.keys], 1)

    def unpack(self, z: torch.Tensor) -> State:
        parts = torch.split(z, self.sizes, dim=1)
        return {k: p.view(z.shape[0], *s) for k, p, s in zip(self.keys, parts, self.shapes)}


@registry.register("gradient", "implicit", config=ImplicitConfig)
class ImplicitGradient(GradientEstimator):
    """Implicit function theorem at the fixed point of the last cycle (DEQ-style).

    Diagnostics: `residual` [B] (relative change over the differentiable
    cycle, as for every estimator), `solver_residual` [B] and
    `solver_converged` (0-dim bool) of the forward solve, `solver_trace`
    [iterations] (its stopping criterion per cycle) and `solver_iterations`.
    A solve that misses its tolerance also raises a
    `SolverNotConvergedWarning`. After a backward pass the adjoint
    solve's result is in `last_adjoint`.
    """

    def __init__(self, cfg: ImplicitConfig, model_cfg=None):
        super().__init__()
        self.cfg = cfg
        self.solver, self.adjoint_solver = cfg.make_solvers()
        self.last_adjoint: SolverResult | None = None

    def grad_mask(self, updates, cycle_lengths, output_key):
        # the solve runs without graph; the last cycle is applied once with gradient
        start = len(updates) - cycle_lengths[-1]
        return [i >= start for i in range(len(updates))]

    def describe(self) -> list[str]:
        """Lines for `hrmzoo build`: what actually runs in a segment."""
        c = self.cfg
        return [
            f"forward: {c.solver} solve of the last cycle's fixed point, tol {c.tol:g}, at most {c.max_iter} cycles, no graph",
            "then one differentiable application of the last cycle (its updates carry gradient once)",
            f"backward: adjoint {c.backward_solver or c.solver} solve, tol {c.backward_tol:g}, at most {c.backward_max_iter} vector-Jacobian products",
        ]

    def forward(self, cycles: list[list[Update]], state: State, *, output_key: str = "", ctl=None):
        cycle = cycles[-1]
        packing = _Packing(state)

        def F(z: torch.Tensor) -> torch.Tensor:
            s = packing.unpack(z)
            for update in cycle:
                s = update(s)
            return packing.pack(s)

        solved = self.solver(F, packing.pack(state).detach())
        self._check(solved, "forward")
        if ctl is not None:
            ctl.reset_losses()  # the solver's iterates are not the model's output
        z_star = solved.z.detach()
        if torch.is_grad_enabled():
            z_in = z_star.clone().requires_grad_()
            z_out = F(z_in)
            if z_out.requires_grad:
                z_out.register_hook(self._adjoint_hook(z_in, z_out))
                if ctl is not None and ctl.aux_losses:
                    self._reread_losses(F, z_out, ctl)
        else:
            z_out = F(z_star)
        new = packing.unpack(z_out)
        with torch.no_grad():
            residual = state_residual({k: v.detach() for k, v in new.items()}, packing.unpack(z_star))
        diagnostics = {
            "residual": residual,
            "solver_residual": solved.residual,
            "solver_converged": torch.tensor(solved.converged),
            "solver_trace": torch.tensor(solved.trace),
            "solver_iterations": torch.tensor(solved.iterations),
        }
        return new, diagnostics

    @staticmethod
    def _reread_losses(F, z_out: torch.Tensor, ctl) -> None:
        """Compute the cycle's auxiliary losses again from `z_out` = F(z*).

        A loss read inside the cycle (the quaternion controller's framing loss)
        depends on z* as well as on the weights. Applied to z* itself (a leaf)
        it would get only its direct gradient; applied to `z_out`, whose
        gradient hook solves the adjoint equation, its gradient through z*
        gets the implicit-function-theorem term too: one extra application of
        the cycle, only when such losses exist. The activity trace keeps the
        values of the first application.
        """
        trace = {k: list(v) for k, v in ctl.trace.items()}
        ctl.reset_losses()
        F(z_out)
        ctl.trace = trace

    def _adjoint_hook(self, z_in: torch.Tensor, z_out: torch.Tensor):
        """A gradient hook on z = F(z*) that returns (I - J^T)^{-1} dL/dz."""
        busy = False

        def hook(grad: torch.Tensor):
            nonlocal busy
            if busy or grad is None:  # the vector-Jacobian products below pass through z_out themselves
                return None
            busy = True
            try:
                def adjoint_map(g):
                    vjp = torch.autograd.grad(z_out, z_in, g, retain_graph=True)[0]
                    return vjp + grad

                result = self.adjoint_solver(adjoint_map, grad.detach())
            finally:
                busy = False
            self.last_adjoint = result
            self._check(result, "adjoint")
            return result.z

        return hook

    def _check(self, result: SolverResult, which: str) -> None:
        if result.converged:
            return
        tol, cap = (self.cfg.tol, "max_iter") if which == "forward" else (self.cfg.backward_tol, "backward_max_iter")
        warnings.warn(
            f"implicit gradient: {which} solve stopped at residual {result.criterion:.2e} > tol {tol:g} "
            f"after {result.iterations} iterations; raise model.gradient.{cap}, loosen the tolerance, "
            f"or make the cycle more contractive",
            SolverNotConvergedWarning,
            stacklevel=3,
        )
