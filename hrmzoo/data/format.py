"""The on-disk dataset format (shared with the original HRM dataset builders).

A dataset root holds `identifiers.json` (list of puzzle names, index 0 is
`"<blank>"`) and one directory per split (`train/`, `test/`). Each split
directory holds `dataset.json` and, for every *set* named in it (the original
builders only ever use `"all"`), five arrays::

    <set>__inputs.npy              [N, seq_len]  token ids
    <set>__labels.npy              [N, seq_len]  token ids; `ignore_label_id` = unsupervised
    <set>__puzzle_identifiers.npy  [P]           id into identifiers.json, per puzzle
    <set>__puzzle_indices.npy      [P + 1]       example offsets per puzzle (0 ... N)
    <set>__group_indices.npy       [G + 1]       puzzle offsets per group (0 ... P)

A *group* is one original puzzle with all its augmentations; a *puzzle* is one
(augmented) variant with its own identifier; an *example* is one input/label
pair. Dtypes follow the original builders: token arrays are `uint8` when the
vocabulary fits (the original writes `uint8` for Sudoku, Maze and ARC) and
index arrays are `int32`. Readers accept any integer dtype.

Files that are not part of that layout (`build.json`, `extra__*.npy`,
`arc_test_meta.json`) are hrmzoo additions; the original loader ignores them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hrmzoo.data.errors import DataError

#: Padding token id (inputs) in every hrmzoo-built dataset.
PAD_ID = 0
#: The label value the original marks as "not supervised" (equal to PAD).
IGNORE_LABEL_ID_ON_DISK = 0
#: What unsupervised label positions become in a batch (PyTorch's cross-entropy default).
IGNORE_LABEL_ID = -100
#: Puzzle identifier used for padding rows and for tasks without per-puzzle ids.
BLANK_IDENTIFIER_ID = 0
BLANK_IDENTIFIER = "<blank>"
SPLITS = ("train", "test")
SET_NAME = "all"
FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
METADATA_FILE = "dataset.json"
IDENTIFIERS_FILE = "identifiers.json"
BUILD_FILE = "build.json"
#: Bumped whenever generated content changes, so cached builds are not reused.
FORMAT_VERSION = 1

METADATA_KEYS: dict[str, tuple[type, ...]] = {
    "pad_id": (int,),
    "ignore_label_id": (int, type(None)),
    "blank_identifier_id": (int,),
    "vocab_size": (int,),
    "seq_len": (int,),
    "num_puzzle_identifiers": (int,),
    "total_groups": (int,),
    "mean_puzzle_examples": (int, float),
    "sets": (list,),
}


def array_path(split_dir: Path, set_name: str, field: str) -> Path:
    """Path of one array file, e.g. `train/all__inputs.npy`."""
    return Path(split_dir) / f"{set_name}__{field}.npy"


@dataclass
class SplitArrays:
    """The five arrays of one split (one set) held in memory before writing.

    Attributes:
        inputs: [N, seq_len] token ids.
        labels: [N, seq_len] token ids.
        puzzle_identifiers: [P] identifier per puzzle.
        puzzle_indices: [P + 1] example offsets.
        group_indices: [G + 1] puzzle offsets.
    """

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


class SplitBuilder:
    """Accumulates groups of puzzles of examples, then emits `SplitArrays`.

    Examples:
        >>> b = SplitBuilder(seq_len=4)
        >>> b.add_group([(0, [(np.ones(4), np.ones(4))])])
        >>> b.build().num_examples
        1
    """

    def __init__(self, seq_len: int) -> None:
        self.seq_len = seq_len
        self._inputs: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._ids: list[int] = []
        self._puzzle_idx = [0]
        self._group_idx = [0]

    def add_group(self, puzzles: Sequence[tuple[int, Sequence[tuple[np.ndarray, np.ndarray]]]]) -> None:
        """Append one group.

        Args:
            puzzles: `(identifier, [(input, label), ...])` per puzzle variant;
                every puzzle needs at least one example.
        """
        for ident, examples in puzzles:
            if not examples:
                raise ValueError("a puzzle needs at least one example")
            for x, y in examples:
                self._inputs.append(np.asarray(x).reshape(-1))
                self._labels.append(np.asarray(y).reshape(-1))
            self._ids.append(int(ident))
            self._puzzle_idx.append(len(self._inputs))
        self._group_idx.append(len(self._ids))

    def add_flat(self, inputs: np.ndarray, labels: np.ndarray, group_sizes: np.ndarray) -> None:
        """Fast path for one-example puzzles with identifier 0 (Sudoku, Maze).

        Args:
            inputs: [n, seq_len] inputs, grouped consecutively.
            labels: [n, seq_len] labels.
            group_sizes: puzzles per group, summing to `n`.
        """
        n0 = len(self._inputs)
        self._inputs.extend(np.asarray(inputs).reshape(len(inputs), -1))
        self._labels.extend(np.asarray(labels).reshape(len(labels), -1))
        self._ids.extend([BLANK_IDENTIFIER_ID] * len(inputs))
        self._puzzle_idx.extend(range(n0 + 1, n0 + len(inputs) + 1))
        p = len(self._ids) - len(inputs)
        for size in group_sizes:
            p += int(size)
            self._group_idx.append(p)
        if p != len(self._ids):
            raise ValueError("group_sizes must sum to the number of inputs")

    def build(self, token_dtype: np.dtype | type = np.uint8) -> SplitArrays:
        """Stack everything into arrays with the original builders' dtypes."""
        shape = (len(self._inputs), self.seq_len)
        inputs = np.stack(self._inputs).astype(token_dtype) if self._inputs else np.zeros(shape, token_dtype)
        labels = np.stack(self._labels).astype(token_dtype) if self._labels else np.zeros(shape, token_dtype)
        return SplitArrays(
            inputs=inputs,
            labels=labels,
            puzzle_identifiers=np.asarray(self._ids, dtype=np.int32),
            puzzle_indices=np.asarray(self._puzzle_idx, dtype=np.int32),
            group_indices=np.asarray(self._group_idx, dtype=np.int32),
        )


def token_dtype_for(vocab_size: int) -> type:
    """`uint8` like the original when the vocabulary fits, else `int32`."""
    return np.uint8 if vocab_size <= 256 else np.int32


def write_split(
    split_dir: str | os.PathLike[str],
    arrays: SplitArrays,
    *,
    vocab_size: int,
    num_puzzle_identifiers: int,
    pad_id: int = PAD_ID,
    ignore_label_id: int | None = IGNORE_LABEL_ID_ON_DISK,
    blank_identifier_id: int = BLANK_IDENTIFIER_ID,
) -> Path:
    """Write one split directory (`dataset.json` + the five `all__*.npy`).

    Args:
        split_dir: Directory to create (e.g. `root/train`).
        arrays: The split's arrays; token arrays are cast to `token_dtype_for`.
        vocab_size: Number of token ids (PAD included).
        num_puzzle_identifiers: Length of `identifiers.json`.
        pad_id: Input padding id.
        ignore_label_id: Label value meaning "not supervised" (`None`: all supervised).
        blank_identifier_id: Identifier of padding rows.

    Returns:
        The split directory.
    """
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    seq_len = int(arrays.inputs.shape[1])
    if arrays.labels.shape != arrays.inputs.shape:
        raise ValueError(f"labels shape {arrays.labels.shape} != inputs shape {arrays.inputs.shape}")
    dtype = token_dtype_for(vocab_size)
    data = {
        "inputs": arrays.inputs.astype(dtype, copy=False),
        "labels": arrays.labels.astype(dtype, copy=False),
        "puzzle_identifiers": arrays.puzzle_identifiers.astype(np.int32, copy=False),
        "puzzle_indices": arrays.puzzle_indices.astype(np.int32, copy=False),
        "group_indices": arrays.group_indices.astype(np.int32, copy=False),
    }
    for field, arr in data.items():
        np.save(array_path(split_dir, SET_NAME, field), np.ascontiguousarray(arr))
    write_split_metadata(split_dir, vocab_size=vocab_size, seq_len=seq_len, num_puzzle_identifiers=num_puzzle_identifiers,
                         num_examples=arrays.num_examples, num_puzzles=arrays.num_puzzles, num_groups=arrays.num_groups,
                         pad_id=pad_id, ignore_label_id=ignore_label_id, blank_identifier_id=blank_identifier_id)
    return split_dir


def write_flat_split(
    split_dir: str | os.PathLike[str],
    inputs: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[np.ndarray] | np.ndarray,
    group_sizes: Sequence[int] | np.ndarray,
    *,
    seq_len: int,
    vocab_size: int,
    extras: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a split of one-example puzzles (the generators' common case) with its `extra__*.npy` arrays.

    Args:
        split_dir: Directory to create.
        inputs: [n, seq_len] inputs, grouped consecutively (may be empty).
        labels: [n, seq_len] labels.
        group_sizes: puzzles per group, summing to `n`.
        seq_len: Tokens per example (the shape of an empty split).
        vocab_size: Number of token ids (PAD included).
        extras: Per-group or per-example side arrays, saved as `extra__<name>.npy`.

    Returns:
        The split directory.
    """
    builder = SplitBuilder(seq_len=seq_len)
    if len(inputs):
        builder.add_flat(np.stack(inputs), np.stack(labels), np.asarray(group_sizes))
    split_dir = write_split(split_dir, builder.build(), vocab_size=vocab_size, num_puzzle_identifiers=1)
    for name, arr in (extras or {}).items():
        np.save(split_dir / f"extra__{name}.npy", arr)
    return split_dir


def write_split_metadata(
    split_dir: str | os.PathLike[str],
    *,
    vocab_size: int,
    seq_len: int,
    num_puzzle_identifiers: int,
    num_examples: int,
    num_puzzles: int,
    num_groups: int,
    pad_id: int = PAD_ID,
    ignore_label_id: int | None = IGNORE_LABEL_ID_ON_DISK,
    blank_identifier_id: int = BLANK_IDENTIFIER_ID,
) -> None:
    """Write a split's `dataset.json` from its counts (shared by `write_split` and streaming writers)."""
    metadata = {
        "pad_id": pad_id,
        "ignore_label_id": ignore_label_id,
        "blank_identifier_id": blank_identifier_id,
        "vocab_size": int(vocab_size),
        "seq_len": int(seq_len),
        "num_puzzle_identifiers": int(num_puzzle_identifiers),
        "total_groups": int(num_groups),
        "mean_puzzle_examples": (num_examples / num_puzzles) if num_puzzles else 0,
        "sets": [SET_NAME],
    }
    write_json(Path(split_dir) / METADATA_FILE, metadata)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Deterministic JSON (fixed key order, no timestamps) so seeded builds are byte-identical."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))


def write_identifiers(root: str | os.PathLike[str], names: Sequence[str]) -> None:
    """Write `identifiers.json`; `names[0]` must be `"<blank>"`."""
    if not names or names[0] != BLANK_IDENTIFIER:
        raise ValueError('identifiers must start with "<blank>"')
    Path(root).mkdir(parents=True, exist_ok=True)
    write_json(Path(root) / IDENTIFIERS_FILE, list(names))


def write_build_info(root: str | os.PathLike[str], kind: str, spec: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Record how a dataset was made (hrmzoo addition; ignored by the original)."""
    info = {"format_version": FORMAT_VERSION, "generator": kind, "spec": spec}
    if extra:
        info.update(extra)
    write_json(Path(root) / BUILD_FILE, info)


def read_build_info(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """`build.json` of an hrmzoo-built dataset, or `None` (e.g. built by the original)."""
    p = Path(root) / BUILD_FILE
    if not p.is_file():
        return None
    from hrmzoo.common.atomic import FileTooLarge, read_small

    try:
        out = json.loads(read_small(p, 1 << 20, BUILD_FILE).decode("utf-8"))
    except RecursionError:
        raise DataError(f"{p}: nested too deeply to be a build record; delete the file or rebuild the dataset") from None
    except (OSError, ValueError, FileTooLarge) as e:
        raise DataError(f"{p}: not valid JSON ({e}); delete the file or rebuild the dataset") from None
    return out if isinstance(out, dict) else None
