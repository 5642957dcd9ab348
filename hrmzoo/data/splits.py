"""Data access for training, evaluation and analysis: a recipe's dataset, its splits and batches.

The rest of the data package reads, validates and batches a dataset directory
(mapping the dataset's ignored label id to the loss's `IGNORE_INDEX`); this
module is what the layers above use: build or find a recipe's dataset, open a
split, read its sizes, check that a model fits them, and batch a split in file
order. Shuffled training batches are the trainer's (`hrmzoo.train.data.Sampler`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from hrmzoo.data.prepare import dataset_metadata, prepare_data
from hrmzoo.errors import HrmzooError

if TYPE_CHECKING:  # annotations only: importing this module must not import torch
    import torch


class DataMismatchError(HrmzooError):
    """The recipe's model does not fit the dataset."""


def open_split(root: str | Path, split: str):
    """A `hrmzoo.data.dataset.PuzzleDataset` over one split (a dataset or a mixture).

    Its batches already carry `IGNORE_INDEX` where the dataset's
    `ignore_label_id` marks unsupervised labels (the data package maps them).
    """
    from hrmzoo.data.dataset import PuzzleDataset  # here: the loader imports torch

    return PuzzleDataset(root, split)


def split_metadata(root: str | Path, split: str) -> dict[str, Any]:
    """`vocab_size`, `seq_len`, `num_puzzle_identifiers`... of one split (datasets and mixtures)."""
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


def prepare_dataset(recipe, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The dataset root of a recipe's `data:` section, built and cached on first use.

    Args:
        recipe: the Recipe.
        cache_dir: where generated datasets are cached (None: the data package's default).
        progress: show generation progress on stderr.
    """
    if recipe.data is None:
        raise HrmzooError(f"recipe '{recipe.name}' has no data: section; add one (a path or a generator spec) or pass data=DIR")
    if cache_dir is None:
        return Path(prepare_data(recipe.data, progress=progress))
    from hrmzoo.common.paths import check_output_dir

    # a cache directory is an output like --out: not empty, not /, not the working directory or above it
    return Path(prepare_data(recipe.data, check_output_dir(cache_dir, "train.data_cache"), progress=progress))
