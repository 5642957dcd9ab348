"""Training batches: seeded order, exact position restore, per-rank slices, label mapping."""

from __future__ import annotations

import numpy as np
import pytest

from hrmzoo.data.format import IGNORE_LABEL_ID
from hrmzoo.heads.lm import IGNORE_INDEX
from hrmzoo.train.data import Sampler


def test_loss_and_data_agree_on_the_ignore_index():
    assert IGNORE_LABEL_ID == IGNORE_INDEX


def test_sampler_covers_each_epoch_once_and_wraps():
    s = Sampler(10, 4, seed=1)
    drawn = np.concatenate([s.next() for _ in range(5)])  # 20 = two epochs
    assert sorted(drawn[:10]) == list(range(10)) and sorted(drawn[10:]) == list(range(10))
    assert s.state_dict() == {"epoch": 2, "cursor": 0}
    assert not np.array_equal(drawn[:10], drawn[10:])  # each epoch has its own order


def test_sampler_restores_position():
    a = Sampler(13, 5, seed=0)
    for _ in range(3):
        a.next()
    b = Sampler(13, 5, seed=0)
    b.load_state_dict(a.state_dict())
    for _ in range(6):
        assert np.array_equal(a.next(), b.next())


def test_ranks_split_the_global_batch():
    one = Sampler(50, 8, seed=2)
    ranks = [Sampler(50, 8, seed=2, rank=r, world=2) for r in range(2)]
    for _ in range(9):
        assert np.array_equal(one.next(), np.concatenate([r.next() for r in ranks]))


def test_batch_must_divide_by_world():
    from hrmzoo.errors import HrmzooError

    with pytest.raises(HrmzooError, match="not divisible"):
        Sampler(10, 5, seed=0, rank=0, world=2)


def test_ignored_labels_reach_the_loss_as_ignore_index(tmp_path):
    from hrmzoo.data.format import SplitBuilder, write_identifiers, write_split
    from hrmzoo.data.splits import open_split

    b = SplitBuilder(seq_len=4)
    b.add_group([(0, [(np.array([2, 3, 1, 1]), np.array([0, 0, 4, 5]))])])
    write_split(tmp_path / "train", b.build(), vocab_size=6, num_puzzle_identifiers=1)
    write_identifiers(tmp_path, ["<blank>"])
    batch = open_split(tmp_path, "train").get_batch([0])
    assert batch["labels"].tolist() == [[IGNORE_INDEX, IGNORE_INDEX, 4, 5]]
