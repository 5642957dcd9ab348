"""Gradient estimators: which updates of a segment carry gradient."""

from hrmzoo.gradients import masked  # noqa: F401  (registers)
from hrmzoo.gradients.base import GradientConfig, GradientEstimator, MaskedEstimator, state_residual

__all__ = ["GradientConfig", "GradientEstimator", "MaskedEstimator", "state_residual"]
