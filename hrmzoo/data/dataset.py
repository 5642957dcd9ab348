"""PyTorch datasets over built datasets (single or mixed).

Batches are dicts of int64 tensors::

    inputs              [B, S]  token ids (PAD where shorter tasks were padded)
    labels              [B, S]  token ids; -100 (IGNORE_LABEL_ID) where unsupervised
    puzzle_identifiers  [B]     per-puzzle embedding index (0 = blank)
    task_id             [B]     only for mixtures, or when a task_id is given

Unsupervised label positions (the dataset's `ignore_label_id`, 0 in every
HRM dataset) become -100, PyTorch's cross-entropy default, as the original
loader does. Rows that pad the last batch of an epoch have PAD inputs, all
labels -100 and identifier 0.

`PuzzleDataset` is map-style (one example per index; use it with any
sampler and `collate_examples`). `PuzzleIterableDataset` yields
whole batches with seeded, epoch-dependent order, optional one-puzzle-per-group
sampling (the original training scheme) and per-rank sharding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import IGNORE_LABEL_ID
from hrmzoo.data.mix import identifier_offsets, is_mix, read_mix
from hrmzoo.data.reader import SetData, load_split


@dataclass
class Source:
    """One set of one split, with what is needed to emit it inside a mixture."""

    data: SetData
    seq_len: int
    pad_id: int
    ignore_label_id: int | None
    task_id: int
    id_offset: int


def open_sources(root: str | os.PathLike[str], split: str) -> tuple[list[Source], bool]:
    """Validate and open every source behind `root` (a dataset or a mixture).

    Returns:
        `(sources, is_mixture)`.
    """
    if is_mix(root):
        tasks = read_mix(root)
        splits = [load_split(t.root, split) for t in tasks]
        offsets = identifier_offsets([s.metadata["num_puzzle_identifiers"] for s in splits])
        out = [Source(d, s.seq_len, s.metadata["pad_id"], s.metadata["ignore_label_id"], t.task_id, off)
               for t, s, off in zip(tasks, splits, offsets) for d in s.sets]
        return out, True
    s = load_split(root, split)
    return [Source(d, s.seq_len, s.metadata["pad_id"], s.metadata["ignore_label_id"], 0, 0) for d in s.sets], False


class _Gatherer:
    """Turns (source, example) index pairs into a padded batch of tensors."""

    def __init__(self, sources: list[Source], with_task: bool) -> None:
        self.sources = sources
        self.with_task = with_task
        self.seq_len = max(s.seq_len for s in sources)
        self.pad_id = sources[0].pad_id

    def gather(self, src: np.ndarray, ex: np.ndarray) -> dict[str, torch.Tensor]:
        b = src.shape[0]
        inputs = np.full((b, self.seq_len), self.pad_id, dtype=np.int64)
        labels = np.full((b, self.seq_len), IGNORE_LABEL_ID, dtype=np.int64)
        ids = np.zeros(b, dtype=np.int64)
        task = np.zeros(b, dtype=np.int64)
        for k, s in enumerate(self.sources):
            rows = np.nonzero(src == k)[0]
            if not rows.size:
                continue
            idx = ex[rows]
            order = np.argsort(idx, kind="stable")  # sorted reads are kinder to a memory map
            sorted_idx = idx[order]
            x = np.asarray(s.data.inputs[sorted_idx], dtype=np.int64)
            y = np.asarray(s.data.labels[sorted_idx], dtype=np.int64)
            if s.ignore_label_id is not None:
                y[y == s.ignore_label_id] = IGNORE_LABEL_ID
            dest = rows[order]
            inputs[dest, :s.seq_len] = x
            labels[dest, :s.seq_len] = y
            local = s.data.example_identifier[sorted_idx]
            ids[dest] = np.where(local != 0, local + s.id_offset, 0)
            task[dest] = s.task_id
        out = {"inputs": torch.from_numpy(inputs), "labels": torch.from_numpy(labels), "puzzle_identifiers": torch.from_numpy(ids)}
        if self.with_task:
            out["task_id"] = torch.from_numpy(task)
        return out


def _locate(sources: Sequence[Source], flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat example index over all sources -> (source, local example)."""
    starts = np.cumsum([0] + [s.data.num_examples for s in sources])
    src = np.searchsorted(starts, flat, side="right") - 1
    return src, flat - starts[src]


class PuzzleDataset(Dataset):
    """Map-style dataset: item `i` is example `i` (mixtures: tasks concatenated).

    Args:
        root: Dataset root or mixture directory.
        split: `"train"` or `"test"`.
        task_id: Add this `task_id` to every item (mixtures always carry theirs).

    Examples:
        >>> ds = PuzzleDataset("data/sudoku", "train")            # doctest: +SKIP
        >>> loader = DataLoader(ds, batch_size=64, collate_fn=collate_examples)  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str], split: str = "train", task_id: int | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.sources, mixed = open_sources(root, split)
        if task_id is not None:
            for s in self.sources:
                s.task_id = int(task_id)
        self._gather = _Gatherer(self.sources, mixed or task_id is not None)
        self._len = sum(s.data.num_examples for s in self.sources)

    @property
    def seq_len(self) -> int:
        return self._gather.seq_len

    def __len__(self) -> int:
        return self._len

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """Vectorised fetch of many items as one batch dict."""
        flat = np.asarray(indices, dtype=np.int64)
        if flat.size and (flat.min() < 0 or flat.max() >= self._len):
            raise IndexError(f"index out of range for a dataset of {self._len} examples")
        return self._gather.gather(*_locate(self.sources, flat))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if i < 0:
            i += self._len
        return {k: v[0] for k, v in self.get_batch([i]).items()}

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        # DataLoader's batched-fetch hook: one vectorised read, then per-item views.
        batch = self.get_batch(indices)
        return [{k: v[j] for k, v in batch.items()} for j in range(len(indices))]


def collate_examples(items: Sequence[dict[str, torch.Tensor]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Stack items into a batch, right-padding sequences of different lengths.

    Inputs are padded with `pad_id` and labels with -100, so items from
    different datasets (e.g. a `ConcatDataset` of tasks) can share a batch.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    out: dict[str, torch.Tensor] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        if vals[0].dim() == 0:
            out[key] = torch.stack(vals)
            continue
        s = max(v.shape[0] for v in vals)
        fill = IGNORE_LABEL_ID if key == "labels" else pad_id
        batch = torch.full((len(vals), s), fill, dtype=vals[0].dtype)
        for j, v in enumerate(vals):
            batch[j, :v.shape[0]] = v
        out[key] = batch
    return out


class PuzzleIterableDataset(IterableDataset):
    """Seeded batch stream with per-rank sharding.

    Every rank computes the same epoch plan (from `seed` and the epoch), cuts
    it into global batches of `batch_size * world_size` and keeps its own
    slice, so ranks see disjoint examples that together cover the epoch. All
    ranks yield the same number of batches (the last one padded, unless
    `drop_last`), which keeps collective ops in step.

    Args:
        root: Dataset root or mixture directory.
        split: `"train"` or `"test"`.
        batch_size: Per-rank batch size.
        seed: Base seed; epoch `e` uses `(seed, e)`.
        sample: `"group"`: each epoch visits every group once, draws one of its
            puzzles and emits all of that puzzle's examples (the original HRM
            scheme: an epoch is one augmentation of every base puzzle);
            `"all"`: every example once.
        shuffle: Shuffle the epoch order (`False`: file order, for evaluation).
        rank: This process's rank.
        world_size: Number of ranks.
        drop_last: Drop the final incomplete global batch instead of padding it.
        task_id: Add this `task_id` to every sample (mixtures carry their own).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        batch_size: int,
        seed: int = 0,
        sample: str = "group",
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        task_id: int | None = None,
    ) -> None:
        super().__init__()
        if sample not in ("group", "all"):
            raise DataError(f"sample must be 'group' or 'all', got {sample!r}")
        if batch_size <= 0 or world_size <= 0 or not 0 <= rank < world_size:
            raise DataError(f"need batch_size > 0 and 0 <= rank < world_size, got batch_size={batch_size}, rank={rank}, world_size={world_size}")
        self.root, self.split = Path(root), split
        self.batch_size, self.seed, self.sample, self.shuffle = batch_size, seed, sample, shuffle
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.sources, mixed = open_sources(root, split)
        if task_id is not None:
            for s in self.sources:
                s.task_id = int(task_id)
        self._gather = _Gatherer(self.sources, mixed or task_id is not None)
        self.epoch = 0

    @property
    def seq_len(self) -> int:
        return self._gather.seq_len

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch the next `iter()` runs (like `DistributedSampler`)."""
        self.epoch = int(epoch)

    def epoch_plan(self, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The global (all ranks) example order of an epoch as `(source, example)` arrays."""
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch])
        if self.sample == "all":
            total = sum(s.data.num_examples for s in self.sources)
            flat = rng.permutation(total) if self.shuffle else np.arange(total)
            return _locate(self.sources, flat)
        # One random puzzle per group; its examples stay contiguous, as in the original.
        n_groups = [s.data.num_groups for s in self.sources]
        g_starts = np.cumsum([0] + n_groups)
        order = rng.permutation(g_starts[-1]) if self.shuffle else np.arange(g_starts[-1])
        src = np.searchsorted(g_starts, order, side="right") - 1
        grp = order - g_starts[src]
        first = np.zeros(order.size, dtype=np.int64)
        count = np.zeros(order.size, dtype=np.int64)
        u = rng.random(order.size)
        for k, s in enumerate(self.sources):
            m = src == k
            gi, pi = s.data.group_indices, s.data.puzzle_indices
            g = grp[m]
            puzzle = gi[g] + (u[m] * (gi[g + 1] - gi[g])).astype(np.int64)
            first[m] = pi[puzzle]
            count[m] = pi[puzzle + 1] - pi[puzzle]
        ex = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
        return np.repeat(src, count), ex

    def shard(self, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """This rank's batches of an epoch: `(source, example)` arrays [steps, batch_size], -1 = padding."""
        src, ex = self.epoch_plan(epoch)
        b, w = self.batch_size, self.world_size
        total = src.size
        steps = total // (b * w) if self.drop_last else -(-total // (b * w))
        pos = (np.arange(steps)[:, None] * (b * w) + self.rank * b + np.arange(b)[None, :])
        valid = pos < total
        pos = np.where(valid, pos, 0)
        if total == 0:
            return np.full((steps, b), -1), np.full((steps, b), -1)
        return np.where(valid, src[pos], -1), np.where(valid, ex[pos], -1)

    def __len__(self) -> int:
        """Batches this rank yields per epoch (the number of groups decides it in `group` mode only on average)."""
        return int(self.shard()[0].shape[0])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        src, ex = self.shard()
        info = get_worker_info()
        steps = range(src.shape[0])
        if info is not None:  # DataLoader workers split the batches, not the examples
            steps = range(info.id, src.shape[0], info.num_workers)
        for k in steps:
            yield self._gather.gather(src[k], ex[k])

    def batches(self, start_epoch: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Endless stream over epochs `start_epoch, start_epoch + 1, ...`."""
        epoch = start_epoch
        while True:
            self.set_epoch(epoch)
            yield from iter(self)
            epoch += 1


def batch_to(batch: dict[str, torch.Tensor], device: Any) -> dict[str, torch.Tensor]:
    """Move every tensor of a batch to `device`."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
