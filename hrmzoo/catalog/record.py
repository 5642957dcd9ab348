"""The one code path that writes measured rows into `registry/results.yaml` / `results_history.yaml`.

Every harness that records what it measured (the controllers experiment's ablations, a
comparison) hands its rows to `record_results`: each row is validated as a catalogue
`Result`, goes to `results.yaml` when its recipe is shipped and to `results_history.yaml`
when it is an experiment recipe, and replaces the current row of the same (recipe, metric)
there. With `supersede`, the replaced current row is kept for the record instead: marked
superseded with that reason and moved to `results_history.yaml`. Then run `hrmzoo catalog`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hrmzoo.catalog import HISTORY_SOURCE, REGISTRY_DIR, RESULTS_SOURCE, CatalogError, Result, experiment_recipes
from hrmzoo.common.atomic import write_text_atomic
from hrmzoo.recipe.shipped import shipped_recipes


def _read(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """(the file's leading comment lines, its rows); a missing file has neither."""
    if not path.is_file():
        return "", []
    text = path.read_text(encoding="utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    data = yaml.safe_load(text) or {}
    return header, list(data.get("results") or [])


def _write(path: Path, header: str, rows: list[dict[str, Any]]) -> None:
    body = yaml.safe_dump({"results": rows}, sort_keys=False, allow_unicode=True, width=200)
    write_text_atomic(path, header + body)


def record_results(rows: list[dict[str, Any]], directory: str | Path = REGISTRY_DIR, *, supersede: str | None = None) -> list[str]:
    """Write measured rows into the catalogue's results sources; returns the files changed.

    Args:
        rows: one mapping per (recipe, metric), the fields of `hrmzoo.catalog.Result`.
        directory: the folder of `results.yaml` and `results_history.yaml` (the repository's `registry/`).
        supersede: keep each replaced current row, marked superseded with this reason, in the history;
            None: replace it in place (a re-measurement of the same thing).

    Raises:
        CatalogError: the folder does not exist, or a row is malformed or names no shipped or
            experiment recipe (one line).
    """
    directory = Path(directory)
    if not directory.is_dir():  # before any row is validated or written: nothing half-recorded
        raise CatalogError(f"results folder '{directory}' does not exist; pass the repository's registry/ or create the folder")
    shipped, experiments = set(shipped_recipes()), experiment_recipes()
    current_path, history_path = directory / RESULTS_SOURCE, directory / HISTORY_SOURCE
    files = {current_path: _read(current_path), history_path: _read(history_path)}
    for i, row in enumerate(rows):
        try:
            Result.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CatalogError(f"row {i}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}; fields: {', '.join(Result.model_fields)}") from None
        if row["recipe"] not in shipped and row["recipe"] not in experiments:
            raise CatalogError(f"row {i}: recipe '{row['recipe']}' is neither shipped nor in experiments/; results are kept for those only")
    for row in rows:
        target = current_path if row["recipe"] in shipped else history_path
        key = (row["recipe"], row["metric"])
        kept = files[target][1]
        at = next((j for j, r in enumerate(kept) if (r.get("recipe"), r.get("metric")) == key and not r.get("superseded")), None)
        if at is None:
            kept.append(dict(row))
        elif supersede:
            files[history_path][1].append({**kept.pop(at), "superseded": supersede})
            kept.append(dict(row))
        else:
            kept[at] = dict(row)  # in place: a re-measurement keeps its position (small diffs)
    changed = []
    for path, (header, kept) in files.items():
        if kept != _read(path)[1]:
            _write(path, header, kept)
            changed.append(str(path))
    return changed


def retire_results(keys: list[tuple[str, str]], reason: str, directory: str | Path = REGISTRY_DIR) -> list[str]:
    """Move current rows to the history, marked superseded with `reason`, without a replacement row
    of the same metric (e.g. a smoke figure that a full measurement under other metric names replaces).

    Args:
        keys: (recipe, metric) of each current row to retire; every one must exist.
        reason: why, kept in the row's `superseded` field.
        directory: the folder of `results.yaml` and `results_history.yaml`.

    Raises:
        CatalogError: the folder does not exist, the reason is empty, or a key names no current row.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CatalogError(f"results folder '{directory}' does not exist; pass the repository's registry/")
    if not reason.strip():
        raise CatalogError("retire_results: give the reason the rows are retired (it is kept with them)")
    current_path, history_path = directory / RESULTS_SOURCE, directory / HISTORY_SOURCE
    (head, current), (hist_head, history) = _read(current_path), _read(history_path)
    for recipe, metric in keys:
        at = next((j for j, r in enumerate(current) if (r.get("recipe"), r.get("metric")) == (recipe, metric)), None)
        if at is None:
            raise CatalogError(f"no current row ({recipe}, {metric}) in {current_path}; nothing was retired")
        history.append({**current.pop(at), "superseded": reason})
    _write(current_path, head, current)
    _write(history_path, hist_head, history)
    return [str(current_path), str(history_path)]
