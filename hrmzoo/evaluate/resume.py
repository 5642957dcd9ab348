"""Evaluation in chunks saved as they finish, so an interrupted evaluation continues where it stopped.

ARC at the original's scale is ~400,000 test examples (1000 augmentations of
each test input): hours on a CPU. `evaluate_resumable` runs
`hrmzoo.evaluate.core.evaluate` over consecutive chunks of the split
(each a few batches; batches hold consecutive examples, i.e. the augmented
variants of the same test inputs; halted samples leave the batch, which stops
once every sample has halted) and
writes each chunk's per-sample records to `state_dir/chunk_<k>.safetensors`
(atomically). A rerun with the same checkpoint, data and settings loads the
finished chunks and evaluates only the rest; different settings are refused
rather than mixed. Controller activity is summarised over the chunks run in
the last invocation only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hrmzoo.common.atomic import FileTooLarge, read_small, write_atomic, write_text_atomic
from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate.core import EvalResult, _metrics, evaluate

STATE_FILE = "state.json"


def _chunk_path(state_dir: Path, k: int) -> Path:
    return state_dir / f"chunk_{k:06d}.safetensors"


def _open_state(state_dir: Path, fingerprint: dict[str, Any]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    if path.is_file():
        try:
            old = json.loads(read_small(path, 1 << 20, STATE_FILE).decode("utf-8"))
        except (ValueError, RecursionError, FileTooLarge, OSError):
            old = None
        if old != fingerprint:
            raise HrmzooError(f"{state_dir}: holds a partial evaluation with other settings ({old}); "
                              "delete that folder to start over, or rerun with the settings it was made with")
        return
    write_text_atomic(path, json.dumps(fingerprint, indent=1, sort_keys=True))


def evaluate_resumable(
    model,
    root: str | Path,
    split: str,
    state_dir: str | Path,
    *,
    fingerprint: dict[str, Any],
    batch_size: int,
    chunk_batches: int = 8,
    limit: int | None = None,
    max_segments: int | None = None,
    keep_predictions: bool = True,
    autocast_dtype: torch.dtype | None = None,
    progress: Callable[[int], None] | None = None,
    stop_after_chunks: int | None = None,
) -> EvalResult:
    """Evaluate `split` of `root` chunk by chunk, reusing chunks already in `state_dir`.

    Args:
        fingerprint: JSON-able description of everything the results depend on (checkpoint,
            data, split, budget, ...); a state folder made with another one is refused.
        chunk_batches: batches per saved chunk.
        stop_after_chunks: evaluate at most this many new chunks then stop (for tests; the
            result then covers only the chunks done so far).
        Other arguments as `hrmzoo.evaluate.core.evaluate`.

    Returns:
        The `EvalResult` over the whole split (or the part done when stopped early).
    """
    from safetensors.torch import load_file, save_file

    from hrmzoo.data.splits import open_split

    state_dir = Path(state_dir)
    dataset = open_split(root, split)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    chunk = batch_size * chunk_batches
    _open_state(state_dir, {**fingerprint, "num_examples": n, "batch_size": batch_size, "chunk_examples": chunk})
    policy = model.halting
    budget = policy.max_segments if max_segments is None else max(1, min(max_segments, policy.max_segments))
    cols: dict[str, list[torch.Tensor]] = {}
    activity: dict[str, Any] = {}
    new_chunks = 0
    for k, start in enumerate(range(0, n, chunk)):
        end = min(n, start + chunk)
        path = _chunk_path(state_dir, k)
        if path.is_file():
            samples = load_file(str(path))
        else:
            if stop_after_chunks is not None and new_chunks >= stop_after_chunks:
                break
            batches = (dataset.get_batch(np.arange(s, min(end, s + batch_size))) for s in range(start, end, batch_size))
            result = evaluate(model, batches, batch_size=batch_size, max_segments=max_segments,
                              keep_predictions=keep_predictions, autocast_dtype=autocast_dtype, drop_halted=True)
            samples = {key: v.contiguous() for key, v in result.samples.items()}
            write_atomic(path, lambda tmp: save_file(samples, str(tmp)))
            activity = result.activity or activity
            new_chunks += 1
        for key, value in samples.items():
            cols.setdefault(key, []).append(value)
        if progress is not None:
            progress(end)
    samples = {key: torch.cat(v) for key, v in cols.items()} if cols else {}
    return EvalResult(_metrics(samples, budget, policy), samples, activity)


def clear_state(state_dir: str | Path) -> None:
    """Remove a finished evaluation's chunk folder."""
    shutil.rmtree(state_dir, ignore_errors=True)
