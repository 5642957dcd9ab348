"""Inference-budget sweep: accuracy of one trained model under other compute budgets.

No retraining: the checkpoint is reloaded with the coupling's inner cycles
(`l_cycles` for HRM) overridden, and each reload is evaluated once with every
batch run to the largest segment budget. Accuracy at a budget of k segments is
then read off the per-segment records: with a fixed budget a sample answers at
segment k; with adaptive halting it answers at min(its own halt step, k).
Compute is model FLOPs per sample (forward), from `hrmzoo.analysis.flops`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import torch

from hrmzoo.analysis.evalrun import inner_cycles_override, load_for_eval, per_segment_records
from hrmzoo.analysis.flops import segment_forward_flops
from hrmzoo.errors import HrmzooError


@dataclass
class SweepResult:
    """Rows of the sweep, one per (inner cycles, segment budget).

    Each row: `l_cycles`, `segments`, `exact_accuracy` (fixed budget),
    `flops_per_sample`, and with a halting head `adaptive_accuracy`,
    `adaptive_mean_segments`, `adaptive_flops_per_sample`.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info, "rows": self.rows}


def budget_rows(records: dict[str, torch.Tensor], segments: list[int], segment_flops: float, l_cycles: int) -> list[dict[str, Any]]:
    """Fixed and adaptive accuracy at each budget from one run's per-segment records."""
    exact = records["exact_per_segment"]
    conf = records["halt_confidence_per_segment"]
    has_head = bool(torch.isfinite(conf).any())
    halt = records["halt_step"]
    rows = []
    for k in segments:
        row: dict[str, Any] = {
            "l_cycles": l_cycles,
            "segments": k,
            "exact_accuracy": float(exact[:, k - 1].float().mean()),
            "flops_per_sample": k * segment_flops,
        }
        if has_head:
            stop = halt.clamp(max=k)
            right = exact.gather(1, (stop - 1).unsqueeze(1)).squeeze(1)
            row["adaptive_accuracy"] = float(right.float().mean())
            row["adaptive_mean_segments"] = float(stop.float().mean())
            row["adaptive_flops_per_sample"] = float(stop.float().mean()) * segment_flops
        rows.append(row)
    return rows


def run_sweep(ckpt, data: Any, *, l_cycles: Iterable[int], segments: Iterable[int], overrides: Iterable[str] = (),
              split: str = "test", batch_size: int = 256, limit: int | None = None, device=None,
              autocast_dtype: torch.dtype | None = None, progress=None) -> SweepResult:
    """Evaluate a checkpoint under every (inner cycles, segment budget) pair.

    Args:
        ckpt: a run directory or a .safetensors checkpoint.
        data: a dataset root (`split` is read) or a list of batches.
        l_cycles: inner cycles to try (the coupling's `l_cycles`/`n_cycles`/`steps`).
        segments: segment budgets to report; the largest is run, smaller ones are read off it.
        overrides: further recipe overrides applied at load.
        progress: called with a line of text after each reload is evaluated.
    """
    l_values = sorted({int(v) for v in l_cycles})
    budgets = sorted({int(v) for v in segments})
    if not l_values or not budgets or min(l_values) < 1 or min(budgets) < 1:
        raise HrmzooError("l_cycles and segments need positive integers, e.g. l_cycles=[1,2,4] segments=[1,2,4,8]")
    base = load_for_eval(ckpt, overrides)
    trained = {"l_cycles": _inner(base), "max_segments": base.halting.max_segments}
    result = SweepResult(info={"checkpoint": str(ckpt), "trained": trained, "l_cycles": l_values, "segments": budgets,
                               "halting": base.cfg.halting.type})
    for lc in l_values:
        extra = [inner_cycles_override(base.recipe, lc), f"model.halting.max_segments={budgets[-1]}",
                 "model.halting.eval_mode=adaptive"]
        model = load_for_eval(ckpt, [*overrides, *extra], device)
        records = per_segment_records(model, data, segments=budgets[-1], split=split, batch_size=batch_size,
                                      limit=limit, autocast_dtype=autocast_dtype)
        result.rows.extend(budget_rows(records, budgets, segment_forward_flops(model), lc))
        result.info["num_examples"] = int(records["exact"].numel())
        if progress is not None:
            best = max(r["exact_accuracy"] for r in result.rows if r["l_cycles"] == lc)
            progress(f"l_cycles={lc}: best exact accuracy {100 * best:.2f}%")
    return result


def _inner(model) -> int | None:
    from hrmzoo.analysis.evalrun import INNER_CYCLES_FIELD

    field_name = INNER_CYCLES_FIELD.get(model.cfg.coupling.type)
    return getattr(model.cfg.coupling, field_name) if field_name else None


def format_sweep(result: SweepResult) -> str:
    """A text table: accuracy (fixed budget; adaptive where a head exists) per inner cycles x segments."""
    budgets = result.info["segments"]
    lines = ["exact accuracy (%) by inner cycles (rows) and segment budget (columns)"
             + (f"; trained with l_cycles={result.info['trained']['l_cycles']}, max_segments={result.info['trained']['max_segments']}")]
    head = f"{'l_cycles':>8} | " + " ".join(f"{k:>7}" for k in budgets)
    lines += [head, "-" * len(head)]
    by_l: dict[int, dict[int, dict]] = {}
    for r in result.rows:
        by_l.setdefault(r["l_cycles"], {})[r["segments"]] = r
    adaptive = any("adaptive_accuracy" in r for r in result.rows)
    for lc, row in by_l.items():
        lines.append(f"{lc:>8} | " + " ".join(f"{100 * row[k]['exact_accuracy']:>7.2f}" for k in budgets))
    if adaptive:
        lines.append("adaptive halting, capped at the budget: accuracy % (mean segments)")
        for lc, row in by_l.items():
            lines.append(f"{lc:>8} | " + " ".join(f"{100 * row[k]['adaptive_accuracy']:>5.1f}({row[k]['adaptive_mean_segments']:.1f})" for k in budgets))
    lines.append("forward GFLOP per sample: " + ", ".join(
        f"l={lc}: {row[budgets[0]]['flops_per_sample'] / budgets[0] / 1e9:.3g}/segment" for lc, row in by_l.items()))
    return "\n".join(lines)
