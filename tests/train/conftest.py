"""Shared fixtures for the training and evaluation tests: a tiny 4x4 Sudoku dataset and recipe overrides."""

from __future__ import annotations

import pytest

#: A very small HRM on 4x4 Sudoku (fast on one CPU thread).
TINY = [
    "model.hidden_size=32",
    "model.l_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}",
    "model.h_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}",
    "model.coupling.h_cycles=1",
    "model.coupling.l_cycles=2",
    "train.batch_size=8",
    "train.progress=false",
    "train.final_eval=false",
    "train.lr=3.0e-3",
]


@pytest.fixture(scope="session")
def sudoku4(tmp_path_factory):
    """Root of a generated 4x4 Sudoku dataset (48 train, 16 test puzzles)."""
    from hrmzoo.data.sudoku import build_sudoku

    return build_sudoku(tmp_path_factory.mktemp("data") / "s4", size=4, num_train=48, num_test=16, seed=3)
