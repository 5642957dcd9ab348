"""Does the halting confidence separate right answers from wrong ones, and at what cost?

Figures `hrmzoo halting` adds to its calibration table (issue 30):

- the risk-coverage curve: answer only the fraction `coverage` of samples the
  head is most confident about (at each sample's halt step) and measure the
  accuracy of those answers (Geifman & El-Yaniv 2017, selective prediction);
  its area (AURC, lower risk is better) summarises it;
- AUROC of the halt confidence for right against wrong answers: the chance
  that a random right answer gets a higher confidence than a random wrong one
  (the Mann-Whitney statistic, ties counted half);
- mean segments per difficulty bucket (a generator's per-puzzle rating:
  Sudoku `givens` or `backtracks`, maze `path_len`; `hrmzoo.evaluate.buckets`);
- on unsolvable inputs (`hrmzoo.data.stress`): the share whose halt
  confidence ever exceeds 0.9 within the budget (a confident halt with an
  answer, which there cannot be) and the share left unsure.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

#: a halt above this confidence on an unsolvable input counts as confident (the issue's bar)
CONFIDENT = 0.9


def auroc(confidence: torch.Tensor, right: torch.Tensor) -> float | None:
    """Area under the ROC curve of `confidence` for right (positive) vs wrong; None when one class is empty."""
    conf = confidence.float().flatten().nan_to_num(nan=0.0).numpy()
    pos = right.bool().flatten().numpy()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = conf.argsort(kind="mergesort")
    ranks = np.empty(len(conf), dtype=np.float64)
    sorted_conf = conf[order]
    # average ranks over ties
    start = 0
    while start < len(conf):
        end = start
        while end + 1 < len(conf) and sorted_conf[end + 1] == sorted_conf[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_points(confidence: torch.Tensor, right: torch.Tensor, points: int = 50) -> dict[str, list[float]]:
    """(false positive rate, true positive rate) at `points` thresholds, for the picture."""
    conf = confidence.float().flatten().nan_to_num(nan=0.0)
    pos = right.bool().flatten()
    ts = torch.quantile(conf, torch.linspace(0, 1, points)).tolist() if conf.numel() else []
    fpr, tpr = [1.0], [1.0]
    for t in sorted(set(ts)):
        over = conf > t
        tpr.append(float((over & pos).sum() / max(1, int(pos.sum()))))
        fpr.append(float((over & ~pos).sum() / max(1, int((~pos).sum()))))
    fpr.append(0.0)
    tpr.append(0.0)
    return {"fpr": fpr, "tpr": tpr}


def risk_coverage(confidence: torch.Tensor, right: torch.Tensor, points: int = 20) -> dict[str, Any]:
    """Accuracy of the most confident `coverage` share of answers, at `points` coverages, and AURC.

    Returns:
        `coverage` and `accuracy` lists (coverage 1/points .. 1), and `aurc`: the mean
        risk (1 - accuracy) over every coverage k/N (lower is better).
    """
    conf = confidence.float().flatten().nan_to_num(nan=0.0)
    ok = right.bool().flatten().float()
    n = conf.numel()
    if n == 0:
        return {"coverage": [], "accuracy": [], "aurc": None}
    order = torch.argsort(conf, descending=True, stable=True)
    cum = ok[order].cumsum(0) / torch.arange(1, n + 1)
    cov = [min(1.0, (i + 1) / points) for i in range(points)]
    acc = [float(cum[max(0, int(round(c * n)) - 1)]) for c in cov]
    return {"coverage": cov, "accuracy": acc, "aurc": float((1 - cum).mean())}


def segments_by_bucket(halt_step: torch.Tensor, exact: torch.Tensor, ratings: np.ndarray,
                       edges: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Mean halt step and exact accuracy per rating bucket (`hrmzoo.evaluate.buckets`'s buckets)."""
    from hrmzoo.evaluate.buckets import _label, default_edges

    steps = halt_step.float().numpy()
    right = exact.bool().numpy()
    r = np.asarray(ratings[: len(steps)])
    edges = list(edges) if edges is not None else default_edges(r)
    integer = bool(np.issubdtype(r.dtype, np.integer)) and all(float(e).is_integer() for e in edges)
    rows = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        sel = (r >= lo) & ((r < hi) if hi is not None else True)
        if not sel.any():
            continue
        rows.append({"bucket": _label(lo, hi, integer), "n": int(sel.sum()), "mean_segments": float(steps[sel].mean()),
                     "exact": float(right[sel].mean())})
    return rows


def unsolvable_stats(confidence_per_segment: torch.Tensor, halt_step: torch.Tensor, solvable: torch.Tensor) -> dict[str, Any]:
    """On the unsolvable rows: the share with a confident halt (> CONFIDENT at some segment of the
    budget) and the share left unsure (the policy's rule ran them to the budget)."""
    bad = ~solvable.bool()
    n = int(bad.sum())
    if n == 0:
        return {"unsolvable": 0, "confident_halt": None, "unsure": None}
    conf = confidence_per_segment[bad].float().nan_to_num(nan=0.0)
    budget = confidence_per_segment.shape[1]
    return {"unsolvable": n, "confident_halt": float((conf > CONFIDENT).any(1).float().mean()),
            "unsure": float((halt_step[bad] >= budget).float().mean()),
            "max_confidence_mean": float(conf.max(1).values.mean())}


def selective_stats(records: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Risk-coverage, AUROC (at the halt step and over every segment) of one evaluation's records."""
    exact = records["exact_per_segment"].bool()
    conf = records["halt_confidence_per_segment"].float()
    halt = records["halt_step"].long()
    at = (halt - 1).unsqueeze(1)
    conf_h, right_h = conf.gather(1, at).squeeze(1), exact.gather(1, at).squeeze(1)
    return {"auroc_at_halt": auroc(conf_h, right_h), "auroc_all_segments": auroc(conf, exact),
            "risk_coverage": risk_coverage(conf_h, right_h), "roc_at_halt": roc_points(conf_h, right_h)}
