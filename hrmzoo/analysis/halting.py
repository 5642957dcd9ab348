"""Halting analysis: when does a trained model stop, and is it right to stop there?

From per-segment records (every sample run to the budget, its own adaptive halt
step noted) this computes:

- the distribution of halt steps and the accuracy of the samples halting at each;
- calibration of the halt confidence sigmoid(q_halt) against "the answer at
  this segment is exactly right": a reliability diagram and the expected
  calibration error (ECE), over every (sample, segment) pair and at halt steps;
- stopping too early: halted while wrong, though right at a later segment;
- overthinking: right at an earlier segment, yet still running (and the
  share of those that are wrong by the time they halt);
- the trade-off a halt threshold buys: for each threshold t, the accuracy and
  mean segments if every sample halted at its first segment with confidence
  above t (what evaluation with `model.halting.eval_halt_threshold=t` does);

and the same on inputs with randomly corrupted givens (cells shown in the
input and equal to the label are changed to another symbol of the puzzle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch

from hrmzoo.analysis.evalrun import dataset_batches, load_for_eval, per_segment_records
from hrmzoo.errors import HrmzooError
from hrmzoo.heads.lm import IGNORE_INDEX


def reliability(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 10) -> dict[str, Any]:
    """Reliability diagram and ECE of `confidence` [N] against `correct` [N] (equal-width bins).

    Returns:
        `ece`, `count` and per-bin `bin_confidence`, `bin_accuracy`,
        `bin_count` (None where a bin is empty), `edges`.
    """
    conf = confidence.float().flatten()
    right = correct.float().flatten()
    keep = torch.isfinite(conf)
    conf, right = conf[keep], right[keep]
    n = conf.numel()
    idx = (conf * bins).long().clamp(0, bins - 1)
    out: dict[str, Any] = {"edges": [i / bins for i in range(bins + 1)], "bin_confidence": [], "bin_accuracy": [], "bin_count": [], "count": n}
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        m = int(sel.sum())
        out["bin_count"].append(m)
        if m == 0:
            out["bin_confidence"].append(None)
            out["bin_accuracy"].append(None)
            continue
        c, a = float(conf[sel].mean()), float(right[sel].mean())
        out["bin_confidence"].append(c)
        out["bin_accuracy"].append(a)
        ece += m / n * abs(a - c)
    out["ece"] = ece if n else float("nan")
    return out


THRESHOLDS = (0.5, 0.7, 0.9, 0.95, 0.99)


def threshold_tradeoff(exact: torch.Tensor, confidence: torch.Tensor, thresholds: Iterable[float]) -> list[dict[str, float]]:
    """Exact accuracy and mean segments when each sample halts at its first segment
    whose confidence is above the threshold, or at the budget (the last column).

    Args:
        exact: [N, S] bool, right at each segment.
        confidence: [N, S] halt confidence per segment (NaN: never above any threshold).
    """
    N, S = exact.shape
    rows = []
    for t in thresholds:
        over = confidence > t
        over[:, -1] = True  # the budget stops everything
        step = over.float().argmax(1) + 1  # first True
        right = exact.gather(1, (step - 1).unsqueeze(1)).squeeze(1)
        rows.append({"threshold": float(t), "exact": float(right.float().mean()), "mean_segments": float(step.float().mean())})
    return rows


def halting_stats(records: dict[str, torch.Tensor], bins: int = 10, thresholds: Iterable[float] = THRESHOLDS) -> dict[str, Any]:
    """Every halting figure of one evaluation (see the module docstring)."""
    exact = records["exact_per_segment"].bool()
    conf = records["halt_confidence_per_segment"].float()
    halt = records["halt_step"].long()
    N, S = exact.shape
    steps = torch.arange(1, S + 1).unsqueeze(0)
    at_halt = exact.gather(1, (halt - 1).unsqueeze(1)).squeeze(1)
    later = (exact & (steps > halt.unsqueeze(1))).any(1)
    earlier = (exact & (steps < halt.unsqueeze(1))).any(1)
    first_right = torch.where(exact.any(1), exact.float().argmax(1) + 1, torch.full_like(halt, S + 1))

    dist = {str(s): int((halt == s).sum()) for s in range(1, S + 1)}
    acc_by_step = {str(s): (float(at_halt[halt == s].float().mean()) if (halt == s).any() else None) for s in range(1, S + 1)}
    too_early = ~at_halt & later
    overthink = earlier
    wasted = (halt - first_right).clamp(min=0).float()
    stats: dict[str, Any] = {
        "num_examples": N,
        "max_segments": S,
        "exact_at_halt": float(at_halt.float().mean()),
        "exact_at_max": float(exact[:, -1].float().mean()),
        "oracle_exact": float(exact.any(1).float().mean()),
        "mean_halt_step": float(halt.float().mean()),
        "halt_step_counts": dist,
        "accuracy_by_halt_step": acc_by_step,
        "stopped_too_early": float(too_early.float().mean()),
        "overthinking": float(overthink.float().mean()),
        "overthinking_wrong_at_halt": float((overthink & ~at_halt).float().mean()),
        "mean_wasted_segments": float(wasted[overthink].mean()) if overthink.any() else 0.0,
        "has_halting_head": bool(torch.isfinite(conf).any()),
    }
    if stats["has_halting_head"]:
        stats["calibration_all_segments"] = reliability(conf, exact, bins)
        stats["calibration_at_halt"] = reliability(conf.gather(1, (halt - 1).unsqueeze(1)).squeeze(1), at_halt, bins)
        stats["threshold_tradeoff"] = threshold_tradeoff(exact, conf, thresholds)
    return stats


def corrupt_givens(batch: dict[str, torch.Tensor], fraction: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Replace `fraction` of the givens of every puzzle by another symbol.

    A given is a supervised cell whose input already equals its label. The
    replacement is drawn uniformly among the other symbols that occur as labels
    in the batch, so the input stays a well-formed puzzle that contradicts
    its own solution; labels are unchanged.
    """
    inputs, labels = batch["inputs"], batch["labels"]
    given = (inputs == labels) & (labels != IGNORE_INDEX)
    symbols = torch.unique(labels[labels != IGNORE_INDEX])
    if symbols.numel() < 2 or fraction <= 0:
        return dict(batch)
    pick = (torch.rand(inputs.shape, generator=generator) < fraction) & given
    # draw an offset 1..n-1 in the symbol list so the new symbol always differs
    pos = torch.searchsorted(symbols, inputs.clamp(min=int(symbols[0])).contiguous())
    pos = pos.clamp(max=symbols.numel() - 1)
    offset = torch.randint(1, symbols.numel(), inputs.shape, generator=generator)
    replaced = symbols[(pos + offset) % symbols.numel()]
    out = dict(batch)
    out["inputs"] = torch.where(pick, replaced.to(inputs.dtype), inputs)
    return out


@dataclass
class HaltingReport:
    """Clean, noisy and stress-split halting statistics of one checkpoint."""

    clean: dict[str, Any]
    noisy: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    stress: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info, "clean": self.clean, "noisy": self.noisy, "stress": self.stress}

    def runs(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, stats) of every evaluation the report holds, clean first."""
        out = [("clean", self.clean)]
        if self.noisy:
            out.append((f"noise {self.info['noise']:g}", self.noisy))
        if self.stress:
            out.append(("stress", self.stress))
        return out


def _stats(records, bins, thresholds, ratings=None, edges=None, solvable=None) -> dict[str, Any]:
    """`halting_stats` plus the selective-prediction figures, buckets and unsolvable-input rates."""
    from hrmzoo.analysis.halting_risk import segments_by_bucket, selective_stats, unsolvable_stats

    stats = halting_stats(records, bins, thresholds)
    if stats["has_halting_head"]:
        stats.update(selective_stats(records))
    if ratings is not None:
        stats["segments_by_bucket"] = segments_by_bucket(records["halt_step"], records["exact"], ratings, edges)
    if solvable is not None:
        stats["unsolvable_inputs"] = unsolvable_stats(records["halt_confidence_per_segment"], records["halt_step"], solvable)
    return stats


def analyze_halting(ckpt, data: Any, *, noise: float = 0.1, overrides: Iterable[str] = (), split: str = "test",
                    batch_size: int = 256, limit: int | None = None, max_segments: int | None = None, device=None,
                    autocast_dtype: torch.dtype | None = None, seed: int = 0, bins: int = 10,
                    thresholds: Iterable[float] = THRESHOLDS, by: str | None = None, buckets=None,
                    stress_unsolvable: float | None = None, stress_corrupt: float = 0.0) -> HaltingReport:
    """Run the halting analysis on clean inputs and on inputs with a `noise` fraction of givens corrupted.

    Args:
        ckpt: a run directory or a .safetensors checkpoint.
        data: a dataset root (`split` is read) or a list of batches.
        noise: fraction of givens corrupted for the noisy run (0: skip it).
        max_segments: segment budget (default: the checkpoint's `max_segments`).
        seed: seeds the corruption.
        thresholds: halt confidences tabulated in `threshold_tradeoff`, each in (0, 1).
        by: a per-puzzle rating stored beside the split (`hrmzoo.evaluate.buckets`): mean
            segments per bucket of it (`buckets`: lower edges). Needs `data` to be a dataset root.
        stress_unsolvable: share of the inputs made unsolvable for the stress split
            (`hrmzoo.data.stress`; None: 0.5 where the task has a rule (Sudoku, maze), else none).
        stress_corrupt: share of the stress split's inputs with corrupted givens.
    """
    from hrmzoo.data.stress import UNSOLVABLE_TASKS, StressConfig, stress_batch, stress_task

    if not 0 <= noise <= 1:
        raise HrmzooError(f"noise={noise}: a fraction of givens in [0, 1]")
    thresholds = tuple(thresholds)
    bad = [t for t in thresholds if not 0 < t < 1]
    if bad:
        raise HrmzooError(f"thresholds={list(thresholds)}: each is a halt confidence in (0, 1), not {bad[0]}")
    extra = ["model.halting.eval_mode=adaptive"]
    if max_segments is not None:
        extra.append(f"model.halting.max_segments={max_segments}")
    model = load_for_eval(ckpt, [*overrides, *extra], device)
    threshold = getattr(model.halting.cfg, "eval_halt_threshold", None)
    rule = "the policy's own rule"
    if threshold == "auto" and model.halting.fitted_threshold is not None:
        # fitted on held-out training data when the run trained: the run's own rule, kept
        rule = f"confidence > {model.halting.fitted_threshold:g} (eval_halt_threshold: auto, fitted in training)"
    elif threshold is not None:
        # "exact at halt" is the policy's own rule; thresholds are what the trade-off table is for
        model.halting.cfg = model.halting.cfg.model_copy(update={"eval_halt_threshold": None})
    budget = model.halting.max_segments
    batches = dataset_batches(data, split, batch_size, limit) if not isinstance(data, list) else data
    ratings = None
    if by is not None:
        from hrmzoo.evaluate.buckets import example_ratings

        if isinstance(data, list):
            raise HrmzooError(f"by={by}: needs a dataset directory (data=DIR), whose split stores the ratings")
        ratings = example_ratings(data, split, by)
    common = dict(segments=budget, batch_size=batch_size, autocast_dtype=autocast_dtype)
    clean = _stats(per_segment_records(model, batches, **common), bins, thresholds, ratings, buckets)
    noisy = None
    if noise > 0:
        g = torch.Generator().manual_seed(seed)
        corrupted = [corrupt_givens(b, noise, g) for b in batches]
        noisy = _stats(per_segment_records(model, corrupted, **common), bins, thresholds, ratings, buckets)
    recipe = getattr(model, "recipe", None)
    task = stress_task(recipe.data if recipe is not None else None)
    if stress_unsolvable is None:
        stress_unsolvable = 0.5 if task in UNSOLVABLE_TASKS else 0.0
    stress = None
    if stress_unsolvable > 0 or stress_corrupt > 0:
        cfg = StressConfig(unsolvable=stress_unsolvable, corrupt=stress_corrupt, seed=seed)
        from hrmzoo.data.stress import check_task

        check_task(cfg, task)
        stressed, start = [], 0
        for b in batches:
            n = b["inputs"].shape[0]
            stressed.append(stress_batch(b, np.arange(start, start + n), cfg, task))
            start += n
        solvable = torch.cat([b["solvable"] for b in stressed])
        stress = _stats(per_segment_records(model, stressed, **common), bins, thresholds, ratings, buckets, solvable)
    info = {"checkpoint": str(ckpt), "halting": model.cfg.halting.type, "max_segments": budget, "noise": noise, "seed": seed,
            "rule": rule, "by": by, "stress": {"unsolvable": stress_unsolvable, "corrupt": stress_corrupt, "task": task}}
    return HaltingReport(clean, noisy, info, stress)


def format_halting(report: HaltingReport) -> str:
    """Text tables: halt-step distribution and accuracy, calibration, early stops and overthinking."""
    runs = report.runs()
    S = report.info["max_segments"]
    lines = [f"halting: {report.info['halting']}, budget {S} segments, adaptive halting ({report.info.get('rule', 'the policy rule')})"]
    head = f"{'halt step':>10} | " + " | ".join(f"{name:>22}" for name, _ in runs)
    lines += [head, f"{'':>10} | " + " | ".join(f"{'samples':>10} {'exact %':>11}" for _ in runs), "-" * len(head)]
    for s in range(1, S + 1):
        cells = []
        for _, st in runs:
            n, acc = st["halt_step_counts"][str(s)], st["accuracy_by_halt_step"][str(s)]
            cells.append(f"{n:>10} {('-' if acc is None else f'{100 * acc:.1f}'):>11}")
        lines.append(f"{s:>10} | " + " | ".join(cells))
    def pct(v):
        return f"{100 * v:.2f}%"
    rows = [
        ("exact at halt", "exact_at_halt", pct), ("exact at max segments", "exact_at_max", pct),
        ("right at some segment", "oracle_exact", pct), ("mean halt step", "mean_halt_step", lambda v: f"{v:.2f}"),
        ("stopped too early", "stopped_too_early", pct), ("overthinking", "overthinking", pct),
        ("  of which wrong at halt", "overthinking_wrong_at_halt", pct),
        ("  mean wasted segments", "mean_wasted_segments", lambda v: f"{v:.2f}"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines.append("")
    lines.append(f"{'':<{width}}" + "".join(f"{name:>16}" for name, _ in runs))
    for label, key, f in rows:
        lines.append(f"{label:<{width}}" + "".join(f"{f(st[key]):>16}" for _, st in runs))
    if report.clean.get("has_halting_head"):
        for which in ("calibration_all_segments", "calibration_at_halt"):
            lines.append(f"{'ECE ' + which.split('_', 1)[1].replace('_', ' '):<{width}}" + "".join(f"{st[which]['ece']:>16.4f}" for _, st in runs))
        lines.append("")
        lines.append(f"{'halt threshold':<{width}}" + "".join(f"{name + ' exact / seg':>24}" for name, _ in runs))
        for i, row in enumerate(report.clean["threshold_tradeoff"]):
            cells = [f"{100 * st['threshold_tradeoff'][i]['exact']:.2f}% / {st['threshold_tradeoff'][i]['mean_segments']:.2f}" for _, st in runs]
            lines.append(f"{'  confidence > ' + format(row['threshold'], 'g'):<{width}}" + "".join(f"{c:>24}" for c in cells))
        lines.append("(evaluate at one with model.halting.eval_halt_threshold=T; the policy's own rule is 'exact at halt' above)")
        lines.append("")
        def num(v, fmt):
            return "-" if v is None else format(v, fmt)
        lines.append(f"{'AUROC right vs wrong at halt':<{width}}" + "".join(f"{num(st.get('auroc_at_halt'), '.4f'):>16}" for _, st in runs))
        lines.append(f"{'AUROC all segments':<{width}}" + "".join(f"{num(st.get('auroc_all_segments'), '.4f'):>16}" for _, st in runs))
        lines.append(f"{'AURC (risk-coverage area)':<{width}}" + "".join(f"{num(st['risk_coverage']['aurc'], '.4f'):>16}" for _, st in runs))
        for cov in (0.5, 0.8, 0.9, 1.0):
            cells = []
            for _, st in runs:
                rc = st["risk_coverage"]
                i = min(range(len(rc["coverage"])), key=lambda j: abs(rc["coverage"][j] - cov)) if rc["coverage"] else None
                cell = "-" if i is None else f"{100 * rc['accuracy'][i]:.2f}%"
                cells.append(f"{cell:>16}")
            lines.append(f"{f'  exact, top {100 * cov:g}% by conf.':<{width}}" + "".join(cells))
        un = (report.stress or {}).get("unsolvable_inputs")
        if un and un.get("unsolvable"):
            lines.append(f"unsolvable inputs (stress split, {un['unsolvable']}): confident halt (> 0.9 at some segment) "
                         f"{100 * un['confident_halt']:.2f}%, unsure (ran to the budget) {100 * un['unsure']:.2f}%")
    else:
        lines.append("no halting head: calibration not applicable")
    if report.clean.get("segments_by_bucket"):
        lines.append("")
        lines.append(f"mean segments by {report.info.get('by')}: " + "   ".join(
            f"{r['bucket']}: {r['mean_segments']:.2f} ({100 * r['exact']:.1f}% exact, n={r['n']})" for r in report.clean["segments_by_bucket"]))
    return "\n".join(lines)
