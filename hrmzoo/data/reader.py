"""Validated, memory-mapped reading of a dataset directory.

Everything a loader needs is checked up front (files present, JSON well formed,
shapes and offsets consistent) so a broken directory fails with one line naming
the file and the fix instead of an IndexError deep inside training.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hrmzoo.data.errors import file_error
from hrmzoo.data.format import (
    IDENTIFIERS_FILE,
    METADATA_FILE,
    METADATA_KEYS,
    SPLITS,
    array_path,
)

FIX_REBUILD = "rebuild the dataset (e.g. `hrmzoo data sudoku --out DIR`) or point the recipe at a complete dataset directory"


@dataclass
class SetData:
    """Arrays of one set of one split.

    `inputs`/`labels` are memory-mapped (read-only); the three index arrays are
    small and held in memory as int64.
    """

    name: str
    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_puzzles(self) -> int:
        return int(self.puzzle_identifiers.shape[0])

    @property
    def num_groups(self) -> int:
        return int(self.group_indices.shape[0]) - 1

    @cached_property
    def example_puzzle(self) -> np.ndarray:
        """Puzzle index of every example, [N] int64."""
        return np.repeat(np.arange(self.num_puzzles, dtype=np.int64), np.diff(self.puzzle_indices))

    @cached_property
    def example_identifier(self) -> np.ndarray:
        """Puzzle identifier of every example, [N] int64."""
        return self.puzzle_identifiers[self.example_puzzle]


@dataclass
class SplitData:
    """One split of a dataset: metadata plus one `SetData` per set."""

    root: Path
    split: str
    metadata: dict[str, Any]
    sets: list[SetData] = field(default_factory=list)

    @property
    def vocab_size(self) -> int:
        return int(self.metadata["vocab_size"])

    @property
    def seq_len(self) -> int:
        return int(self.metadata["seq_len"])

    @property
    def num_examples(self) -> int:
        return sum(s.num_examples for s in self.sets)

    @property
    def num_puzzles(self) -> int:
        return sum(s.num_puzzles for s in self.sets)

    @property
    def num_groups(self) -> int:
        return sum(s.num_groups for s in self.sets)


#: a dataset's JSON files (dataset.json, identifiers.json, build.json) are read whole, so bounded
JSON_LIMIT = 256 << 20


def read_json(path: Path, what: str) -> Any:
    """Load a JSON file or raise a one-line `DataError`."""
    if not path.is_file():
        raise file_error(path, f"{what} is missing", FIX_REBUILD)
    from hrmzoo.common.atomic import FileTooLarge, read_small

    try:
        return json.loads(read_small(path, JSON_LIMIT, what).decode("utf-8"))
    except FileTooLarge as e:
        raise file_error(path, str(e).split(": ", 1)[-1], FIX_REBUILD) from None
    except RecursionError:
        raise file_error(path, f"{what} is nested too deeply to be a dataset file", FIX_REBUILD) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise file_error(path, f"{what} is not valid JSON ({e})", FIX_REBUILD) from None


def read_metadata(split_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and type-check `dataset.json` of one split directory."""
    path = Path(split_dir) / METADATA_FILE
    meta = read_json(path, "split metadata")
    if not isinstance(meta, dict):
        raise file_error(path, "expected a JSON object", FIX_REBUILD)
    for key, types in METADATA_KEYS.items():
        if key not in meta:
            raise file_error(path, f"missing key {key!r}", FIX_REBUILD)
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise file_error(path, f"key {key!r} has the wrong type ({type(value).__name__})", FIX_REBUILD)
    for key in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        if meta[key] <= 0:
            raise file_error(path, f"{key} must be positive, got {meta[key]}", FIX_REBUILD)
    if not meta["sets"] or not all(isinstance(s, str) and s for s in meta["sets"]):
        raise file_error(path, "'sets' must be a non-empty list of names", FIX_REBUILD)
    return meta


def read_identifiers(root: str | os.PathLike[str]) -> list[str]:
    """Read `identifiers.json` (puzzle names; index 0 is the blank id)."""
    path = Path(root) / IDENTIFIERS_FILE
    names = read_json(path, "identifier list")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise file_error(path, "expected a JSON list of strings", FIX_REBUILD)
    return names


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise file_error(path, "file is missing", FIX_REBUILD)
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError/OSError/EOFError for truncated files
        raise file_error(path, f"not a readable .npy file, probably truncated ({type(e).__name__}: {e})", FIX_REBUILD) from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.integer):
        raise file_error(path, f"expected an integer array, got dtype {getattr(arr, 'dtype', '?')}", FIX_REBUILD)
    return arr


def _check_offsets(path: Path, offsets: np.ndarray, end: int, what: str) -> None:
    if offsets.ndim != 1 or offsets.shape[0] < 1:
        raise file_error(path, f"expected a 1-D array of {what} offsets, got shape {offsets.shape}", FIX_REBUILD)
    if offsets[0] != 0:
        raise file_error(path, f"{what} offsets must start at 0, got {offsets[0]}", FIX_REBUILD)
    if offsets[-1] != end:
        raise file_error(path, f"{what} offsets must end at {end}, got {offsets[-1]}", FIX_REBUILD)
    if offsets.shape[0] > 1 and np.any(np.diff(offsets) <= 0):
        raise file_error(path, f"{what} offsets must be strictly increasing", FIX_REBUILD)


def load_split(root: str | os.PathLike[str], split: str, *, mmap: bool = True, check_values: bool = True) -> SplitData:
    """Open and validate one split of a dataset.

    Args:
        root: Dataset root (the directory holding `train/` and `test/`).
        split: Split name, usually `"train"` or `"test"`.
        mmap: Memory-map `inputs`/`labels` (`np.load(mmap_mode="r")`).
        check_values: Scan every token and label for ids outside the vocabulary
            and check that some label is supervised (one vectorised pass over the
            split; on by default so a bad id fails here, not mid-training).

    Returns:
        The validated `SplitData`.

    Raises:
        DataError: One line naming the bad file and the fix.
    """
    root = Path(root)
    if not root.is_dir():
        raise file_error(root, "dataset directory does not exist", FIX_REBUILD)
    split_dir = root / split
    if not split_dir.is_dir():
        known = ", ".join(s for s in SPLITS if (root / s).is_dir()) or "none"
        raise file_error(split_dir, f"split directory is missing (present: {known})", FIX_REBUILD)
    meta = read_metadata(split_dir)
    meta_path = split_dir / METADATA_FILE
    seq_len = meta["seq_len"]
    data = SplitData(root=root, split=split, metadata=meta)
    total_groups = 0
    any_supervised = False
    for set_name in meta["sets"]:
        paths = {f: array_path(split_dir, set_name, f) for f in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")}
        inputs = _load_array(paths["inputs"], mmap)
        labels = _load_array(paths["labels"], mmap)
        ids = _load_array(paths["puzzle_identifiers"], False).astype(np.int64)
        pidx = _load_array(paths["puzzle_indices"], False).astype(np.int64)
        gidx = _load_array(paths["group_indices"], False).astype(np.int64)
        if inputs.ndim != 2 or inputs.shape[1] != seq_len:
            raise file_error(paths["inputs"], f"expected shape [N, {seq_len}] (seq_len from dataset.json), got {list(inputs.shape)}", FIX_REBUILD)
        if labels.shape != inputs.shape:
            raise file_error(paths["labels"], f"expected shape {list(inputs.shape)} like the inputs, got {list(labels.shape)}", FIX_REBUILD)
        if ids.ndim != 1:
            raise file_error(paths["puzzle_identifiers"], f"expected a 1-D array, got shape {list(ids.shape)}", FIX_REBUILD)
        if pidx.ndim != 1 or pidx.shape[0] != ids.shape[0] + 1:
            raise file_error(paths["puzzle_indices"], f"expected {ids.shape[0] + 1} offsets (one more than the {ids.shape[0]} puzzles in {paths['puzzle_identifiers'].name}), got shape {list(pidx.shape)}", FIX_REBUILD)
        _check_offsets(paths["puzzle_indices"], pidx, inputs.shape[0], "example")
        _check_offsets(paths["group_indices"], gidx, ids.shape[0], "puzzle")
        if ids.size and (ids.min() < 0 or ids.max() >= meta["num_puzzle_identifiers"]):
            raise file_error(paths["puzzle_identifiers"], f"identifiers must lie in [0, {meta['num_puzzle_identifiers']}) (num_puzzle_identifiers)", FIX_REBUILD)
        if check_values:
            _check_token_range(paths["inputs"], inputs, meta["vocab_size"], "token")
            supervised = _check_token_range(paths["labels"], labels, meta["vocab_size"], "label", meta.get("ignore_label_id"))
            any_supervised = any_supervised or supervised
        total_groups += gidx.shape[0] - 1
        data.sets.append(SetData(set_name, inputs, labels, ids, pidx, gidx))
    if total_groups != meta["total_groups"]:
        raise file_error(meta_path, f"total_groups is {meta['total_groups']} but the group offsets hold {total_groups}", FIX_REBUILD)
    if check_values and data.num_examples and not any_supervised:
        raise file_error(split_dir, f"no label is supervised (every label is ignore_label_id={meta.get('ignore_label_id')}), so nothing can be trained or scored", FIX_REBUILD)
    return data


def _check_token_range(path: Path, arr: np.ndarray, vocab_size: int, what: str, ignore_id: int | None = None, chunk_rows: int = 65536) -> bool:
    """Every id in `[0, vocab_size)` (vectorised, chunk by chunk of the memory map).

    Returns whether any entry differs from `ignore_id` (a supervised label).
    """
    supervised = False
    for start in range(0, arr.shape[0], chunk_rows):
        chunk = np.asarray(arr[start:start + chunk_rows])
        if not chunk.size:
            continue
        if chunk.min() < 0 or chunk.max() >= vocab_size:
            bad = (chunk < 0) | (chunk >= vocab_size)
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise file_error(path, f"row {start + row}, position {col}: {what} id {int(chunk[row, col])} is outside [0, {vocab_size}) (vocab_size in dataset.json)", FIX_REBUILD)
        if not supervised:
            supervised = ignore_id is None or bool((chunk != ignore_id).any())
    return supervised


def validate_dataset(root: str | os.PathLike[str], splits: tuple[str, ...] = SPLITS, *, check_values: bool = False) -> dict[str, SplitData]:
    """Validate a whole dataset root (identifiers + the given splits).

    Returns:
        `{split: SplitData}` for each requested split.
    """
    root = Path(root)
    if not root.is_dir():
        raise file_error(root, "dataset directory does not exist", FIX_REBUILD)
    out = {s: load_split(root, s, check_values=check_values) for s in splits}
    names = read_identifiers(root)
    for s, d in out.items():
        if d.metadata["num_puzzle_identifiers"] > len(names):
            raise file_error(root / IDENTIFIERS_FILE, f"holds {len(names)} names but {s}/dataset.json declares {d.metadata['num_puzzle_identifiers']} identifiers", FIX_REBUILD)
    return out
