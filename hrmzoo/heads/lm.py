"""The token-prediction head and its loss (stablemax or softmax cross-entropy)."""

from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from hrmzoo.errors import RecipeError
from hrmzoo.layers import lecun_init_
from hrmzoo.registry import ComponentConfig, register

IGNORE_INDEX = -100


class LMHeadConfig(ComponentConfig):
    """Per-token classifier.

    Attributes:
        loss: `stablemax` (HRM/TRM: s(x) = x+1 for x >= 0, 1/(1-x) otherwise,
            computed in float64) or `softmax` cross-entropy.
        answer_token: None, or the token that marks a one-position answer (its field description says more).
        loss_weight: scale of this head's loss in the training loss (its field description says more).
    """

    loss: Literal["stablemax", "softmax"] = "stablemax"
    answer_token: Optional[int] = Field(
        None, ge=0,
        description="None (default): per-token loss only. A token id (e.g. tom2's YES, 40): in each sequence whose label marks exactly one "
                    "position with it, add cross-entropy over the supervised positions of that token's log-probability, so the one "
                    "answer's gradient is not diluted by the N-1 others and 'that token nowhere' stops being a minimum; other sequences "
                    "get the per-token loss only. Decoding is unchanged (per-token argmax).")
    loss_weight: float = Field(
        1.0, ge=0,
        description="Scale of the answer's loss in the training loss (default 1). 0 trains only the other terms (a controller's "
                    "targets, the halting loss): e.g. a stage that learns the perspective targets before the answer. "
                    "`loss/lm` in the logs is the weighted loss.")


def stablemax_log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log(s(x_i) / sum_j s(x_j)) in float64."""
    x = logits.double()
    s = torch.where(x >= 0, x + 1, 1 / (1 - torch.clamp(x, max=0)))
    return torch.log(s / s.sum(-1, keepdim=True))


def log_probs(logits: torch.Tensor, kind: str = "stablemax") -> torch.Tensor:
    """Per-token log-probabilities in float64 under `kind` (stablemax or softmax)."""
    return stablemax_log_softmax(logits) if kind == "stablemax" else F.log_softmax(logits.double(), -1)


def sequence_ce(logits: torch.Tensor, labels: torch.Tensor, kind: str = "stablemax", *, logp: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sequence loss [B]: mean over supervised tokens (labels != IGNORE_INDEX); `logp`: `log_probs(logits, kind)` if already computed."""
    logp = log_probs(logits, kind) if logp is None else logp
    valid = labels != IGNORE_INDEX
    picked = logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    per_token = torch.where(valid, -picked, torch.zeros_like(picked))
    return per_token.sum(-1) / valid.sum(-1).clamp_min(1)


def answer_position_ce(logits: torch.Tensor, labels: torch.Tensor, token: int, kind: str = "stablemax", *,
                       logp: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sequence loss [B]: where exactly one supervised position is labelled `token`, the cross-entropy of a softmax
    over the supervised positions of log p(token) (which position holds the answer); 0 for other sequences."""
    logp = log_probs(logits, kind) if logp is None else logp
    valid = labels != IGNORE_INDEX
    is_answer = labels == token
    single = valid.any(-1) & (is_answer.sum(-1) == 1)
    score = logp[..., token].masked_fill(~valid, float("-inf"))
    per_position = torch.log_softmax(score, -1)
    picked = (per_position.masked_fill(~is_answer, 0.0)).sum(-1)
    return torch.where(single, -picked, torch.zeros_like(picked))


@register("head", "lm", config=LMHeadConfig, sizes=('hidden_size', 'vocab_size', 'num_prefix'))
class LMHead(nn.Module):
    """Linear map from the output state to vocabulary logits (prefix positions dropped), no bias."""

    def __init__(self, cfg: LMHeadConfig, *, hidden_size: int, vocab_size: int, num_prefix: int = 0):
        super().__init__()
        self.loss_kind = cfg.loss
        self.loss_weight = cfg.loss_weight
        self.answer_token = cfg.answer_token
        if cfg.answer_token is not None and cfg.answer_token >= vocab_size:
            raise RecipeError(f"head lm: answer_token {cfg.answer_token} is not a token of the vocabulary (0..{vocab_size - 1}); "
                             "set model.head.answer_token to the answer's token id")
        self.prefix_len = num_prefix
        self.proj = lecun_init_(nn.Linear(hidden_size, vocab_size, bias=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(z[:, self.prefix_len :])

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-sequence cross-entropy [B] in float64 (plus the answer-position term with `answer_token`), times `loss_weight`."""
        logp = log_probs(logits, self.loss_kind)  # once: both terms read it
        loss = sequence_ce(logits, labels, self.loss_kind, logp=logp)
        if self.answer_token is not None:
            loss = loss + answer_position_ce(logits, labels, self.answer_token, self.loss_kind, logp=logp)
        return loss * self.loss_weight  # exact at the default 1.0
