"""Datasets for hrmzoo: the HRM on-disk format, generators and loaders.

Layout (see `hrmzoo.data.format`) is the one the original HRM dataset
builders write, so their datasets load unchanged. Generators: Sudoku
(`sudoku`), Maze (`maze`), ARC (`arc`), theory-of-mind grids (`tom`), and
the tiny-data families Horn-rule closure (`logic`), list programs
(`listfn`) and min-cost flow (`flow`). Loaders: `PuzzleDataset` (map-style) and
`PuzzleIterableDataset` (seeded batches, sharded per rank). Recipes use
`DataConfig` and `prepare_data`.

Importing this package does not import torch; the loader classes are loaded
on first use.
"""

from __future__ import annotations

from typing import Any

from hrmzoo.data.config import ArcData, DataConfig, MazeData, MixData, PathData, SudokuData
from hrmzoo.data.errors import DataError
from hrmzoo.data.format import IGNORE_LABEL_ID, PAD_ID

_LAZY = {
    "PuzzleDataset": "hrmzoo.data.dataset",
    "PuzzleIterableDataset": "hrmzoo.data.dataset",
    "collate_examples": "hrmzoo.data.dataset",
    "describe": "hrmzoo.data.prepare",
    "dataset_metadata": "hrmzoo.data.prepare",
    "config_metadata": "hrmzoo.data.prepare",
    "prepare_data": "hrmzoo.data.prepare",
    "load_split": "hrmzoo.data.reader",
    "validate_dataset": "hrmzoo.data.reader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hrmzoo.data' has no attribute {name!r}")


__all__ = [
    "ArcData", "DataConfig", "DataError", "IGNORE_LABEL_ID", "MazeData", "MixData", "PAD_ID", "PathData", "SudokuData",
    *_LAZY,
]
