"""Training: the `train:` recipe section, optimizers, schedules and the deep-supervision trainer.

Front door::

    from hrmzoo.train import train
    summary = train("recipes/tiny_sudoku4.yaml", ["train.steps=500"])
    print(summary.test.metrics["exact_accuracy"])
"""

from __future__ import annotations

from typing import Any


def train(recipe: Any, overrides: list[str] | tuple[str, ...] = (), **kwargs: Any):
    """Run `hrmzoo.train.trainer.Trainer` to the end and return its `TrainSummary`.

    Args:
        recipe: a recipe path, shipped name, dict or Recipe.
        overrides: `key=value` strings.
        **kwargs: `run_dir`, `data_root`, `resume`, `dist` (see `Trainer`).
    """
    from hrmzoo.train.trainer import Trainer  # lazy: the recipe schema imports this package

    return Trainer(recipe, overrides, **kwargs).run()


__all__ = ["train"]
