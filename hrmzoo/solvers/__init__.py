"""Fixed-point solvers (used by the implicit gradient estimator)."""

from hrmzoo.solvers import anderson, fixed_point  # noqa: F401  (registers)
from hrmzoo.solvers.base import Solver, SolverConfig, SolverResult, relative_residual

__all__ = ["Solver", "SolverConfig", "SolverResult", "make_solver", "relative_residual"]


def make_solver(name: str, **fields) -> Solver:
    """Build the registered solver `name` with config `fields` (e.g. tol, max_iter, memory)."""
    from hrmzoo import registry

    entry = registry.get("solver", name)
    return entry.cls(entry.config(**fields))
