"""Gradient estimators: which updates of a segment carry gradient."""

from hrmzoo.gradients import implicit, masked  # noqa: F401  (registers)
from hrmzoo.gradients.base import GradientConfig, GradientEstimator, MaskedEstimator, state_residual
from hrmzoo.gradients.coverage import UntrainedParametersWarning
from hrmzoo.gradients.implicit import ImplicitConfig, ImplicitGradient, SolverNotConvergedWarning

__all__ = [
    "GradientConfig",
    "GradientEstimator",
    "ImplicitConfig",
    "ImplicitGradient",
    "MaskedEstimator",
    "SolverNotConvergedWarning",
    "UntrainedParametersWarning",
    "state_residual",
]
