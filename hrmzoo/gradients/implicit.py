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
from typing import Annotated, Any, Optional

import torch
from pydantic import Field, SerializeAsAny, ValidationError, WithJsonSchema, field_validator

import hrmzoo.solvers  # noqa: F401  (registers the built-in solvers the default names)
from hrmzoo import registry
from hrmzoo.couplings.base import State, Update
from hrmzoo.errors import RegistryError
from hrmzoo.gradients import rules
from hrmzoo.gradients.base import GradientConfig, GradientEstimator, state_residual
from hrmzoo.solvers.base import SolverConfig, SolverResult


class SolverNotConvergedWarning(RuntimeWarning):
    """A forward or adjoint solve stopped at max_iter above its tolerance."""


# What the recipe's JSON Schema says of a nested solver: its fields depend on the
# registered solver named by `type`, which the validator below checks.
_SOLVER_SCHEMA = {
    "type": "object",
    "description": "a registered solver's config: {type: NAME, ...its fields} (hrmzoo list solver)",
    "properties": {"type": {"type": "string"}},
    "required": ["type"],
}
NestedSolver = Annotated[SerializeAsAny[SolverConfig], WithJsonSchema(_SOLVER_SCHEMA)]


def default_solver() -> SolverConfig:
    """Anderson with the estimator's long-standing defaults (tol 1e-4, at most 30 cycles)."""
    return solver_config({"type": "anderson", "tol": 1e-4, "max_iter": 30})


def solver_config(value: Any) -> SolverConfig:
    """`{type: NAME, ...}` validated by the config class solver NAME registered."""
    if isinstance(value, SolverConfig) and "type" in type(value).model_fields:
        return value
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ValueError(f"a solver is a mapping with its type, e.g. {{type: anderson, tol: 1.0e-4, max_iter: 30}}; got {value!r}")
    try:
        entry = registry.get("solver", value["type"])
    except RegistryError as exc:
        raise ValueError(str(exc)) from None
    try:
        return entry.config(**value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"solver '{value['type']}': {where + ': ' if where else ''}{first['msg']}") from None


class ImplicitConfig(GradientConfig):
    """Implicit differentiation at the fixed point of one cycle.

    Attributes:
        solver: the forward fixed-point solver, a nested component like every other slot:
            `{type: NAME, ...its fields}` (`hrmzoo list solver`), e.g.
            `{type: anderson, tol: 1.0e-4, max_iter: 30, memory: 5}`.
        backward_solver: the solver of the adjoint equation, in the same form (None: the
            forward solver's config); its `max_iter` counts vector-Jacobian products.
    """

    solver: NestedSolver = Field(default_factory=default_solver)
    backward_solver: Optional[NestedSolver] = None

    @field_validator("solver", "backward_solver", mode="before")
    @classmethod
    def _registered_solver(cls, value):
        # fail at recipe validation, not mid-training: the name must be registered and its fields valid
        return None if value is None else solver_config(value)

    @property
    def adjoint(self) -> SolverConfig:
        """The config of the adjoint solve."""
        return self.backward_solver or self.solver

    def make_solvers(self):
        """(forward solver, adjoint solver) built from the registry."""
        def build(cfg: SolverConfig):
            return registry.get("solver", cfg.type).cls(cfg)

        return build(self.solver), build(self.adjoint)


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


@registry.register("gradient", "implicit", config=ImplicitConfig, sizes=())
class ImplicitGradient(GradientEstimator):
    """Implicit function theorem at the fixed point of the last cycle (DEQ-style).

    Diagnostics: `residual` [B] (relative change over the differentiable
    cycle, as for every estimator), `solver_residual` [B] and
    `solver_converged` (0-dim bool) of the forward solve, `solver_trace`
    [iterations] (its stopping criterion per cycle) and `solver_iterations`.
    A solve that misses its tolerance also raises a
    `SolverNotConvergedWarning`. After a backward pass the adjoint
    solve's result is in `last_adjoint`. The controller's losses and
    activity trace are those of the application at the fixed point (one
    entry per hook call of the cycle), never the solver's iterates.
    """

    def __init__(self, cfg: ImplicitConfig):
        super().__init__()
        self.cfg = cfg
        self.solver, self.adjoint_solver = cfg.make_solvers()
        self.last_adjoint: SolverResult | None = None

    def grad_mask(self, updates, cycle_lengths, output_key):
        # the solve runs without graph; the last cycle is applied once with gradient
        start = len(updates) - cycle_lengths[-1]
        return [i >= start for i in range(len(updates))]

    def output_dependence(self, updates, cycle_lengths, output_key):
        # the output is F(z*) with z* = F(z*): the last cycle as if repeated without end, so an
        # update counts when any repetition of it feeds the output. n + 1 copies of an n-update
        # cycle show every dependence (a shortest chain visits each update of the cycle once).
        n = cycle_lengths[-1]
        start = len(updates) - n
        cycle = list(updates[start:])
        depends = rules.dependence(cycle * (n + 1), output_key)
        return [False] * start + [any(depends[c * n + i] for c in range(n + 1)) for i in range(n)]

    def gradient_reach(self, updates, cycle_lengths, output_key):
        # the adjoint solve carries the output's gradient through z* to every update of the
        # cycle the fixed point depends on: the applied cycle's updates that the output depends on
        return self.output_dependence(updates, cycle_lengths, output_key)

    def describe(self) -> list[str]:
        """Lines for `hrmzoo build`: what actually runs in a segment."""
        fwd, adj = self.cfg.solver, self.cfg.adjoint
        return [
            f"forward: {fwd.type} solve of the last cycle's fixed point, tol {fwd.tol:g}, at most {fwd.max_iter} cycles, no graph",
            "then one differentiable application of the last cycle (its updates carry gradient once)",
            f"backward: adjoint {adj.type} solve, tol {adj.tol:g}, at most {adj.max_iter} vector-Jacobian products",
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
            # the solver's iterates are not the model's output: neither their losses nor their
            # activity count (evaluation averages every trace entry into its activity table)
            ctl.reset_losses()
            ctl.reset_trace()
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
        cfg, key = (self.cfg.solver, "solver") if which == "forward" else (self.cfg.adjoint, "backward_solver")
        tol, cap = cfg.tol, f"{key}.max_iter"
        warnings.warn(
            f"implicit gradient: {which} solve stopped at residual {result.criterion:.2e} > tol {tol:g} "
            f"after {result.iterations} iterations; raise model.gradient.{cap}, loosen the tolerance, "
            f"or make the cycle more contractive",
            SolverNotConvergedWarning,
            stacklevel=3,
        )
