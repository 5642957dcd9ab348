"""Load a checkpoint with inference overrides and evaluate it segment by segment.

Shared by the budget sweep and the halting analysis: both need, for every
sample, correctness after each segment and the halting head's view, which
`hrmzoo.evaluate.evaluate` records with `run_all_segments=True`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch

from hrmzoo.errors import HrmzooError

# the coupling field that counts inner (fast) updates per cycle
INNER_CYCLES_FIELD = {"hierarchical": "l_cycles", "recursive": "n_cycles", "flat": "steps"}


def inner_cycles_override(model_recipe, value: int) -> str:
    """The override that sets the coupling's inner cycles to `value`."""
    coupling = model_recipe.model.coupling.type
    field = INNER_CYCLES_FIELD.get(coupling)
    if field is None:
        raise HrmzooError(f"coupling '{coupling}' has no known inner-cycle field; sweep l_cycles only for {', '.join(INNER_CYCLES_FIELD)}")
    return f"model.coupling.{field}={value}"


def load_for_eval(ckpt: str | Path, overrides: Iterable[str] = (), device: Any = None):
    """The checkpoint's model (weights exact) with inference-time overrides, on `device`."""
    from hrmzoo.persistence.checkpoint import load_model

    model = load_model(ckpt, list(overrides))
    return model.to(device) if device is not None else model


def per_segment_records(model, data: Any, *, segments: int, split: str = "test", batch_size: int = 256,
                        limit: int | None = None, autocast_dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Per-sample records over `segments` segments, every batch run to the end.

    Returns:
        `exact_per_segment` [N, S] bool, `halt_confidence_per_segment` [N, S]
        (NaN without a halting head), `halt_step` [N] (the policy's own halt
        step under its `eval_mode`, capped at S), `exact` [N] (right at that step).
    """
    from hrmzoo.evaluate import evaluate

    result = evaluate(model, data, split=split, batch_size=batch_size, limit=limit, max_segments=segments,
                      run_all_segments=True, autocast_dtype=autocast_dtype)
    s = result.samples
    if not s:
        raise HrmzooError("the evaluation data is empty; check data= and split=")
    return {k: s[k] for k in ("exact_per_segment", "halt_confidence_per_segment", "halt_step", "exact")}


def dataset_batches(root: str | Path, split: str, batch_size: int, limit: int | None = None):
    """Ordered batches of one split of a dataset directory (a list, so it can be reused)."""
    from hrmzoo.data.splits import open_split, ordered_batches

    return list(ordered_batches(open_split(root, split), batch_size, limit))
