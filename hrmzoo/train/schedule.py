"""Learning-rate schedules: linear warmup, then constant or cosine decay."""

from __future__ import annotations

import math


def lr_factor(step: int, total: int, warmup: int = 0, kind: str = "constant", min_ratio: float = 0.0) -> float:
    """Multiplier of the peak learning rate for optimizer step `step` (0-based).

    Args:
        step: the step about to run.
        total: total steps of the run.
        warmup: steps of linear warmup; step 0 already gets `1 / warmup`.
        kind: `constant` or `cosine` after warmup.
        min_ratio: the cosine schedule's floor.

    Examples:
        >>> lr_factor(0, 100, warmup=10)
        0.1
        >>> lr_factor(99, 100, kind="cosine") < 0.01
        True
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    if kind != "cosine":
        raise ValueError(f"unknown schedule '{kind}'; use constant or cosine")
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
