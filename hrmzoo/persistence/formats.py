"""The weight format of a checkpoint, numbered, and the migrations that bring an older one up to date.

A model checkpoint records `hrmzoo.format` (an integer, as a string: safetensors metadata
is strings only) beside `hrmzoo.version`, the package version that wrote it. The format
number changes when the *meaning* of stored tensors changes; the package version is only
informative. `MIGRATIONS[n]` rewrites format-n tensors into format n+1, and
`migrate_weights` applies them in order up to `FORMAT`.

Format history:

- 1: the token vectors scaled by sqrt(D); the puzzle prefix and learned positions entered
  unscaled. Checkpoints without the `hrmzoo.format` key are format 1 (the key came with
  format 2).
- 2 (current): the whole input embedding scaled by sqrt(D), as the original HRM does. A
  format-1 puzzle table or position table is divided by sqrt(D) on load, so the model
  computes the same embedding (equal up to float rounding).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from hrmzoo.errors import CheckpointError

#: the format this hrmzoo writes
FORMAT = 2
#: the format of a checkpoint whose metadata has no `hrmzoo.format` key
UNNUMBERED = 1

Tensors = dict[str, torch.Tensor]


def _scale_whole_embedding(tensors: Tensors, recipe: dict[str, Any]) -> Tensors:
    """1 -> 2: the puzzle prefix and learned positions divided by sqrt(D) (see the module's history)."""
    model = recipe.get("model", {})
    embedding = model.get("embedding") or {}
    if embedding.get("type", "token") != "token" or not embedding.get("scale_by_sqrt_hidden", True):
        return tensors
    scale = math.sqrt(model.get("hidden_size", 512))
    tensors = dict(tensors)
    for key in ("embedding.puzzle_emb", "embedding.positions"):
        if key in tensors:
            tensors[key] = tensors[key] / scale
    return tensors


#: format n -> the function that rewrites format-n tensors as format n+1
MIGRATIONS: dict[int, Callable[[Tensors, dict[str, Any]], Tensors]] = {
    1: _scale_whole_embedding,
}


def format_number(value: str | None, origin: Any = "<checkpoint>") -> int:
    """The format a checkpoint's `hrmzoo.format` metadata names (None: `UNNUMBERED`)."""
    if value is None:
        return UNNUMBERED
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise CheckpointError(f"{origin}: weight format {value!r} is not a number; the file was not written by hrmzoo") from None
    if number < UNNUMBERED:
        raise CheckpointError(f"{origin}: weight format {number} does not exist (formats {UNNUMBERED}..{FORMAT}); the file is corrupt")
    if number > FORMAT:
        raise CheckpointError(f"{origin}: weight format {number} is newer than this hrmzoo's ({FORMAT}); upgrade hrmzoo to load it")
    return number


def migrate_weights(tensors: Tensors, fmt: str | None, recipe: dict[str, Any], origin: Any = "<checkpoint>") -> Tensors:
    """Tensors of a checkpoint written in format `fmt` (its metadata string), rewritten for `FORMAT`."""
    for number in range(format_number(fmt, origin), FORMAT):
        tensors = MIGRATIONS[number](tensors, recipe)
    return tensors
