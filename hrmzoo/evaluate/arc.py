"""ARC pass@k: invert each augmented prediction, vote per test input, rank, score tasks.

Every test example of an ARC dataset is one augmented variant of one test input
of one task (``test/arc_test_meta.json`` says which, and how it was
augmented). Predictions are mapped back to the original grid with the data
package's inverse; identical answers are grouped, ranked by votes and then by
mean halt confidence. A task counts at pass@k only if every one of its test
outputs is among the top k answers of its test input.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrmzoo.errors import HrmzooError


def is_arc_split(root: str | Path, split: str = "test") -> bool:
    """Whether a dataset split carries the ARC test metadata needed for voting."""
    from hrmzoo.data.arc import TEST_META_FILE

    return (Path(root) / split / TEST_META_FILE).is_file()


def arc_pass_at_k(root: str | Path, predictions: torch.Tensor, confidence: torch.Tensor, ks: tuple[int, ...] = (1, 2), split: str = "test") -> dict[str, Any]:
    """Score ARC predictions with voting over augmentations.

    Args:
        root: the ARC dataset root.
        predictions: [N, 900] predicted tokens, one row per test example in file order.
        confidence: [N] halt confidence of each prediction (ties in votes go to the higher mean).
        ks: the k of each pass@k to report.
        split: the split the predictions belong to.

    Returns:
        ``{"pass@1": ..., "pass@2": ..., "num_tasks": ..., "tasks": {task: {"pass@k": bool}}}``.
    """
    from hrmzoo.data.arc import TEST_META_FILE, AugSpec, invert_prediction

    path = Path(root) / split / TEST_META_FILE
    try:
        meta = json.loads(path.read_text())
        examples, answers = meta["examples"], meta["test_outputs"]
    except (OSError, ValueError, KeyError) as exc:
        raise HrmzooError(f"{path}: unreadable ARC test metadata ({exc}); rebuild the ARC dataset") from None
    if len(examples) != predictions.shape[0]:
        raise HrmzooError(f"{path}: lists {len(examples)} test examples but {predictions.shape[0]} predictions were made; evaluate the whole split (no limit)")

    # (task, test index) -> answer bytes -> [votes, confidence sum]
    votes: dict[tuple[str, int], dict[bytes, list[float]]] = defaultdict(dict)
    preds = predictions.cpu().numpy()
    conf = confidence.cpu().numpy()
    for row, ex in enumerate(examples):
        spec = AugSpec(int(ex["aug"]["dihedral"]), tuple(int(c) for c in ex["aug"]["colours"]))
        grid = invert_prediction(preds[row], spec, tuple(ex.get("offset", (0, 0))))
        key = _grid_key(grid)
        entry = votes[(ex["task_id"], int(ex["test_index"]))].setdefault(key, [0, 0.0])
        entry[0] += 1
        c = float(conf[row])
        entry[1] += c if math.isfinite(c) else 0.0

    tasks: dict[str, dict[str, bool]] = {}
    for task, outputs in answers.items():
        result = {}
        for k in ks:
            ok = True
            for i, out in enumerate(outputs):
                ranked = sorted(votes.get((task, i), {}).items(), key=lambda kv: (-kv[1][0], -kv[1][1] / kv[1][0]))
                top = {key for key, _ in ranked[:k]}
                ok = ok and _grid_key(np.asarray(out)) in top
            result[f"pass@{k}"] = ok
        tasks[task] = result
    n = len(tasks)
    out: dict[str, Any] = {f"pass@{k}": (sum(t[f"pass@{k}"] for t in tasks.values()) / n if n else float("nan")) for k in ks}
    out["num_tasks"] = n
    out["tasks"] = tasks
    return out


def _grid_key(grid: np.ndarray) -> bytes:
    g = np.asarray(grid, dtype=np.int64)
    return np.asarray(g.shape, dtype=np.int64).tobytes() + g.tobytes()
