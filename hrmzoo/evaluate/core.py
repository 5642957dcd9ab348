"""The evaluation loop, reusable by `hrmzoo eval`, the trainer and analysis tools.

Each batch starts from the initial state and runs segments until every sample
has halted under the policy's evaluation behaviour (`eval_mode`: `max`
runs to `max_segments`, `adaptive` follows the halting head) or the
budget ends. A sample's answer is its prediction at its own halt step.
With `run_all_segments` every batch runs the whole budget so per-segment
correctness is known for every sample (what a budget sweep needs); the answers
are still taken at each sample's halt step.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from hrmzoo.model.segment_loop import cpu_chunk_rows, score


@dataclass
class EvalResult:
    """What `evaluate` measured.

    Attributes:
        metrics: headline numbers: `exact_accuracy` (per puzzle, the headline),
            `token_accuracy`, `mean_segments`, `halting_accuracy` (halt
            decision at the answer step agrees with correctness; None without a
            halting head), `num_examples`, `max_segments`, `eval_mode`, and
            `exact_by_segment` (accuracy had every sample stopped at segment k;
            over samples whose batch ran that far).
        samples: per-sample tensors, in input order: `halt_step` [N],
            `exact` [N], `token_accuracy` [N], `halt_confidence` [N]
            (sigmoid of the halt logit at the answer step, NaN without a head),
            `halt_decision` [N] (the head's halt wish at the answer step: its own rule, or its
            confidence above `eval_halt_threshold` under adaptive evaluation),
            `puzzle_identifiers` [N], `exact_per_segment` [N, S],
            `halt_confidence_per_segment` [N, S], `segment_ran` [N, S]
            (False where the batch stopped before that segment), and
            `predictions` [N, seq_len] when asked for (`uint8` when the
            vocabulary fits, else `int32`).
        activity: controller trace summary, name -> `mean` (mean activity per
            call), `calls_per_segment` and `by_segment` (mean per segment index).
    """

    metrics: dict[str, Any]
    samples: dict[str, torch.Tensor] = field(default_factory=dict)
    activity: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self, with_samples: bool = False) -> dict[str, Any]:
        """JSON-ready dict (per-sample lists only when `with_samples`)."""
        out: dict[str, Any] = {"metrics": self.metrics, "activity": self.activity}
        if with_samples:
            out["samples"] = {k: _json_list(v) for k, v in self.samples.items()}
        return out


def _json_list(t: torch.Tensor) -> list:
    values = t.tolist()
    if t.is_floating_point():
        return _nan_to_none(values)
    return values


def _nan_to_none(v):
    if isinstance(v, list):
        return [_nan_to_none(x) for x in v]
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _batches(data: Any, batch_size: int, split: str, limit: int | None) -> Iterator[dict[str, torch.Tensor]]:
    from hrmzoo.data.splits import open_split, ordered_batches

    if isinstance(data, (str, Path)):
        data = open_split(data, split)
    if hasattr(data, "get_batch"):
        yield from ordered_batches(data, batch_size, limit)
        return
    seen = 0
    for batch in data:
        if limit is not None and seen >= limit:
            return
        if limit is not None and seen + batch["inputs"].shape[0] > limit:
            batch = {k: v[: limit - seen] for k, v in batch.items()}
        seen += batch["inputs"].shape[0]
        yield batch


def halt_confidence(policy, halt_logits: torch.Tensor | None, batch_size: int) -> torch.Tensor:
    """Confidence in 'halt' per sample: the policy's `halt_confidence` (NaN without a head)."""
    if halt_logits is None:
        return torch.full((batch_size,), float("nan"))
    return policy.halt_confidence(halt_logits).float()


@torch.no_grad()
def evaluate(
    model,
    data: Any,
    *,
    batch_size: int = 256,
    split: str = "test",
    max_segments: int | None = None,
    run_all_segments: bool = False,
    keep_predictions: bool = False,
    limit: int | None = None,
    autocast_dtype: torch.dtype | None = None,
    progress: Any = None,
    drop_halted: bool = False,
) -> EvalResult:
    """Evaluate a model on a dataset.

    Args:
        model: a ReasoningModel (its halting `eval_mode` decides when samples stop).
        data: a dataset root (`split` is read), a `hrmzoo.data.dataset.PuzzleDataset`,
            or an iterable of batches (dicts with `inputs`, `labels`, `puzzle_identifiers`).
        batch_size: batch size for dataset inputs.
        split: split to read when `data` is a path.
        max_segments: segment budget (default: the policy's `max_segments`; never more).
        run_all_segments: run every batch to the budget to fill the per-segment records.
        keep_predictions: also return the answer tokens of every sample.
        limit: evaluate at most this many examples.
        autocast_dtype: e.g. `torch.bfloat16` to autocast (None: the model's dtype).
        progress: a callable `(examples_done) -> None` called after each batch.
        drop_halted: run later segments on the still-running samples only (the batch
            shrinks as samples halt; same answers, less compute under adaptive halting).
            Needs a state of batch-first tensors; otherwise the whole batch keeps running.

    Returns:
        An `EvalResult`.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    policy = model.halting
    budget = policy.max_segments if max_segments is None else max(1, min(max_segments, policy.max_segments))
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()

    cols: dict[str, list[torch.Tensor]] = {}
    act_sum: dict[str, float] = {}
    act_calls: dict[str, int] = {}
    act_seg: dict[str, dict[int, list[float]]] = {}
    model_calls = 0
    n_done = 0
    try:
        for batch in _cpu_chunks(model, _batches(data, batch_size, split, limit), device):
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch["labels"]
            B = labels.shape[0]
            rec = _BatchRecord(B, budget, labels.shape[1], keep_predictions)
            state = None
            rows, sub = None, batch  # rows still running (None: all) and their batch
            with amp:
                for s in range(1, budget + 1):
                    out = model(sub, state)
                    state = out.state
                    model_calls += 1
                    n = sub["labels"].shape[0]
                    exact, token = score(out.logits.float(), sub["labels"])
                    if "solvable" in sub:  # a stressed input with no answer is never right
                        exact = exact & sub["solvable"]
                    steps = torch.full((n,), s, dtype=torch.long, device=device)
                    halt_now = policy.should_halt(out.halt_logits, steps, None, False) | (s >= budget)
                    wants = policy.eval_wants_halt(out.halt_logits)
                    conf = halt_confidence(policy, out.halt_logits, n).to(device)
                    rec.segment(s, out.logits.argmax(-1), exact, token, conf, wants, halt_now, out.logits.shape[-1], rows)
                    for name, values in (out.diagnostics.get("trace") or {}).items():
                        vals = [float(v.detach().float().mean()) for v in values]
                        act_sum[name] = act_sum.get(name, 0.0) + sum(vals)
                        act_calls[name] = act_calls.get(name, 0) + len(vals)
                        act_seg.setdefault(name, {}).setdefault(s, []).extend(vals)
                    if rec.done.all() and not run_all_segments:
                        break
                    if drop_halted and not run_all_segments and bool(halt_now.any()) and _batch_first(state, n):
                        keep = ~halt_now
                        rows = (torch.arange(B, device=device) if rows is None else rows)[keep]
                        state = {k: v[keep] for k, v in state.items()}
                        sub = {k: v[keep] for k, v in sub.items()}
            for key, value in rec.columns(batch["puzzle_identifiers"]).items():
                cols.setdefault(key, []).append(value)
            n_done += B
            if progress is not None:
                progress(n_done)
    finally:
        model.train(was_training)

    samples = {k: torch.cat(v) for k, v in cols.items()} if cols else {}
    return EvalResult(_metrics(samples, budget, policy), samples, _activity(act_sum, act_calls, act_seg, model_calls))


def _cpu_chunks(model, batches: Iterator[dict[str, torch.Tensor]], device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    """On the CPU, each batch in row chunks of a measured fast size
    (`hrmzoo.model.segment_loop.cpu_chunk_rows`): samples do not interact, so the answers are
    the same (up to the matmul kernels' blocking), and the segments run faster."""
    cfg = getattr(model, "cfg", None)
    for batch in batches:
        B = batch["inputs"].shape[0]
        rows = cpu_chunk_rows(model, B, cfg.total_seq_len, device) if cfg is not None else B
        if rows >= B or not all(torch.is_tensor(v) and v.dim() >= 1 and v.shape[0] == B for v in batch.values()):
            yield batch
            continue
        for lo in range(0, B, rows):
            yield {k: v[lo:lo + rows] for k, v in batch.items()}


def _batch_first(state: Any, n: int) -> bool:
    """Whether a model state can be cut down to some of its samples (a dict of [n, ...] tensors)."""
    return isinstance(state, dict) and all(torch.is_tensor(v) and v.dim() >= 1 and v.shape[0] == n for v in state.values())


class _BatchRecord:
    """Per-sample answers and per-segment records of one batch."""

    def __init__(self, B: int, budget: int, seq_len: int, keep_predictions: bool):
        self.done = torch.zeros(B, dtype=torch.bool)
        self.halt_step = torch.zeros(B, dtype=torch.long)
        self.exact = torch.zeros(B, dtype=torch.bool)
        self.token = torch.zeros(B)
        self.conf = torch.full((B,), float("nan"))
        self.decision = torch.zeros(B, dtype=torch.bool)
        self.has_decision = False
        self.keep_predictions, self.seq_len = keep_predictions, seq_len
        self.pred: torch.Tensor | None = None
        self.exact_seg = torch.zeros(B, budget, dtype=torch.bool)
        self.conf_seg = torch.full((B, budget), float("nan"))
        self.ran = torch.zeros(B, budget, dtype=torch.bool)

    def segment(self, s, pred, exact, token, conf, wants, halt_now, vocab_size: int = 1 << 31, rows: torch.Tensor | None = None) -> None:
        """Record segment `s` of the rows that ran it (`rows`: their indices; None: every row)."""
        exact, token, conf, halt_now = exact.cpu(), token.float().cpu(), conf.float().cpu(), halt_now.cpu()
        idx = torch.arange(len(self.done)) if rows is None else rows.cpu()
        self.exact_seg[idx, s - 1] = exact
        self.conf_seg[idx, s - 1] = conf
        self.ran[idx, s - 1] = True
        new = halt_now & ~self.done[idx]  # over the rows that ran
        at = idx[new]
        self.halt_step[at] = s
        self.exact[at] = exact[new]
        self.token[at] = token[new]
        self.conf[at] = conf[new]
        if wants is not None:
            self.has_decision = True
            self.decision[at] = wants.cpu()[new]
        if self.keep_predictions:
            if self.pred is None:  # compact storage: uint8 tokens when the vocabulary fits (ARC: 12)
                dtype = torch.uint8 if vocab_size <= 256 else torch.int32
                self.pred = torch.zeros(len(self.done), self.seq_len, dtype=dtype)
            self.pred[at] = pred.cpu()[new].to(self.pred.dtype)
        self.done[idx] = self.done[idx] | halt_now

    def columns(self, puzzle_identifiers: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {
            "halt_step": self.halt_step,
            "exact": self.exact,
            "token_accuracy": self.token,
            "halt_confidence": self.conf,
            "puzzle_identifiers": puzzle_identifiers.cpu(),
            "exact_per_segment": self.exact_seg,
            "halt_confidence_per_segment": self.conf_seg,
            "segment_ran": self.ran,
        }
        if self.has_decision:
            out["halt_decision"] = self.decision
        if self.pred is not None:
            out["predictions"] = self.pred
        return out


def _metrics(samples: dict[str, torch.Tensor], budget: int, policy) -> dict[str, Any]:
    n = int(samples["exact"].numel()) if samples else 0
    m: dict[str, Any] = {
        "num_examples": n,
        "max_segments": budget,
        "eval_mode": policy.cfg.eval_mode,
        "exact_accuracy": float("nan"),
        "token_accuracy": float("nan"),
        "mean_segments": float("nan"),
        "halting_accuracy": None,
        "exact_by_segment": [],
    }
    if not n:
        return m
    m["exact_accuracy"] = float(samples["exact"].float().mean())
    m["token_accuracy"] = float(samples["token_accuracy"].mean())
    m["mean_segments"] = float(samples["halt_step"].float().mean())
    if "halt_decision" in samples:
        m["halting_accuracy"] = float((samples["halt_decision"] == samples["exact"]).float().mean())
        # the head did not want to halt where the answer was taken (it ran out of budget): no confident answer
        m["unsure"] = float((~samples["halt_decision"].bool()).float().mean())
    ran = samples["segment_ran"].float()
    right = samples["exact_per_segment"].float()
    counts = ran.sum(0)
    m["exact_by_segment"] = [float(r / c) if c > 0 else None for r, c in zip(right.sum(0), counts)]
    return m


def _activity(total: dict[str, float], calls: dict[str, int], by_seg: dict[str, dict[int, list[float]]], segments: int) -> dict[str, dict[str, Any]]:
    out = {}
    for name in total:
        per = by_seg.get(name, {})
        out[name] = {
            "mean": total[name] / max(1, calls[name]),
            "calls": calls[name],
            "calls_per_segment": calls[name] / max(1, segments),
            "by_segment": {str(s): sum(v) / len(v) for s, v in sorted(per.items())},
        }
    return out


def format_activity(activity: dict[str, dict[str, Any]]) -> str:
    """A text table: name, mean activity, calls per segment, mean by segment index."""
    if not activity:
        return ""
    segs = sorted({int(s) for a in activity.values() for s in a["by_segment"]})
    head = f"{'controller':<14} {'mean':>8} {'calls/seg':>10}  " + " ".join(f"{'seg' + str(s):>7}" for s in segs)
    rows = [head]
    for name, a in activity.items():
        cells = " ".join(f"{a['by_segment'].get(str(s), float('nan')):>7.3f}" for s in segs)
        rows.append(f"{name:<14} {a['mean']:>8.3f} {a['calls_per_segment']:>10.2f}  {cells}")
    return "\n".join(rows)


def format_metrics(metrics: dict[str, Any]) -> str:
    """One human line with the headline numbers."""
    parts = [
        f"exact accuracy {100 * metrics['exact_accuracy']:.2f}%",
        f"token accuracy {100 * metrics['token_accuracy']:.2f}%",
        f"mean segments {metrics['mean_segments']:.2f}/{metrics['max_segments']} ({metrics['eval_mode']})",
    ]
    if metrics.get("halting_accuracy") is not None:
        parts.append(f"halting accuracy {100 * metrics['halting_accuracy']:.2f}%")
    if metrics.get("unsure") is not None:
        parts.append(f"unsure {100 * metrics['unsure']:.2f}%")
    parts.append(f"{metrics['num_examples']} examples")
    return ", ".join(parts)

