"""Loaders: batches, seeding, group sampling, rank sharding, mixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hrmzoo.data.dataset import PuzzleDataset, PuzzleIterableDataset, collate_examples
from hrmzoo.data.format import IGNORE_LABEL_ID
from hrmzoo.data.mix import write_mix


def test_map_style(sudoku4_root):
    ds = PuzzleDataset(sudoku4_root, "train")
    assert len(ds) == 160
    item = ds[3]
    assert set(item) == {"inputs", "labels", "puzzle_identifiers"}
    assert item["inputs"].dtype == torch.int64 and item["inputs"].shape == (16,)
    batch = next(iter(DataLoader(ds, batch_size=8, collate_fn=collate_examples)))
    assert batch["inputs"].shape == (8, 16) and batch["puzzle_identifiers"].shape == (8,)
    assert torch.equal(batch["inputs"][3], item["inputs"])
    assert "task_id" in PuzzleDataset(sudoku4_root, "train", task_id=2)[0]


def test_iterable_seeded_and_epochs(sudoku4_root):
    mk = lambda seed: PuzzleIterableDataset(sudoku4_root, "train", batch_size=16, seed=seed)
    a, b, c = mk(0), mk(0), mk(1)
    first = [x["inputs"] for x in a]
    assert all(torch.equal(x, y["inputs"]) for x, y in zip(first, b))
    assert not torch.equal(first[0], next(iter(c))["inputs"])
    a.set_epoch(1)
    assert not torch.equal(first[0], next(iter(a))["inputs"])


def test_group_sampling_one_per_group(sudoku4_root):
    ds = PuzzleIterableDataset(sudoku4_root, "train", batch_size=16, seed=0)
    src, ex = ds.epoch_plan(0)
    assert ex.size == 40  # one (single-example) puzzle of each of the 40 groups
    groups = np.searchsorted(ds.sources[0].data.group_indices, ds.sources[0].data.example_puzzle[ex], side="right") - 1
    assert sorted(groups.tolist()) == list(range(40))
    plans = {tuple(ds.epoch_plan(e)[1]) for e in range(5)}
    assert len(plans) == 5  # different augmentation choices per epoch


@pytest.mark.parametrize("sample", ["all", "group"])
@pytest.mark.parametrize("world", [1, 3, 4])
def test_sharding_disjoint_and_covering(sudoku4_root, sample, world):
    shards = [PuzzleIterableDataset(sudoku4_root, "train", batch_size=7, seed=5, sample=sample, rank=r, world_size=world).shard(2)
              for r in range(world)]
    steps = {s[0].shape[0] for s in shards}
    assert len(steps) == 1  # every rank runs the same number of steps
    seen = np.concatenate([ex[ex >= 0] for _, ex in shards])
    full_src, full_ex = PuzzleIterableDataset(sudoku4_root, "train", batch_size=7, seed=5, sample=sample).epoch_plan(2)
    assert len(seen) == len(set(seen.tolist())) == full_ex.size
    assert sorted(seen.tolist()) == sorted(full_ex.tolist())


def test_padding_rows_are_ignored(sudoku4_root):
    ds = PuzzleIterableDataset(sudoku4_root, "test", batch_size=4, shuffle=False, sample="all", rank=1, world_size=2)
    batches = list(ds)
    assert len(batches) == 2  # 15 examples, global batch 8
    last = batches[-1]
    assert (last["labels"][-1] == IGNORE_LABEL_ID).all() and (last["inputs"][-1] == 0).all()
    dropped = PuzzleIterableDataset(sudoku4_root, "test", batch_size=4, sample="all", world_size=2, drop_last=True)
    assert len(list(dropped)) == 1


def test_ignore_label_mapping(maze_root, sudoku4_root):
    b = PuzzleDataset(maze_root, "train").get_batch([0, 1])
    assert (b["labels"] >= 1).all()  # mazes supervise every cell (no 0 labels on disk)
    b = PuzzleDataset(sudoku4_root, "test").get_batch(list(range(15)))
    assert (b["labels"] >= 2).all() and (b["inputs"] >= 1).all()


def test_mixture(tmp_path, sudoku4_root, maze_root):
    mix = write_mix(tmp_path / "mix", [("sudoku4", sudoku4_root), ("maze9", maze_root)])
    ds = PuzzleIterableDataset(mix, "train", batch_size=32, seed=0, sample="all")
    n_s, n_m = 160, 160
    seen = {0: 0, 1: 0}
    for batch in ds:
        assert batch["inputs"].shape[1] == 81 and set(batch) == {"inputs", "labels", "puzzle_identifiers", "task_id"}
        for row in range(batch["inputs"].shape[0]):
            t = int(batch["task_id"][row])
            seen[t] += 1
            if t == 0:
                assert (batch["inputs"][row, 16:] == 0).all() and (batch["labels"][row, 16:] == IGNORE_LABEL_ID).all()
                assert (batch["labels"][row, :16] >= 2).all()
    assert seen == {0: n_s, 1: n_m}
    m = PuzzleDataset(mix, "test")
    assert len(m) == 15 + 8 and int(m[20]["task_id"]) == 1 and m[0]["inputs"].shape == (81,)


def test_collate_pads_mixed_lengths():
    items = [{"inputs": torch.ones(3, dtype=torch.long), "labels": torch.ones(3, dtype=torch.long), "puzzle_identifiers": torch.tensor(0)},
             {"inputs": torch.ones(5, dtype=torch.long), "labels": torch.ones(5, dtype=torch.long), "puzzle_identifiers": torch.tensor(1)}]
    b = collate_examples(items)
    assert b["inputs"].shape == (2, 5) and b["inputs"][0, 4] == 0 and b["labels"][0, 4] == IGNORE_LABEL_ID
