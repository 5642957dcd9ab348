"""A recipe's parameter count, taken before anything is allocated.

Beside `hrmzoo.limits` (the bounds, which know no model) because counting
needs the model: the model is built on the meta device, so a forged recipe that
asks for terabytes costs nothing to refuse.
"""

from __future__ import annotations

import warnings

import torch

from hrmzoo import limits
from hrmzoo.model import ReasoningModel


def check_parameters(model_cfg, what: str = "the model") -> int:
    """Count a recipe's parameters without allocating them (built on the meta device)
    and check the count against the `parameters` limit; returns the count."""
    try:
        # quietly: the real build warns (an untrained parameter group, a controller acting nowhere) once
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # any fixed seed: only the count is read, and seed=None would draw one from torch's
            # global generator, so a training run would leave it changed (its checkpoints save it)
            model = ReasoningModel(model_cfg, seed=0)
    except (ValueError, TypeError, RuntimeError, NotImplementedError):
        return -1  # the real build reports what is wrong with the recipe
    count = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    limits.check("parameters", count, f"{what}: parameters and buffers")
    return count
