"""Multi-task mixtures: several built datasets behind one loader.

A mixture is a directory holding only `mix.json`::

    {"format_version": 1, "tasks": [{"name": "sudoku4", "task_id": 0, "root": "/abs/path"}, ...]}

Loaders built on it (see `hrmzoo.data.dataset`) draw from every task and
add `task_id` to each sample. Keeping it simple: tasks share one token space
(ids are not remapped; the model gets `vocab_size = max` over tasks), shorter
sequences are padded with PAD (inputs) and the ignore label (labels) up to the
longest `seq_len`, and puzzle identifiers are offset per task so that they do
not collide (the blank id 0 stays 0 for every task).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hrmzoo.data.errors import DataError, file_error
from hrmzoo.data.format import FORMAT_VERSION, SPLITS, write_json
from hrmzoo.data.reader import FIX_REBUILD, read_json, read_metadata

MIX_FILE = "mix.json"


@dataclass(frozen=True)
class MixTask:
    """One member of a mixture.

    Attributes:
        name: Task name (unique in the mixture).
        task_id: Integer carried by every sample of this task.
        root: Dataset root of the task.
    """

    name: str
    task_id: int
    root: Path


def is_mix(root: str | os.PathLike[str]) -> bool:
    """Whether `root` is a mixture directory."""
    return (Path(root) / MIX_FILE).is_file()


def write_mix(root: str | os.PathLike[str], tasks: Sequence[tuple[str, str | os.PathLike[str]]]) -> Path:
    """Write a mixture directory; task ids are the positions in `tasks`.

    Args:
        root: Directory to create.
        tasks: `(name, dataset_root)` pairs.

    Returns:
        `root`.
    """
    names = [n for n, _ in tasks]
    if not tasks:
        raise DataError("a mix needs at least one task")
    if len(set(names)) != len(names):
        raise DataError(f"mix task names must be unique, got {names}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries = [{"name": n, "task_id": i, "root": str(Path(r).resolve())} for i, (n, r) in enumerate(tasks)]
    write_json(root / MIX_FILE, {"format_version": FORMAT_VERSION, "tasks": entries})
    return root


def read_mix(root: str | os.PathLike[str]) -> list[MixTask]:
    """Read `mix.json` (member roots are resolved relative to the mixture directory)."""
    path = Path(root) / MIX_FILE
    data = read_json(path, "mixture description")
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list) or not tasks:
        raise file_error(path, "expected an object with a non-empty 'tasks' list", FIX_REBUILD)
    out = []
    for t in tasks:
        if not (isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("task_id"), int) and isinstance(t.get("root"), str)):
            raise file_error(path, "every task needs 'name' (str), 'task_id' (int) and 'root' (str)", FIX_REBUILD)
        out.append(MixTask(t["name"], t["task_id"], (Path(root) / t["root"]).resolve()))
    return out


def mix_metadata(root: str | os.PathLike[str], split: str = "train") -> dict:
    """Model-facing sizes of a mixture (max vocab and seq_len, summed identifiers)."""
    tasks = read_mix(root)
    metas = [read_metadata(t.root / split) for t in tasks]
    return {
        "vocab_size": max(m["vocab_size"] for m in metas),
        "seq_len": max(m["seq_len"] for m in metas),
        "num_puzzle_identifiers": 1 + sum(m["num_puzzle_identifiers"] - 1 for m in metas),
        "pad_id": 0,
        "ignore_label_id": metas[0]["ignore_label_id"],
        "blank_identifier_id": 0,
        "num_tasks": len(tasks),
        "tasks": [t.name for t in tasks],
        "task_seq_len": {t.name: m["seq_len"] for t, m in zip(tasks, metas)},
        "task_vocab_size": {t.name: m["vocab_size"] for t, m in zip(tasks, metas)},
    }


def identifier_offsets(num_ids: Sequence[int]) -> list[int]:
    """Offset added to each task's non-blank identifiers."""
    out, acc = [], 0
    for n in num_ids:
        out.append(acc)
        acc += n - 1
    return out


__all__ = ["MIX_FILE", "MixTask", "is_mix", "write_mix", "read_mix", "mix_metadata", "identifier_offsets", "SPLITS"]
