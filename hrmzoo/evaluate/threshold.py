"""Fit `eval_halt_threshold: auto` on held-out training examples (never the test split).

`fit_threshold` runs every held-out example to the policy's budget, records
whether its answer is exactly right and the halt confidence at each segment,
and applies the stated rule of `hrmzoo.halting.threshold.choose_threshold`.
It takes the batches it is given and nothing else: the trainer passes the
examples it held out of its own training split (`hrmzoo.train.halt_data`).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from hrmzoo.evaluate.core import evaluate
from hrmzoo.halting.threshold import choose_threshold


def fit_threshold(model, batches: Iterable[dict[str, torch.Tensor]], *, tolerance: float, batch_size: int = 256,
                  autocast_dtype: torch.dtype | None = None) -> dict[str, Any]:
    """The fitted record (`choose_threshold`'s) of `model` on `batches`; the model is left as it was.

    Args:
        model: a ReasoningModel with a halting head.
        batches: the held-out examples (dicts with `inputs`, `labels`, `puzzle_identifiers`).
        tolerance: accuracy (fraction) the threshold may give up against the full budget.
    """
    policy = model.halting
    saved = policy.cfg
    # every sample to the budget, the head's confidence noted: the rule reads the whole trade-off
    policy.cfg = saved.model_copy(update={"eval_mode": "max", "eval_halt_threshold": None})
    try:
        result = evaluate(model, list(batches), batch_size=batch_size, run_all_segments=True, autocast_dtype=autocast_dtype)
    finally:
        policy.cfg = saved
    samples = result.samples
    return choose_threshold(samples["exact_per_segment"], samples["halt_confidence_per_segment"], tolerance)
