"""PonderNet (Banino et al. 2021) adapted to one optimizer step per segment.

Why PonderNet rather than ACT: both want the whole unrolled run in one graph
(ACT mixes the outputs of all steps, weighted by the halting probabilities,
and charges N + R; PonderNet weights each step's loss by the probability of
halting there). Under HRM's deep supervision every segment is its own
optimizer step and the state is detached in between, so only per-segment
terms can be trained. PonderNet's structure survives that: its halting
distribution is a chain of per-step Bernoulli decisions with hazard
lambda_n = sigmoid(halt_logit_n), which is exactly what a per-segment head
emits, and its KL regulariser splits by the chain rule for KL into one
Bernoulli KL per reached step,
KL(p || geometric(lambda_p)) = sum_n P(reach n) KL(Bern(lambda_n) || Bern(lambda_p)).
ACT's cumulative halting sum and output mixture have no such split.

Mapping:

- Training: a sample that reaches segment n halts with probability
  lambda_n (a draw, as in PonderNet's generative process, from the generator
  `segment_step` is given: the trainer's seeded one), never before its
  explored minimum and always at max_segments. Because the run itself is a
  draw from p, "reached segment n" happens with the probability PonderNet's
  weights carry, and each segment only needs its conditional terms.
- Loss at a reached segment n < max_segments, per sample::

      loss_weight * (lambda_n * e_n + (1 - lambda_n) * continue_loss)
      + kl_weight * KL(Bern(lambda_n) || Bern(prior_halt))

  with e_n = 1 - (answer exactly right), PonderNet's reconstruction loss for
  halting now. PonderNet's later terms (the expected loss of continuing) are
  not available inside one segment; `continue_loss` stands in for them, so
  the head learns to halt once the chance of being wrong falls below it
  (softened towards the prior by the KL). At max_segments the decision is
  forced and both terms are zero (PonderNet's truncation puts the remaining
  mass there).
- Evaluation: `eval_mode=max` runs every sample to max_segments;
  `adaptive` halts deterministically at the first segment with
  lambda_n > 0.5 (the more likely decision), or at max_segments.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import Field

from hrmzoo.halting.base import ExploringConfig, HaltingPolicy, at_least_float32
from hrmzoo.halting.policies import _zero_head
from hrmzoo.registry import register


class PonderNetConfig(ExploringConfig):
    """PonderNet halting.

    Attributes:
        prior_halt: hazard lambda_p of the geometric prior (expected
            1 / lambda_p segments).
        kl_weight: beta, the weight of the KL to the prior (PonderNet uses 0.01).
        continue_loss: the task loss assumed for continuing, in [0, 1]; halting
            is favoured when the chance of a wrong answer is below it.
        exploration_prob: as for the other policies, but 0 by default: the
            sampled halting decisions already explore.
        loss_weight: weight of the reconstruction term.
        halt_loss: None (default): PonderNet's own terms only. A calibration
            loss name (`hrmzoo.halting.calibration`) adds `loss_weight` x that
            loss of the hazard against "the answer is exactly right" as a
            further term, so lambda_n also estimates the chance of being right.
    """

    prior_halt: float = Field(0.1, gt=0, lt=1)
    kl_weight: float = Field(0.01, ge=0)
    continue_loss: float = Field(0.2, ge=0, le=1)
    exploration_prob: float = Field(0.0, ge=0, le=1)
    loss_weight: float = Field(1.0, ge=0)
    halt_loss: Optional[str] = None


def bernoulli_kl(logits: torch.Tensor, prior: float) -> torch.Tensor:
    """KL(Bern(sigmoid(logits)) || Bern(prior)), elementwise, stable for large |logits|."""
    log_p, log_q = torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    return p * (log_p - math.log(prior)) + (1 - p) * (log_q - math.log1p(-prior))


@register("halting", "pondernet", config=PonderNetConfig, sizes=('hidden_size',))
class PonderNetHalting(HaltingPolicy):
    """PonderNet: a per-segment halting hazard, sampled in training, KL to a geometric prior.

    Training loss per reached segment n < max_segments:
    ``loss_weight * (lambda_n * (1 - correct) + (1 - lambda_n) * continue_loss)
    + kl_weight * KL(Bern(lambda_n) || Bern(prior_halt))``; halting is drawn
    from Bernoulli(lambda_n). Evaluation: `max` runs all segments, `adaptive`
    halts at the first lambda_n > 0.5. See the module docstring for how this
    maps PonderNet onto one optimizer step per segment.
    """

    def __init__(self, cfg: PonderNetConfig, *, hidden_size: int):
        super().__init__(cfg)
        self.head = _zero_head(hidden_size, 1)

    def halt_logits(self, z):
        return at_least_float32(self.head(z[:, 0]))

    def wants_halt(self, halt_logits):
        return halt_logits[:, 0] > 0  # lambda > 0.5

    def train_wants_halt(self, halt_logits, generator=None):
        # from the generator segment_step passes (the trainer's, saved with its checkpoints),
        # so a run is reproducible from its seed and resumes exactly
        return torch.bernoulli(torch.sigmoid(halt_logits[:, 0].detach()), generator=generator).bool()

    def loss(self, halt_logits, correct, steps, next_halt_logits):
        logit = halt_logits[:, 0]
        lam = torch.sigmoid(logit)
        free = (steps < self.max_segments).to(lam.dtype)  # the last segment's halt is forced
        error = 1.0 - correct.to(lam.dtype)
        task = lam * error + (1 - lam) * self.cfg.continue_loss
        out = {
            "ponder_task": self.cfg.loss_weight * task * free,
            "ponder_kl": self.cfg.kl_weight * bernoulli_kl(logit, self.cfg.prior_halt) * free,
        }
        if self.cfg.halt_loss is not None:
            out["ponder_calibration"] = self.cfg.loss_weight * self.cfg.calibration(logit, correct)
        return out
