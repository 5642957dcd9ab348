"""Halting policies: how many segments (deep-supervision steps) a sample gets.

A policy owns its halting head (if any) and answers three questions:

- `halt_logits(z)`: its head's output for one segment (None for `fixed`).
- `should_halt(...)`: which samples stop after this segment. In training
  the policy's own rule applies (with exploration where it has one); at
  evaluation `eval_mode` picks `max` (run every sample to
  `max_segments`, HRM's behaviour) or `adaptive` (the policy's rule).
- `loss(...)`: its per-sample training loss terms.

No policy ever runs a sample past `max_segments`.
"""

from __future__ import annotations

from typing import Annotated, Callable, Literal, Optional, Union

import torch
from pydantic import Field, model_validator
from torch import nn

from hrmzoo.errors import HrmzooError
from hrmzoo.halting.calibration import calibration_loss, check_halt_loss
from hrmzoo.registry import ComponentConfig

#: `eval_halt_threshold`: a halt confidence in (0, 1), or `auto` (fitted on held-out training data)
Threshold = Union[Annotated[float, Field(gt=0, lt=1)], Literal["auto"]]


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Halting logits in float32 for reduced-precision inputs (as HRM casts them), and
    unchanged in float64, so a float64 model stays exact."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class HaltingConfig(ComponentConfig):
    """Fields every policy has.

    Attributes:
        max_segments: hard cap on segments per sample (HRM's halt_max_steps).
        eval_mode: `max` runs every sample to max_segments at evaluation;
            `adaptive` stops each sample by the policy's rule.
    """

    max_segments: int = Field(16, gt=0)
    eval_mode: Literal["max", "adaptive"] = "max"


class ExploringConfig(HaltingConfig):
    """Learned halting with HRM's exploration.

    Attributes:
        exploration_prob: chance that a sample draws a random minimum number of
            segments, uniform in 2..max_segments, before it may halt.
        exploration: `per_segment` (HRM: the minimum is drawn afresh at every
            segment, `min = (rand < p) * randint(2, max_segments + 1)`, and the
            learned halt fires only when `steps >= min`) or `per_puzzle` (drawn
            once when a slot takes a new puzzle and kept until it halts: longer
            explored runs, mean segments 1.80 vs 1.11 under an always-halt head
            with 16 segments and p = 0.1).
        loss_weight: weight of the halting loss terms.
        eval_halt_threshold: evaluation only (`eval_mode: adaptive`): when set,
            a sample halts at the first segment whose halt confidence (the
            sigmoid of the halt logit; of q_halt for `q_learning`) exceeds it,
            instead of the policy's own rule. Training is unchanged. A head
            that stops too early keeps running at a higher threshold;
            `hrmzoo halting RUN` tabulates accuracy and mean segments per
            threshold from one pass. `auto`: fitted at the end of training on
            examples held out of the training split (never the test split) by
            the rule of `hrmzoo.halting.threshold`; the value and the rule are
            written to the run's `halt_threshold.json` and `hrmzoo eval` uses
            and prints them.
        auto_threshold_examples: with `eval_halt_threshold: auto`, how many
            training examples (whole puzzles with their augmentations, from
            the end of the train split) are held out of training to fit it.
        auto_threshold_tolerance: with `auto`, the accuracy (a fraction: 0.002
            is 0.2 points) the fitted threshold may give up against running
            every held-out sample to max_segments.
        halt_loss: the calibration loss on "the current answer is exactly
            right" (`hrmzoo.halting.calibration`: `bce` (HRM/TRM, default),
            `brier`, `focal`, `smoothed_bce`).
        halt_loss_param: the loss's parameter (focal's gamma, default 2;
            smoothed_bce's epsilon, default 0.1); None: its default.
    """

    exploration_prob: float = Field(0.1, ge=0, le=1)
    exploration: Literal["per_segment", "per_puzzle"] = "per_segment"
    loss_weight: float = Field(0.5, ge=0)
    eval_halt_threshold: Optional[Threshold] = None
    auto_threshold_examples: int = Field(1000, gt=0)
    auto_threshold_tolerance: float = Field(0.002, ge=0, lt=1)
    halt_loss: str = "bce"
    halt_loss_param: Optional[float] = None

    @model_validator(mode="after")
    def _threshold_needs_adaptive(self):
        if self.eval_halt_threshold is not None and self.eval_mode != "adaptive":
            raise ValueError("eval_halt_threshold applies to adaptive evaluation only; add model.halting.eval_mode=adaptive "
                             "(or drop the threshold)")
        if self.halt_loss is not None:
            check_halt_loss(self.halt_loss, self.halt_loss_param)
        elif self.halt_loss_param is not None:
            raise ValueError("model.halting.halt_loss_param is set but no halt_loss is; name one (e.g. halt_loss=focal)")
        return self

    def calibration(self, logits: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
        """Per-sample `halt_loss` of halt logits [B] against 'exactly right' [B] (unweighted)."""
        return calibration_loss(self.halt_loss, logits, correct, self.halt_loss_param)


class HaltingPolicy(nn.Module):
    """Base class; subclasses override `halt_logits`, `wants_halt` and `loss`."""

    def __init__(self, cfg: HaltingConfig):
        super().__init__()
        self.cfg = cfg
        self.max_segments = cfg.max_segments
        # `eval_halt_threshold: auto`'s value once fitted (`hrmzoo.halting.threshold`); not a weight
        self.fitted_threshold: float | None = None

    def halt_logits(self, z: torch.Tensor) -> torch.Tensor | None:
        """The halting head's output from the output state `z` [B, S, D] (None: no head)."""
        return None

    @property
    def redraws_exploration(self) -> bool:
        """Whether the exploration minimum is drawn afresh at every segment (HRM)."""
        return getattr(self.cfg, "exploration", "per_segment") == "per_segment"

    def min_segments(self, batch_size: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-sample minimum segments before a learned halt may fire (exploration):
        `(rand < p) * randint(2, max_segments + 1)`, as HRM draws it."""
        prob = getattr(self.cfg, "exploration_prob", 0.0)
        if prob <= 0 or self.max_segments < 2:
            return torch.zeros(batch_size, dtype=torch.long, device=device)
        explore = torch.rand(batch_size, generator=generator, device=device) < prob
        drawn = torch.randint(2, self.max_segments + 1, (batch_size,), generator=generator, device=device)
        return torch.where(explore, drawn, torch.zeros_like(drawn))

    def wants_halt(self, halt_logits: torch.Tensor | None) -> torch.Tensor | None:
        """The policy's own halting rule, [B] bool (None: never by itself)."""
        return None

    def halt_confidence(self, halt_logits: torch.Tensor) -> torch.Tensor:
        """Confidence in 'halt' per sample, [B] float32: the sigmoid of logit 0 (q_halt for
        `q_learning`). Evaluation reports it and `eval_halt_threshold` compares against it."""
        return torch.sigmoid(halt_logits[:, 0].float())

    def eval_wants_halt(self, halt_logits: torch.Tensor | None) -> torch.Tensor | None:
        """The rule at evaluation: under `eval_mode: adaptive` the halt confidence above
        `eval_halt_threshold` where one is set, else the policy's own rule."""
        threshold = getattr(self.cfg, "eval_halt_threshold", None)
        if threshold is None or halt_logits is None or self.cfg.eval_mode != "adaptive":
            return self.wants_halt(halt_logits)
        if threshold == "auto":
            if self.fitted_threshold is None:
                raise HrmzooError("model.halting.eval_halt_threshold=auto has no fitted value: evaluate a run directory of "
                                  "'hrmzoo train' that wrote halt_threshold.json, or give a number (e.g. 0.99)")
            threshold = self.fitted_threshold
        return self.halt_confidence(halt_logits) > threshold

    def train_wants_halt(self, halt_logits: torch.Tensor | None, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The rule in training (default: the same as `wants_halt`; PonderNet samples).

        Args:
            halt_logits: this segment's halting logits.
            generator: the RNG a sampled rule must draw from (the trainer's, saved in its
                checkpoints); None: torch's global generator.
        """
        return self.wants_halt(halt_logits)

    def should_halt(self, halt_logits, steps: torch.Tensor, min_steps: torch.Tensor | None, training: bool,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Which samples stop after this segment ([B] bool); `steps` counts this segment.
        `generator` feeds a training rule that samples (as `segment_step` passes its own)."""
        at_max = steps >= self.max_segments
        if not training and self.cfg.eval_mode == "max":
            return at_max
        wants = self.train_wants_halt(halt_logits, generator) if training else self.eval_wants_halt(halt_logits)
        if wants is None:
            return at_max
        if training and min_steps is not None:
            wants = wants & (steps >= min_steps)
        return at_max | wants

    def loss(self, halt_logits, correct: torch.Tensor, steps: torch.Tensor, next_halt_logits: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-sample loss terms ([B] each). `next_halt_logits()` runs an extra no-grad segment."""
        return {}
