"""The registered halting policies: fixed, q_learning (HRM) and trm (PonderNet is in pondernet.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from hrmzoo.halting.base import ExploringConfig, HaltingConfig, HaltingPolicy, at_least_float32
from hrmzoo.halting.calibration import continue_value_target
from hrmzoo.registry import register


def _zero_head(hidden: int, outputs: int, bias: float = -5.0) -> nn.Linear:
    # zero weights and bias -5: every sample starts strongly biased to "continue"
    head = nn.Linear(hidden, outputs, bias=True)
    nn.init.zeros_(head.weight)
    nn.init.constant_(head.bias, bias)
    return head


@register("halting", "fixed", config=HaltingConfig, sizes=())
class FixedHalting(HaltingPolicy):
    """Every sample runs exactly max_segments segments; no head, no loss.

    Training loss: none. Evaluation: max_segments for every sample in both
    eval modes (`adaptive` has no rule to apply, so it also runs to the max).
    """

    def __init__(self, cfg: HaltingConfig):
        super().__init__(cfg)


@register("halting", "q_learning", config=ExploringConfig, sizes=('hidden_size',))
class QLearningHalting(HaltingPolicy):
    """HRM's ACT with Q-learning: a halt/continue Q head on the first position of z_H.

    Training: halt when q_halt > q_continue (not before the explored minimum) or at
    max_segments. Targets: q_halt -> 1 if the prediction is exactly right
    (under `halt_loss`, BCE by default as in HRM); q_continue -> sigmoid(q_halt') at the last segment, else
    sigmoid(max(q_halt', q_continue')) from an extra no-grad segment.
    Loss weight 0.5 on the sum of both BCE terms.

    Evaluation: `eval_mode=max` (HRM) runs every sample to max_segments;
    `adaptive` halts at the first segment with q_halt > q_continue, without
    exploration.
    """

    def __init__(self, cfg: ExploringConfig, *, hidden_size: int):
        super().__init__(cfg)
        self.head = _zero_head(hidden_size, 2)

    def halt_logits(self, z):
        return at_least_float32(self.head(z[:, 0]))

    def wants_halt(self, halt_logits):
        return halt_logits[:, 0] > halt_logits[:, 1]

    def continue_target(self, next_logits: torch.Tensor, is_last: torch.Tensor) -> torch.Tensor:
        """Bootstrapped Q target for 'continue' from the next segment's logits."""
        q_halt, q_cont = next_logits[:, 0], next_logits[:, 1]
        return torch.sigmoid(torch.where(is_last, q_halt, torch.maximum(q_halt, q_cont)))

    def loss(self, halt_logits, correct, steps, next_halt_logits):
        w = self.cfg.loss_weight
        out = {"q_halt": w * self.cfg.calibration(halt_logits[:, 0], correct)}
        if self.max_segments > 1:
            with torch.no_grad():
                target = self.continue_target(next_halt_logits(), steps >= self.max_segments)
            out["q_continue"] = w * F.binary_cross_entropy_with_logits(halt_logits[:, 1], target, reduction="none")
        return out


class TRMConfig(ExploringConfig):
    """TRM halting.

    Attributes:
        continue_value_weight: weight of a second head output trained on "will
            one more segment change correctness?" (`continue_value_target`, a
            bootstrap from the next segment's halt confidence, so each step runs
            one extra no-grad segment as q_learning does). 0 (default): TRM's
            single halt logit, no extra segment. The output is reported, not
            used by the halting rule.
    """

    continue_value_weight: float = Field(0.0, ge=0)


@register("halting", "trm", config=TRMConfig, sizes=('hidden_size',))
class TRMHalting(HaltingPolicy):
    """TRM: one halt logit trained on 'the answer is exactly right'; halt when it is > 0.

    No continue target, so no extra forward. Training loss: `loss_weight` x
    `halt_loss` (BCE by default, as TRM), per segment; with
    `continue_value_weight > 0`, a second logit learns the value of one more
    segment.

    Evaluation: `eval_mode=max` (TRM) runs every sample to max_segments;
    `adaptive` halts at the first segment whose halt logit is > 0, without
    exploration.
    """

    def __init__(self, cfg: TRMConfig, *, hidden_size: int):
        super().__init__(cfg)
        self.head = _zero_head(hidden_size, 2 if cfg.continue_value_weight > 0 else 1)

    def halt_logits(self, z):
        return at_least_float32(self.head(z[:, 0]))

    def wants_halt(self, halt_logits):
        return halt_logits[:, 0] > 0

    def loss(self, halt_logits, correct, steps, next_halt_logits):
        out = {"halt": self.cfg.loss_weight * self.cfg.calibration(halt_logits[:, 0], correct)}
        if self.cfg.continue_value_weight > 0:
            is_last = steps >= self.max_segments
            with torch.no_grad():
                nxt = torch.sigmoid(next_halt_logits()[:, 0].float()) if not bool(is_last.all()) else torch.zeros_like(halt_logits[:, 0])
                target = continue_value_target(correct, nxt.to(halt_logits.dtype), is_last)
            out["continue_value"] = self.cfg.continue_value_weight * F.binary_cross_entropy_with_logits(
                halt_logits[:, 1], target, reduction="none")
        return out
