"""The training split as the trainer samples it when halting is fitted or stressed.

Two recipe settings change which examples a training step may see, both
without touching the dataset files:

- `model.halting.eval_halt_threshold: auto` holds the last
  `auto_threshold_examples` training examples out of training (cut at a puzzle
  group, so no augmentation of a held-out puzzle is trained on); at the end of
  training `fit_halt_threshold` fits the threshold on them and writes
  `halt_threshold.json` into the run. The test split is never read.
- `train.stress` alters a fixed share of the training examples
  (`hrmzoo.data.stress`).

With neither set, `training_split` returns the dataset itself: training is
exactly what it was.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hrmzoo.data.stress import check_task, stress_batch, stress_task
from hrmzoo.errors import HrmzooError


class TrainingView:
    """The first `keep` examples of a dataset, with `train.stress` applied to their batches.

    Attributes:
        source: the whole split.
        held_out: dataset indices held out for `eval_halt_threshold: auto` (empty: none).
    """

    def __init__(self, source, keep: int, stress=None, task: str = ""):
        self.source, self.keep, self.stress, self.task = source, keep, stress, task
        self.held_out = np.arange(keep, len(source), dtype=np.int64)

    def __len__(self) -> int:
        return self.keep

    def __getattr__(self, name: str) -> Any:  # seq_len, root, ... of the split
        return getattr(self.source, name)

    def get_batch(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and idx.max() >= self.keep:
            raise IndexError(f"index out of range for the {self.keep} training examples")
        batch = self.source.get_batch(idx)
        if self.stress is not None and self.stress.active:
            batch = stress_batch(batch, idx, self.stress, self.task)
        return batch


def group_cut(dataset, count: int) -> int:
    """The first example index of the last puzzle groups holding at least `count` examples (a plain
    cut at `len - count` for a mixture or a split of several sets)."""
    n = len(dataset)
    sources = getattr(dataset, "sources", None)
    if sources is not None and len(sources) == 1:
        data = sources[0].data
        starts = data.puzzle_indices[data.group_indices[:-1]]  # first example of every group
        fits = starts[starts <= n - count]
        if fits.size:
            return int(fits.max())
    return n - count


def training_split(recipe, dataset):
    """`dataset` as the trainer should sample it (see the module docstring)."""
    halting = recipe.model.halting
    auto = getattr(halting, "eval_halt_threshold", None) == "auto"
    stress = recipe.train.stress
    if not auto and (stress is None or not stress.active):
        return dataset
    if stress is not None and stress.active:
        check_task(stress, stress_task(recipe.data))
    keep = len(dataset)
    if auto:
        count = halting.auto_threshold_examples
        if count >= len(dataset):
            raise HrmzooError(f"model.halting.auto_threshold_examples={count} leaves nothing to train on "
                              f"({len(dataset)} training examples); lower it")
        keep = group_cut(dataset, count)
    return TrainingView(dataset, keep, stress, stress_task(recipe.data))


def fit_halt_threshold(trainer) -> dict[str, Any] | None:
    """At the end of training: fit `eval_halt_threshold: auto` on the held-out training examples,
    write `halt_threshold.json` and give both the saved and the live weights the value.
    Returns the record (None when the recipe does not say `auto`)."""
    from hrmzoo.evaluate.threshold import fit_threshold
    from hrmzoo.halting.threshold import write_fitted

    view = trainer.train_data
    held = getattr(view, "held_out", None)
    cfg = trainer.model.halting.cfg
    if held is None or getattr(cfg, "eval_halt_threshold", None) != "auto":
        return None
    record = None
    if trainer.dist.is_main:
        size = trainer.cfg.eval_batch_size or trainer.cfg.batch_size
        batches = (view.source.get_batch(held[i:i + size]) for i in range(0, len(held), size))
        record = fit_threshold(trainer.eval_model, batches, tolerance=cfg.auto_threshold_tolerance, batch_size=size,
                               autocast_dtype=trainer.amp_dtype)
        record["held_out"] = {"split": "train", "first_index": int(held[0]), "examples": int(held.size),
                              "note": "held out of training; the test split is not read"}
        write_fitted(trainer.run_dir, record)
    value = torch.tensor([record["threshold"] if record else 0.0], dtype=torch.float64, device=trainer.dist_device())
    trainer.dist.broadcast_(value)  # every rank evaluates with the same value
    for model in (trainer.model, trainer.eval_model):
        model.halting.fitted_threshold = float(value.item())
    return record
