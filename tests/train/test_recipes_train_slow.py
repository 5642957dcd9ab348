"""Slow checks: shipped tiny recipes train to their recorded accuracy on CPU (run with ``-m slow``).

Figures recorded on a shared 2-core CPU (see each recipe's header): tiny_sudoku4 >= 95%;
tiny_sudoku6 67.5% vs 9.0% for its single-pass baseline; tiny_maze well above tiny_maze_baseline.
The thresholds below leave room for seed-to-seed noise while still failing if recurrence stops helping.
"""

from __future__ import annotations

import pytest

from hrmzoo.train import train


def exact(recipe: str, tmp_path) -> float:
    summary = train(f"recipes/{recipe}.yaml", ["train.progress=false", f"train.data_cache={tmp_path / 'cache'}"], run_dir=tmp_path / recipe)
    return summary.test.metrics["exact_accuracy"]


@pytest.mark.slow
def test_tiny_sudoku4_reaches_95_percent(tmp_path):
    assert exact("tiny_sudoku4", tmp_path) >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("recipe, margin", [("tiny_sudoku6", 0.3), ("tiny_maze", 0.15)])
def test_recurrence_beats_single_pass_baseline(tmp_path, recipe, margin):
    assert exact(recipe, tmp_path) >= exact(f"{recipe}_baseline", tmp_path) + margin
