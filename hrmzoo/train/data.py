"""Batches for training and evaluation from an HRM-format dataset directory.

The data package reads, validates and batches the directory (mapping the
dataset's ignored label id to the loss's `IGNORE_INDEX`); this module checks
that a model fits it and draws shuffled global batches whose position can be
saved and restored exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from hrmzoo.errors import HrmzooError


class DataMismatchError(HrmzooError):
    """The recipe's model does not fit the dataset."""


def open_split(root: str | Path, split: str):
    """A `hrmzoo.data.dataset.PuzzleDataset` over one split (a dataset or a mixture).

    Its batches already carry `IGNORE_INDEX` where the dataset's
    `ignore_label_id` marks unsupervised labels (the data package maps them).
    """
    from hrmzoo.data.dataset import PuzzleDataset

    return PuzzleDataset(root, split)


def split_metadata(root: str | Path, split: str) -> dict[str, Any]:
    """`vocab_size`, `seq_len`, `num_puzzle_identifiers`... of one split (datasets and mixtures)."""
    from hrmzoo.data.prepare import dataset_metadata

    return dataset_metadata(root, split)


def ordered_batches(dataset, batch_size: int, limit: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Consecutive batches in file order (the last may be smaller), for evaluation."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for start in range(0, n, batch_size):
        yield dataset.get_batch(np.arange(start, min(n, start + batch_size)))


def check_compatible(model_cfg, meta: dict[str, Any], where: str | Path) -> None:
    """Raise a one-line DataMismatchError when the model's sizes do not fit the dataset."""
    for key in ("vocab_size", "seq_len"):
        want, have = getattr(model_cfg, key), int(meta[key])
        if want != have:
            raise DataMismatchError(f"{where}: dataset has {key}={have} but the recipe sets model.{key}={want}; override model.{key}={have} or use a matching dataset")
    ids = int(meta["num_puzzle_identifiers"])
    if model_cfg.puzzle_emb_ndim > 0 and model_cfg.num_puzzle_identifiers < ids:
        raise DataMismatchError(
            f"{where}: dataset has {ids} puzzle identifiers but model.num_puzzle_identifiers={model_cfg.num_puzzle_identifiers}; override model.num_puzzle_identifiers={ids}"
        )


class Sampler:
    """Shuffled global batches over epochs; each rank takes its own slice.

    Epoch `e` visits the examples in a permutation seeded by `(seed, e)`; a
    global batch that runs past the end of an epoch continues into the next. The
    position (epoch, cursor) is all the state there is, so resuming is exact.

    Args:
        num_examples: size of the split.
        global_batch: examples per step over all ranks.
        seed: seeds the permutations.
        rank: this process's rank; it takes rows `[rank * B, (rank + 1) * B)`.
        world: number of ranks; `global_batch` must be divisible by it.
    """

    def __init__(self, num_examples: int, global_batch: int, seed: int, rank: int = 0, world: int = 1):
        if num_examples <= 0:
            raise HrmzooError("the train split is empty; build a dataset with at least one example")
        if global_batch % world:
            raise HrmzooError(f"train.batch_size={global_batch} is not divisible by the {world} processes; pick a multiple of {world}")
        self.n, self.global_batch, self.seed = num_examples, global_batch, seed
        self.rank, self.world = rank, world
        self.epoch, self.cursor = 0, 0
        self._perm_epoch, self._perm = -1, np.empty(0, np.int64)

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def next_global(self) -> np.ndarray:
        """Indices of the next global batch (and advance)."""
        out = []
        need = self.global_batch
        while need:
            perm = self._permutation(self.epoch)
            take = perm[self.cursor : self.cursor + need]
            out.append(take)
            need -= len(take)
            self.cursor += len(take)
            if self.cursor >= self.n:
                self.epoch, self.cursor = self.epoch + 1, 0
        return np.concatenate(out)

    def next(self) -> np.ndarray:
        """This rank's indices of the next global batch."""
        local = self.global_batch // self.world
        return self.next_global()[self.rank * local : (self.rank + 1) * local]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])


def prepare_dataset(recipe, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The dataset root of a recipe's `data:` section, built and cached on first use.

    Args:
        recipe: the Recipe.
        cache_dir: where generated datasets are cached (None: the data package's default).
        progress: show generation progress on stderr.
    """
    if recipe.data is None:
        raise HrmzooError(f"recipe '{recipe.name}' has no data: section; add one (a path or a generator spec) or pass data=DIR")
    from hrmzoo.data.config import prepare_data

    if cache_dir is None:
        return Path(prepare_data(recipe.data, progress=progress))
    return Path(prepare_data(recipe.data, cache_dir, progress=progress))
