"""Shuffled global batches for training, resumable exactly.

Opening a dataset, its sizes and in-order batches are data access
(`hrmzoo.data.splits`); this module only decides which examples each training
step sees.
"""

from __future__ import annotations

import numpy as np

from hrmzoo.errors import HrmzooError


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
