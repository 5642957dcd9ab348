"""The registered halting policies: fixed, q_learning (HRM) and trm (PonderNet is in pondernet.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hrmzoo.halting.base import ExploringConfig, HaltingConfig, HaltingPolicy, at_least_float32
from hrmzoo.registry import register


def _zero_head(hidden: int, outputs: int, bias: float = -5.0) -> nn.Linear:
    # zero weights and bias -5: every sample starts strongly biased to "continue"
    head = nn.Linear(hidden, outputs, bias=True)
    nn.init.zeros_(head.weight)
    nn.init.constant_(head.bias, bias)
    return head


@register("halting", "fixed", config=HaltingConfig)
class FixedHalting(HaltingPolicy):
    """Every sample runs exactly max_segments segments; no head, no loss.

    Training loss: none. Evaluation: max_segments for every sample in both
    eval modes (`adaptive` has no rule to apply, so it also runs to the max).
    """

    def __init__(self, cfg: HaltingConfig):
        super().__init__(cfg)


@register("halting", "q_learning", config=ExploringConfig)
class QLearningHalting(HaltingPolicy):
    """HRM's ACT with Q-learning: a halt/continue Q head on the first position of z_H.

    Training: halt when q_halt > q_continue (not before the explored minimum) or at
    max_segments. Targets: q_halt -> 1 if the prediction is exactly right;
    q_continue -> sigmoid(q_halt') at the last segment, else
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
        halt = F.binary_cross_entropy_with_logits(halt_logits[:, 0], correct.to(halt_logits.dtype), reduction="none")
        out = {"q_halt": w * halt}
        if self.max_segments > 1:
            with torch.no_grad():
                target = self.continue_target(next_halt_logits(), steps >= self.max_segments)
            out["q_continue"] = w * F.binary_cross_entropy_with_logits(halt_logits[:, 1], target, reduction="none")
        return out


@register("halting", "trm", config=ExploringConfig)
class TRMHalting(HaltingPolicy):
    """TRM: one halt logit trained with BCE on 'the answer is exactly right'; halt when it is > 0.

    No continue target, so no extra forward. Training loss: `loss_weight` x
    that BCE, per segment.

    Evaluation: `eval_mode=max` (TRM) runs every sample to max_segments;
    `adaptive` halts at the first segment whose halt logit is > 0, without
    exploration.
    """

    def __init__(self, cfg: ExploringConfig, *, hidden_size: int):
        super().__init__(cfg)
        self.head = _zero_head(hidden_size, 1)

    def halt_logits(self, z):
        return at_least_float32(self.head(z[:, 0]))

    def wants_halt(self, halt_logits):
        return halt_logits[:, 0] > 0

    def loss(self, halt_logits, correct, steps, next_halt_logits):
        bce = F.binary_cross_entropy_with_logits(halt_logits[:, 0], correct.to(halt_logits.dtype), reduction="none")
        return {"halt": self.cfg.loss_weight * bce}
