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

# every public name is loaded on first use: `hrmzoo data --help` and `hrmzoo solve`'s puzzle
# checks import one generator module (numpy) without pydantic's schemas or torch
_LAZY = {
    "ArcData": "hrmzoo.data.config",
    "DataConfig": "hrmzoo.data.config",
    "MazeData": "hrmzoo.data.config",
    "MixData": "hrmzoo.data.config",
    "PathData": "hrmzoo.data.config",
    "SudokuData": "hrmzoo.data.config",
    "DataError": "hrmzoo.data.errors",
    "IGNORE_LABEL_ID": "hrmzoo.data.format",
    "PAD_ID": "hrmzoo.data.format",
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


__all__ = sorted(_LAZY)
