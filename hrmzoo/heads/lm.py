"""The token-prediction head and its loss (stablemax or softmax cross-entropy)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from hrmzoo.layers import lecun_init_
from hrmzoo.registry import ComponentConfig, register

IGNORE_INDEX = -100


class LMHeadConfig(ComponentConfig):
    """Per-token classifier.

    Attributes:
        loss: `stablemax` (HRM/TRM: s(x) = x+1 for x >= 0, 1/(1-x) otherwise,
            computed in float64) or `softmax` cross-entropy.
    """

    loss: Literal["stablemax", "softmax"] = "stablemax"


def stablemax_log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log(s(x_i) / sum_j s(x_j)) in float64."""
    x = logits.double()
    s = torch.where(x >= 0, x + 1, 1 / (1 - torch.clamp(x, max=0)))
    return torch.log(s / s.sum(-1, keepdim=True))


def sequence_ce(logits: torch.Tensor, labels: torch.Tensor, kind: str = "stablemax") -> torch.Tensor:
    """Per-sequence loss [B]: mean over supervised tokens (labels != IGNORE_INDEX)."""
    logp = stablemax_log_softmax(logits) if kind == "stablemax" else F.log_softmax(logits.double(), -1)
    valid = labels != IGNORE_INDEX
    picked = logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    per_token = torch.where(valid, -picked, torch.zeros_like(picked))
    return per_token.sum(-1) / valid.sum(-1).clamp_min(1)


@register("head", "lm", config=LMHeadConfig, sizes=('hidden_size', 'vocab_size', 'num_prefix'))
class LMHead(nn.Module):
    """Linear map from the output state to vocabulary logits (prefix positions dropped), no bias."""

    def __init__(self, cfg: LMHeadConfig, *, hidden_size: int, vocab_size: int, num_prefix: int = 0):
        super().__init__()
        self.loss_kind = cfg.loss
        self.prefix_len = num_prefix
        self.proj = lecun_init_(nn.Linear(hidden_size, vocab_size, bias=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(z[:, self.prefix_len :])

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-sequence cross-entropy [B] in float64."""
        return sequence_ce(logits, labels, self.loss_kind)
