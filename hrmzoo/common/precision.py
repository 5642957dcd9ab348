"""Which dtype a run autocasts to: one rule shared by training, evaluation and the CLI."""

from __future__ import annotations

import torch


def autocast_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """`auto`: bf16 on CUDA, none on CPU; `bfloat16`: bf16 anywhere; `float32`: none.

    The trainer refines `auto` on a CPU by measuring (`hrmzoo.train.precision_probe`);
    evaluation commands keep this rule (float32 on a CPU).
    """
    if name == "bfloat16" or (name == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None
