"""Estimators that choose a subset of the unrolled updates: one_step, last_cycle, k_step, bptt."""

from __future__ import annotations

from pydantic import Field

from hrmzoo.gradients import rules
from hrmzoo.gradients.base import GradientConfig, MaskedEstimator
from hrmzoo.registry import register


@register("gradient", "one_step", config=GradientConfig, sizes=())
class OneStepGradient(MaskedEstimator):
    """HRM's one-step gradient: one update per state, the one the output reads.

    The last update of the output state (HRM: the last H update) and, for each
    state it reads, that state's last update before it (the last L update
    before the last H update), followed transitively: see
    `hrmzoo.gradients.rules.one_step_mask`. Wang et al., "Hierarchical
    Reasoning Model" (arXiv 2506.21734), sec. 2.3.
    """

    def __init__(self, cfg):
        super().__init__()

    def grad_mask(self, updates, cycle_lengths, output_key):
        return rules.one_step_mask(updates, output_key)


@register("gradient", "last_cycle", config=GradientConfig, sizes=())
class LastCycleGradient(MaskedEstimator):
    """TRM: every update of the last cycle that produces the output carries gradient.

    One cycle's worth of updates ending with the last update of the output
    state (with `L_then_H`: the last cycle). Jolicoeur-Martineau, "Less is
    More: Recursive Reasoning with Tiny Networks" (arXiv 2510.04871).
    """

    def __init__(self, cfg):
        super().__init__()

    def grad_mask(self, updates, cycle_lengths, output_key):
        return rules.last_cycle_mask(updates, cycle_lengths, output_key)


class KStepConfig(GradientConfig):
    """k-step estimator settings.

    Attributes:
        k: how many updates carry gradient: the last k updates on which the output
            depends (k-step "phantom" gradient), counted back from the output's last
            update along what it reads. A level whose nearest such update is further
            back gets no gradient; building the model warns and names the k that
            reaches every level.
    """

    k: int = Field(2, gt=0)


@register("gradient", "k_step", config=KStepConfig, sizes=())
class KStepGradient(MaskedEstimator):
    """The last k updates on which the output depends carry gradient (truncated BPTT).

    Chosen by data dependence (`hrmzoo.gradients.rules.k_step_mask`): counting back
    from the output's last update, updates whose results the output never reads are
    skipped, not counted. Geng et al., "On Training Implicit Models" (NeurIPS 2021),
    k-step phantom gradient.
    """

    def __init__(self, cfg: KStepConfig):
        super().__init__()
        self.k = cfg.k

    def grad_mask(self, updates, cycle_lengths, output_key):
        return rules.k_step_mask(updates, output_key, self.k)

    def widening(self, updates, cycle_lengths, output_key, covers) -> str | None:
        """The smallest k whose window trains what `covers` asks (for the build warning).

        Windows grow with k (each is the last k of the same dependent updates), so a
        bisection finds it in O(log n) reach computations.
        """
        def enough(k: int) -> bool:
            return covers(rules.reach(updates, rules.k_step_mask(updates, output_key, k), output_key))

        lo, hi = self.k, len(updates)
        if not enough(hi):
            return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if enough(mid) else (mid, hi)
        return f"raise model.gradient.k to {hi}"


@register("gradient", "bptt", config=GradientConfig, sizes=())
class BPTTGradient(MaskedEstimator):
    """Full backprop through every update of the segment."""

    def __init__(self, cfg):
        super().__init__()

    def grad_mask(self, updates, cycle_lengths, output_key):
        return [True] * len(updates)
