"""Estimators that choose a subset of the unrolled updates: one_step, last_cycle, k_step, bptt."""

from __future__ import annotations

from pydantic import Field

from hrmzoo.gradients.base import GradientConfig, MaskedEstimator
from hrmzoo.registry import register


@register("gradient", "one_step", config=GradientConfig)
class OneStepGradient(MaskedEstimator):
    """HRM's one-step gradient: only the last update of each tag (last L, last H) carries gradient."""

    def __init__(self, cfg, model_cfg=None):
        super().__init__()

    def grad_mask(self, tags, cycle_lengths):
        last = {tag: i for i, tag in enumerate(tags)}
        chosen = set(last.values())
        return [i in chosen for i in range(len(tags))]


@register("gradient", "last_cycle", config=GradientConfig)
class LastCycleGradient(MaskedEstimator):
    """TRM: every update of the last cycle carries gradient, earlier cycles none."""

    def __init__(self, cfg, model_cfg=None):
        super().__init__()

    def grad_mask(self, tags, cycle_lengths):
        start = len(tags) - cycle_lengths[-1]
        return [i >= start for i in range(len(tags))]


class KStepConfig(GradientConfig):
    """k-step estimator settings.

    Attributes:
        k: how many of the last updates carry gradient (k-step "phantom" gradient).
    """

    k: int = Field(2, gt=0)


@register("gradient", "k_step", config=KStepConfig)
class KStepGradient(MaskedEstimator):
    """The last k updates carry gradient (truncated backprop through time)."""

    def __init__(self, cfg: KStepConfig, model_cfg=None):
        super().__init__()
        self.k = cfg.k

    def grad_mask(self, tags, cycle_lengths):
        return [i >= len(tags) - self.k for i in range(len(tags))]


@register("gradient", "bptt", config=GradientConfig)
class BPTTGradient(MaskedEstimator):
    """Full backprop through every update of the segment."""

    def __init__(self, cfg, model_cfg=None):
        super().__init__()

    def grad_mask(self, tags, cycle_lengths):
        return [True] * len(tags)
