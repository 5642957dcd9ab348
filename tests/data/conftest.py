"""Shared small datasets for the data tests (built once per session)."""

from __future__ import annotations

import pytest

from hrmzoo.data.maze import build_maze
from hrmzoo.data.sudoku import build_sudoku


@pytest.fixture(scope="session")
def sudoku4_root(tmp_path_factory):
    return build_sudoku(tmp_path_factory.mktemp("s4") / "ds", size=4, num_train=40, num_test=15, num_aug=3, seed=3)


@pytest.fixture(scope="session")
def maze_root(tmp_path_factory):
    return build_maze(tmp_path_factory.mktemp("m") / "ds", size=9, num_train=20, num_test=8, augment=True, seed=5)
