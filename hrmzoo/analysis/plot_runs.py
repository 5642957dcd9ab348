"""Training curves of one or more runs from their `metrics.jsonl` (`hrmzoo plot`).

Four panels: loss, exact accuracy and segments used against the optimizer step,
and exact accuracy by segment at the end of training. Several runs overlay,
one colour each, with a legend. matplotlib (the `plot` extra) is imported
only when a figure is drawn.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrmzoo.errors import HrmzooError

METRICS_FILE = "metrics.jsonl"


class RunReadError(HrmzooError):
    """A run directory without a readable `metrics.jsonl`."""


class PlotDependencyError(HrmzooError):
    """matplotlib is not installed."""


@dataclass
class RunMetrics:
    """The rows of one run's `metrics.jsonl`, split by kind.

    Attributes:
        label: the run's name in the legend.
        train: `{"step": ..., "kind": "train", ...}` rows, in file order.
        eval: `{"kind": "eval", ...}` rows, in file order.
    """

    label: str
    train: list[dict[str, Any]] = field(default_factory=list)
    eval: list[dict[str, Any]] = field(default_factory=list)

    def series(self, kind: str, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of `key` over the rows of `kind` that hold a finite number for it."""
        steps, values = [], []
        for row in self.train if kind == "train" else self.eval:
            v = row.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                steps.append(int(row["step"]))
                values.append(float(v))
        return steps, values

    def by_segment(self) -> tuple[str, list[int], list[float]]:
        """Exact accuracy by segment at the end: the last evaluation's `exact_by_segment`,
        else the last training interval's `by_segment` (source, segments, accuracies)."""
        for row in reversed(self.eval):
            values = row.get("exact_by_segment")
            if isinstance(values, list) and values:
                pts = [(i + 1, float(v)) for i, v in enumerate(values) if isinstance(v, (int, float))]
                return f"test, step {row['step']}", [p[0] for p in pts], [p[1] for p in pts]
        for row in reversed(self.train):
            seg = row.get("by_segment")
            if isinstance(seg, dict) and seg:
                keys = sorted(seg, key=int)
                return f"train, step {row['step']}", [int(k) for k in keys], [float(seg[k]["exact"]) for k in keys]
        return "none", [], []


def read_metrics(run_dir: str | Path, label: str | None = None) -> RunMetrics:
    """Parse `run_dir/metrics.jsonl` (or a metrics file given directly)."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise RunReadError(f"{path}: not found; give a run directory written by 'hrmzoo train'")
    run = RunMetrics(label or (path.parent.name if path.name == METRICS_FILE else path.stem))
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunReadError(f"{path}:{lineno}: not a JSON line ({exc.msg})") from None
            if not isinstance(row, dict) or "step" not in row:
                raise RunReadError(f"{path}:{lineno}: expected an object with a 'step'")
            kind = row.get("kind", "train")
            if kind == "eval":
                run.eval.append(row)
            elif kind == "train":
                run.train.append(row)
            # other kinds (eval_live: an EMA run's live weights) are not plotted
    if not run.train and not run.eval:
        raise RunReadError(f"{path}: no metric rows yet (the first is written after train.log_interval steps)")
    return run


def _labels(run_dirs: list[Path]) -> list[str]:
    names = [Path(d).resolve().name for d in run_dirs]
    if len(set(names)) == len(names):
        return names
    return [str(d) for d in run_dirs]  # same folder name twice: show the paths


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotDependencyError("plotting needs matplotlib: pip install 'hrmzoo[plot]'") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


@dataclass
class PlotResult:
    """What `plot_runs` wrote and drew.

    Attributes:
        paths: the image files written.
        drawn: panel title -> line label -> (x, y), read back from the figure's lines.
    """

    paths: list[Path]
    drawn: dict[str, dict[str, tuple[list[float], list[float]]]]


PANELS = ("loss", "exact accuracy", "segments used", "exact accuracy by segment (end)")


def plot_runs(run_dirs: list[str | Path], out: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> PlotResult:
    """Draw the curves of `run_dirs` into `out` (its suffix is replaced by each of `formats`)."""
    if not run_dirs:
        raise RunReadError("give at least one run directory")
    runs = [read_metrics(d, label) for d, label in zip(run_dirs, _labels([Path(d) for d in run_dirs]))]
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    ax_loss, ax_acc, ax_seg, ax_by = axes.flat
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        c = colors[i % len(colors)]
        steps, loss = run.series("train", "loss")
        ax_loss.plot(steps, loss, "-", color=c, label=run.label)
        steps, acc = run.series("train", "exact_at_halt")
        ax_acc.plot(steps, [100 * a for a in acc], "-", color=c, label=f"{run.label} train (at halt)")
        steps, acc = run.series("eval", "exact_accuracy")
        if steps:
            ax_acc.plot(steps, [100 * a for a in acc], "o--", color=c, label=f"{run.label} test")
        steps, seg = run.series("train", "segments")
        ax_seg.plot(steps, seg, "-", color=c, label=f"{run.label} train")
        steps, seg = run.series("eval", "mean_segments")
        if steps:
            ax_seg.plot(steps, seg, "o--", color=c, label=f"{run.label} test")
        source, segs, acc = run.by_segment()
        if segs:
            ax_by.plot(segs, [100 * a for a in acc], "o-", color=c, label=f"{run.label} ({source})")
    ax_loss.set(xlabel="step", ylabel="training loss (all terms)", title=PANELS[0])
    ax_acc.set(xlabel="step", ylabel="exact accuracy (%)", title=PANELS[1], ylim=(-2, 102))
    ax_seg.set(xlabel="step", ylabel="mean segments", title=PANELS[2])
    ax_by.set(xlabel="segment", ylabel="exact accuracy (%)", title=PANELS[3], ylim=(-2, 102))
    ax_by.xaxis.get_major_locator().set_params(integer=True)
    drawn: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for ax, title in zip(axes.flat, PANELS):
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=7)
        drawn[title] = {ln.get_label(): ([float(v) for v in ln.get_xdata()], [float(v) for v in ln.get_ydata()])
                        for ln in ax.get_lines()}
    fig.suptitle(", ".join(r.label for r in runs), fontsize=10)
    fig.tight_layout()
    out = Path(out)
    paths = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            path = out.with_suffix(f".{fmt}")
            fig.savefig(path, dpi=100)
            paths.append(path)
    except OSError as exc:
        raise RunReadError(f"cannot write the plot to {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return PlotResult(paths, drawn)
