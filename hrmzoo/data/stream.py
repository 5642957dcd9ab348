"""Write a split to disk group by group, so building never holds the whole dataset in memory.

`StreamingSplitWriter` has the contract of
`hrmzoo.data.format.SplitBuilder` followed by
`hrmzoo.data.format.write_split`, and writes the same bytes: token rows
are appended to the `.npy` files as groups arrive (after room left for the
header), the header is written last, once the row count is known. Only the
small index arrays (one int per puzzle and per group) stay in memory.
"""

from __future__ import annotations

import io
import os
from array import array
from pathlib import Path
from typing import Sequence

import numpy as np

from hrmzoo.data.format import (
    BLANK_IDENTIFIER_ID,
    IGNORE_LABEL_ID_ON_DISK,
    PAD_ID,
    SET_NAME,
    array_path,
    token_dtype_for,
    write_split_metadata,
)

#: Row count used to size the reserved header; any real count has a header no longer than this one.
_HEADER_PROBE_ROWS = 10 ** 15


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The exact header `numpy.save` writes for a C-ordered array of this shape and dtype."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    return buf.getvalue()


class _RowFile:
    """One `[N, seq_len]` token `.npy` file filled row block by row block."""

    def __init__(self, path: Path, seq_len: int, dtype: np.dtype) -> None:
        self.path, self.seq_len, self.dtype = path, seq_len, np.dtype(dtype)
        self.reserved = len(_npy_header((_HEADER_PROBE_ROWS, seq_len), self.dtype))
        self.rows = 0
        self._f = open(path, "wb")
        self._f.write(b"\0" * self.reserved)

    def append(self, rows: np.ndarray) -> None:
        block = np.ascontiguousarray(rows, dtype=self.dtype).reshape(-1, self.seq_len)
        self._f.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self) -> None:
        header = _npy_header((self.rows, self.seq_len), self.dtype)
        if len(header) == self.reserved:
            self._f.seek(0)
            self._f.write(header)
            self._f.close()
            return
        # A shorter header (numpy pads headers to 64 bytes, so this needs an absurd row count
        # difference): move the rows down once rather than leave a non-standard file.
        self._f.close()
        tmp = self.path.with_suffix(".tmp")
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            dst.write(header)
            src.seek(self.reserved)
            while chunk := src.read(1 << 24):
                dst.write(chunk)
        os.replace(tmp, self.path)

    def abort(self) -> None:
        self._f.close()


class StreamingSplitWriter:
    """Append groups of puzzles of examples straight to a split directory.

    Args:
        split_dir: Directory to create (e.g. `root/train`).
        seq_len: Tokens per example.
        vocab_size: Decides the token dtype (`uint8` when it fits, as the original).

    Examples:
        >>> w = StreamingSplitWriter(tmp / "train", seq_len=4, vocab_size=3)  # doctest: +SKIP
        >>> w.add_group([(1, [(np.ones(4), np.ones(4))])])                    # doctest: +SKIP
        >>> w.close(num_puzzle_identifiers=2)                                  # doctest: +SKIP
    """

    def __init__(self, split_dir: str | os.PathLike[str], seq_len: int, vocab_size: int) -> None:
        self.split_dir = Path(split_dir)
        self.split_dir.mkdir(parents=True, exist_ok=True)
        self.seq_len, self.vocab_size = seq_len, vocab_size
        dtype = np.dtype(token_dtype_for(vocab_size))
        self._inputs = _RowFile(array_path(self.split_dir, SET_NAME, "inputs"), seq_len, dtype)
        self._labels = _RowFile(array_path(self.split_dir, SET_NAME, "labels"), seq_len, dtype)
        self._ids = array("q")
        self._puzzle_idx = array("q", [0])
        self._group_idx = array("q", [0])

    @property
    def num_examples(self) -> int:
        return self._inputs.rows

    @property
    def num_puzzles(self) -> int:
        return len(self._ids)

    @property
    def num_groups(self) -> int:
        return len(self._group_idx) - 1

    def add_group(self, puzzles: Sequence[tuple[int, Sequence[tuple[np.ndarray, np.ndarray]]]]) -> None:
        """Append one group: `(identifier, [(input, label), ...])` per puzzle variant."""
        xs, ys = [], []
        for ident, examples in puzzles:
            if not examples:
                raise ValueError("a puzzle needs at least one example")
            for x, y in examples:
                xs.append(np.asarray(x).reshape(-1))
                ys.append(np.asarray(y).reshape(-1))
            self._ids.append(int(ident))
            self._puzzle_idx.append(self._puzzle_idx[-1] + len(examples))
        if xs:
            self._inputs.append(np.stack(xs))
            self._labels.append(np.stack(ys))
        self._group_idx.append(len(self._ids))

    def close(
        self,
        *,
        num_puzzle_identifiers: int,
        pad_id: int = PAD_ID,
        ignore_label_id: int | None = IGNORE_LABEL_ID_ON_DISK,
        blank_identifier_id: int = BLANK_IDENTIFIER_ID,
    ) -> Path:
        """Finish the token files and write the index arrays and `dataset.json`."""
        self._inputs.close()
        self._labels.close()
        for field, values in (("puzzle_identifiers", self._ids), ("puzzle_indices", self._puzzle_idx), ("group_indices", self._group_idx)):
            np.save(array_path(self.split_dir, SET_NAME, field), np.asarray(values, dtype=np.int64).astype(np.int32))
        write_split_metadata(self.split_dir, vocab_size=self.vocab_size, seq_len=self.seq_len, num_puzzle_identifiers=num_puzzle_identifiers,
                             num_examples=self.num_examples, num_puzzles=self.num_puzzles, num_groups=self.num_groups,
                             pad_id=pad_id, ignore_label_id=ignore_label_id, blank_identifier_id=blank_identifier_id)
        return self.split_dir

    def abort(self) -> None:
        """Close the open files after a failed build (the caller removes the directory)."""
        self._inputs.abort()
        self._labels.abort()
