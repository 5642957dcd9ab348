"""`eval_halt_threshold: auto`: the rule that picks a halt threshold, and the file that keeps it.

The rule (`choose_threshold`) sees per-segment records of held-out *training*
examples only: whether each sample is exactly right at each segment when run
to the budget, and its halt confidence there. It never sees test data; the
trainer hands it examples it held out of its own training split
(`hrmzoo.evaluate.threshold`).

Rule: let A be the held-out accuracy when every sample runs the whole budget.
Among the candidate thresholds, take the one with the fewest mean segments
whose accuracy is at least A - tolerance (0.2 points by default); ties go to
the lower threshold. If no candidate is within the tolerance, take the most
accurate one (ties: fewer segments) and say so in the file.

The chosen value is written to `RUN_DIR/halt_threshold.json` with the rule and
the table it was chosen from; `apply_fitted_threshold` reads it back into a
model whose recipe says `auto` (every loader of a run directory calls it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from hrmzoo.errors import HrmzooError

THRESHOLD_FILE = "halt_threshold.json"

#: thresholds tried (halt confidences); dense near 1, where a head that stops too early needs them
CANDIDATES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999)


def rule_text(tolerance: float) -> str:
    """The stated rule, as written into the run."""
    return (f"fewest mean segments whose held-out exact accuracy is within {100 * tolerance:g} points of running every "
            f"held-out sample to the full budget (ties: the lower threshold); candidates {list(CANDIDATES)}")


def tradeoff(exact: torch.Tensor, confidence: torch.Tensor, threshold: float) -> tuple[float, float]:
    """(exact accuracy, mean segments) when each sample halts at its first segment with
    confidence above `threshold`, or at the budget. exact, confidence: [N, S]."""
    over = confidence > threshold
    over[:, -1] = True
    step = over.float().argmax(1)
    right = exact.gather(1, step.unsqueeze(1)).squeeze(1)
    return float(right.float().mean()), float((step + 1).float().mean())


def choose_threshold(exact: torch.Tensor, confidence: torch.Tensor, tolerance: float = 0.002) -> dict[str, Any]:
    """Apply the rule (module docstring) to held-out per-segment records.

    Args:
        exact: [N, S] bool, each sample exactly right at each segment of the budget.
        confidence: [N, S] halt confidence at each segment.
        tolerance: accuracy (fraction) the threshold may give up against the full budget.

    Returns:
        `threshold`, `exact`, `mean_segments`, `full_budget_exact`, `within_tolerance`,
        `rule`, `table` (one row per candidate).
    """
    if exact.dim() != 2 or exact.shape != confidence.shape or exact.shape[0] == 0:
        raise HrmzooError(f"eval_halt_threshold=auto: needs per-segment records of at least one held-out example, got {tuple(exact.shape)}")
    exact, confidence = exact.bool(), confidence.float().nan_to_num(nan=0.0)
    full = float(exact[:, -1].float().mean())
    table = []
    for t in CANDIDATES:
        acc, seg = tradeoff(exact, confidence, t)
        table.append({"threshold": t, "exact": acc, "mean_segments": seg})
    ok = [r for r in table if r["exact"] >= full - tolerance - 1e-12]
    within = bool(ok)
    if ok:
        best = min(ok, key=lambda r: (r["mean_segments"], r["threshold"]))
    else:
        best = min(table, key=lambda r: (-r["exact"], r["mean_segments"], r["threshold"]))
    return {"threshold": best["threshold"], "exact": best["exact"], "mean_segments": best["mean_segments"],
            "full_budget_exact": full, "within_tolerance": within, "tolerance": tolerance,
            "budget": int(exact.shape[1]), "rule": rule_text(tolerance), "table": table}


def write_fitted(run_dir: str | Path, fitted: dict[str, Any]) -> Path:
    """Write the fitted threshold and its provenance to `RUN_DIR/halt_threshold.json`."""
    from hrmzoo.common.atomic import write_text_atomic

    path = Path(run_dir) / THRESHOLD_FILE
    write_text_atomic(path, json.dumps(fitted, indent=1))
    return path


def read_fitted(run_dir: str | Path) -> dict[str, Any] | None:
    """The fitted record of a run directory, or None when it has none."""
    path = Path(run_dir) / THRESHOLD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        value = float(record["threshold"])
    except (OSError, ValueError, KeyError, TypeError):
        raise HrmzooError(f"{path}: not a fitted halt threshold (JSON with a 'threshold' in (0, 1)); delete it and "
                          f"train again, or pass model.halting.eval_halt_threshold=T") from None
    if not 0 < value < 1:
        raise HrmzooError(f"{path}: threshold {value} is not in (0, 1); delete it and train again")
    return record


def fitted_dir(model_file: str | Path) -> Path | None:
    """The run directory above a checkpoint file that holds a fitted threshold (the file's own
    folder, or up to its run directory: `RUN/checkpoints/step-N/model.safetensors`), or None."""
    folder = Path(model_file).resolve().parent
    for candidate in (folder, *list(folder.parents)[:2]):
        if (candidate / THRESHOLD_FILE).is_file():
            return candidate
    return None


def apply_fitted_threshold(model, run_dir: str | Path | None) -> dict[str, Any] | None:
    """Give a model whose recipe says `eval_halt_threshold: auto` the value fitted in `run_dir`.

    Returns the fitted record (None when the recipe does not say `auto` or the run has none;
    evaluation then fails with a one-line error naming the fix)."""
    policy = getattr(model, "halting", None)
    if policy is None or getattr(policy.cfg, "eval_halt_threshold", None) != "auto" or run_dir is None:
        return None
    record = read_fitted(run_dir)
    if record is not None:
        policy.fitted_threshold = float(record["threshold"])
    return record
