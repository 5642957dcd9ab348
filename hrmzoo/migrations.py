"""Bring checkpoints written by older hrmzoo versions to the current meaning of the weights.

Format 1 (before 0.2) scaled only the token vectors by sqrt(D); the puzzle
prefix and learned positions entered unscaled. Format 2 scales the whole input
embedding, as the original HRM does, so a format-1 puzzle table or position
table is divided by sqrt(D) on load: the model computes the same embedding
(equal up to float rounding).
"""

from __future__ import annotations

import math
from typing import Any

import torch

CURRENT_FORMAT = "2"


def migrate_weights(tensors: dict[str, torch.Tensor], fmt: str | None, recipe: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint written in format `fmt`, rewritten for the current format."""
    if fmt in (None, "1"):
        model = recipe.get("model", {})
        embedding = model.get("embedding") or {}
        if embedding.get("type", "token") == "token" and embedding.get("scale_by_sqrt_hidden", True):
            scale = math.sqrt(model.get("hidden_size", 512))
            tensors = dict(tensors)
            for key in ("embedding.puzzle_emb", "embedding.positions"):
                if key in tensors:
                    tensors[key] = tensors[key] / scale
    return tensors
