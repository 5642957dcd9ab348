"""Floors for the tiny-data families: what rules that do not reason score on a recipe's evaluation sets.

    python experiments/tiny_data/floors.py RECIPE [KEY=VALUE ...] [--data-dir data/tiny]

Builds (or finds) the recipe's two evaluation sets as `run_seed.sh` scores them (`eval_sets.py`: in
range and beyond the training range, at the overrides' training-set size) and prints, per set, the
exact accuracy (every supervised label right) of three rules that read no structure:

- `per-position majority`: at each label position the most common training label (an all-empty
  list for `listfn`, zero flow on every edge for `flow`, every atom false for `logic`);
- `most common answer`: the training split's most frequent whole answer;
- `nearest training instance`: the answer of the training instance whose input differs from the
  test input in the fewest tokens (memorisation, and whatever near-duplicates give away).

A model's accuracy at or under these says it has not learned the task, whatever the number. One JSON
line per set.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections import Counter
from pathlib import Path

import numpy as np


def _sibling(name: str):
    """A script beside this one, loaded by its path: another experiments folder has a `record.py` too, so `import record` may find that one."""
    spec = importlib.util.spec_from_file_location(f"tiny_data_{name}", Path(__file__).resolve().with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


eval_sets = _sibling("eval_sets").eval_sets

IGNORE = 0  # the zoo's ignore_label_id in every generated family


def exact(pred: np.ndarray, labels: np.ndarray) -> float:
    """% of rows whose every supervised label (label != 0) is predicted."""
    ok = (pred == labels) | (labels == IGNORE)
    return round(100 * float(ok.all(1).mean()), 1)


def per_position_majority(train_labels: np.ndarray) -> np.ndarray:
    """[S]: the most common supervised training label at each position (0 where none is supervised)."""
    out = np.zeros(train_labels.shape[1], dtype=train_labels.dtype)
    for j in range(train_labels.shape[1]):
        col = train_labels[:, j]
        col = col[col != IGNORE]
        if len(col):
            values, counts = np.unique(col, return_counts=True)
            out[j] = values[np.argmax(counts)]
    return out


def most_common_answer(train_labels: np.ndarray) -> np.ndarray:
    """[S]: the training split's most frequent label row (ties: the first seen)."""
    rows = Counter(map(bytes, np.ascontiguousarray(train_labels)))
    return np.frombuffer(rows.most_common(1)[0][0], dtype=train_labels.dtype).copy()


def nearest_answers(train_inputs: np.ndarray, train_labels: np.ndarray, test_inputs: np.ndarray, chunk: int = 64) -> np.ndarray:
    """[N, S]: for each test input, the labels of the training input at the smallest Hamming distance (the first on ties)."""
    out = np.empty((len(test_inputs), train_labels.shape[1]), dtype=train_labels.dtype)
    for i in range(0, len(test_inputs), chunk):
        block = test_inputs[i:i + chunk]
        dist = (block[:, None, :] != train_inputs[None, :, :]).sum(-1)
        out[i:i + chunk] = train_labels[dist.argmin(1)]
    return out


def floors(root: Path) -> dict[str, float]:
    """The three rules' exact accuracy on `root`'s test split, learned from its train split."""
    load = lambda split, what: np.load(root / split / f"all__{what}.npy").astype(np.int64)  # noqa: E731
    tr_x, tr_y, te_x, te_y = load("train", "inputs"), load("train", "labels"), load("test", "inputs"), load("test", "labels")
    n = len(te_y)
    return {"per-position majority": exact(np.broadcast_to(per_position_majority(tr_y), te_y.shape), te_y),
            "most common answer": exact(np.broadcast_to(most_common_answer(tr_y), te_y.shape), te_y),
            "nearest training instance": exact(nearest_answers(tr_x, tr_y, te_x), te_y),
            "test instances": n, "train instances": len(tr_y)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--data-dir", type=Path, default=Path("data/tiny"), help="where eval_sets.py keeps the sets (run_seed.sh's TINY_DATA)")
    a = p.parse_args(argv)
    inside, beyond, _ = eval_sets(a.recipe, a.data_dir, a.overrides)
    for name, root in (("in range", inside), ("beyond", beyond)):
        print(json.dumps({"recipe": a.recipe, "overrides": a.overrides, "set": name, "data": str(root), **floors(root)}), flush=True)


if __name__ == "__main__":
    main()
