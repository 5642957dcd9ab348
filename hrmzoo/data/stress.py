"""Training under stress: corrupted and unsolvable inputs mixed into any task's batches.

`train.stress` in a recipe turns a fixed share of the training examples into
stressed ones, chosen and altered by a seeded hash of the example's index, so
the same example is always stressed the same way (a resumed run sees exactly
what the first one did) and the dataset files are never touched (the
generators' outputs stay byte-identical):

- corrupted (`corrupt`): a `corrupt_cells` fraction of the givens (cells shown
  in the input and equal to the label; at least one) changed to another
  symbol of the task. The label stays the original solution: the model learns
  to answer through noisy givens, and its halting head learns how often it
  manages to. Works with any task whose inputs show some of the labels.
- unsolvable (`unsolvable`): an input with no answer at all. Sudoku: a blank
  cell is filled with a digit already given in its row (two equal digits in
  one row). Maze: a wall on a cell of the path (the generator's mazes are
  perfect, so the path is the only one and the goal is cut off). The labels
  are all unsupervised and the batch carries `solvable = False`: the
  training loop counts such an answer as never right, so the halting head
  learns that confidence is wrong there (`hrmzoo.model.segment_loop.segment_step`).

`stress_batch` applies it to one batch; `hrmzoo halting ... stress=true`
builds a stress split of the test data the same way.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hrmzoo.errors import HrmzooError

if TYPE_CHECKING:  # the recipe layer imports StressConfig before torch is loaded
    import torch

IGNORE_INDEX = -100  # hrmzoo.heads.lm.IGNORE_INDEX (the data layer knows no model)
SUDOKU_DIGIT0 = 2  # hrmzoo.data.sudoku: PAD 0, blank 1, digits 2..n+1
SUDOKU_BLANK = 1
MAZE_WALL, MAZE_OPEN, MAZE_PATH = 1, 2, 5  # hrmzoo.data.maze

#: tasks with a rule for an unsolvable input (`recipe.data.type`)
UNSOLVABLE_TASKS = ("sudoku", "maze")


class StressConfig(BaseModel):
    """`train.stress`: shares of stressed training examples (see `hrmzoo.data.stress`).

    Attributes:
        corrupt: fraction of training examples with corrupted givens, in [0, 1].
        corrupt_cells: fraction of a corrupted example's givens changed (at least one), in (0, 1].
        unsolvable: fraction of training examples made unsolvable (Sudoku and maze), in [0, 1].
        seed: seeds which examples are stressed and how.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    corrupt: float = Field(0.0, ge=0, le=1)
    corrupt_cells: float = Field(0.1, gt=0, le=1)
    unsolvable: float = Field(0.0, ge=0, le=1)
    seed: int = Field(0, ge=0, lt=2**31)

    @model_validator(mode="after")
    def _shares_fit(self):
        if self.corrupt + self.unsolvable > 1:
            raise ValueError(f"corrupt={self.corrupt} + unsolvable={self.unsolvable} is more than every example; keep the sum <= 1")
        return self

    @property
    def active(self) -> bool:
        return self.corrupt > 0 or self.unsolvable > 0


def stress_task(data) -> str:
    """The task whose rules stress data of this spec (`recipe.data`): its `type`; for a mixture
    whose tasks are all of one type (the same puzzle at several difficulties: mixed difficulty)
    that type; otherwise `mix` (no unsolvable rule), and `path` without a spec."""
    if data is None:
        return "path"
    if data.type == "mix":
        kinds = {task.data.type for task in data.tasks}
        return kinds.pop() if len(kinds) == 1 else "mix"
    return data.type


def check_task(cfg: StressConfig, task: str) -> None:
    """A one-line error when `unsolvable` is asked of a task without a rule for it."""
    if cfg.unsolvable > 0 and task not in UNSOLVABLE_TASKS:
        raise HrmzooError(f"train.stress.unsolvable={cfg.unsolvable}: no rule makes a '{task}' input unsolvable "
                          f"(rules exist for {', '.join(UNSOLVABLE_TASKS)}); set train.stress.unsolvable=0")


def _example_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(index), 0x57E55])


def _kind(cfg: StressConfig, index: int) -> str:
    """'clean', 'corrupt' or 'unsolvable' for example `index` (a fixed draw per example)."""
    u = np.random.default_rng([cfg.seed, int(index)]).random()
    if u < cfg.unsolvable:
        return "unsolvable"
    if u < cfg.unsolvable + cfg.corrupt:
        return "corrupt"
    return "clean"


def corrupt_row(inputs: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Change a `fraction` of the givens (input == label, supervised; at least one) to another
    symbol that occurs among the row's labels. Returns the new inputs (a copy)."""
    out = inputs.copy()
    given = np.flatnonzero((inputs == labels) & (labels != IGNORE_INDEX))
    symbols = np.unique(labels[labels != IGNORE_INDEX])
    if given.size == 0 or symbols.size < 2:
        return out
    k = max(1, int(round(fraction * given.size)))
    for cell in rng.choice(given, size=min(k, given.size), replace=False):
        others = symbols[symbols != inputs[cell]]
        out[cell] = rng.choice(others)
    return out


def unsolvable_sudoku(inputs: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Fill a blank cell with a digit given elsewhere in its row (None: no row has both)."""
    n = math.isqrt(inputs.size)
    grid = inputs.reshape(n, n).copy()
    rows = [r for r in range(n) if (grid[r] == SUDOKU_BLANK).any() and (grid[r] >= SUDOKU_DIGIT0).any()]
    if not rows:
        return None
    r = int(rng.choice(rows))
    blank = int(rng.choice(np.flatnonzero(grid[r] == SUDOKU_BLANK)))
    grid[r, blank] = int(rng.choice(grid[r][grid[r] >= SUDOKU_DIGIT0]))
    return grid.reshape(-1)


def unsolvable_maze(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Put a wall on an open cell of the (unique) path (None: the path has no open cell)."""
    on_path = np.flatnonzero((labels == MAZE_PATH) & (inputs == MAZE_OPEN))
    if on_path.size == 0:
        return None
    out = inputs.copy()
    out[int(rng.choice(on_path))] = MAZE_WALL
    return out


def stress_batch(batch: dict[str, "torch.Tensor"], indices: np.ndarray, cfg: StressConfig, task: str) -> dict[str, "torch.Tensor"]:
    """The batch with its stressed examples altered and a `solvable` [B] bool column added.

    Args:
        batch: `inputs`, `labels` [B, S] and the rest, as `PuzzleDataset.get_batch` gives them.
        indices: the dataset index of every row (it decides and seeds each row's stress).
        cfg: the shares.
        task: the recipe's `data.type` (picks the unsolvable rule).
    """
    import torch

    inputs = batch["inputs"].numpy().copy()
    labels = batch["labels"].numpy().copy()
    solvable = np.ones(len(indices), dtype=bool)
    for row, index in enumerate(indices):
        kind = _kind(cfg, index)
        if kind == "clean":
            continue
        rng = _example_rng(cfg.seed, index)
        if kind == "corrupt":
            inputs[row] = corrupt_row(inputs[row], labels[row], cfg.corrupt_cells, rng)
            continue
        made = unsolvable_sudoku(inputs[row], rng) if task == "sudoku" else unsolvable_maze(inputs[row], labels[row], rng)
        if made is None:  # nothing to break (a full board, no open path cell): stays clean
            continue
        inputs[row] = made
        labels[row] = IGNORE_INDEX
        solvable[row] = False
    out = dict(batch)
    out["inputs"] = torch.from_numpy(inputs).to(batch["inputs"].dtype)
    out["labels"] = torch.from_numpy(labels).to(batch["labels"].dtype)
    out["solvable"] = torch.from_numpy(solvable)
    return out
