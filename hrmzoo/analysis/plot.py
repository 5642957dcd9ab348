"""PNG figures for the sweep and the halting analysis (matplotlib is an optional extra).

Each function returns the path written, or None when matplotlib is not
installed (`pip install hrmzoo[plot]`); callers then print tables only.
"""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_sweep(result, path: str | Path) -> Path | None:
    """Accuracy against forward FLOPs per sample: one line per inner-cycle count, adaptive halting as markers."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    by_l: dict[int, list[dict]] = {}
    for r in result.rows:
        by_l.setdefault(r["l_cycles"], []).append(r)
    for lc, rows in sorted(by_l.items()):
        rows = sorted(rows, key=lambda r: r["segments"])
        line, = ax.plot([r["flops_per_sample"] for r in rows], [100 * r["exact_accuracy"] for r in rows], "o-", label=f"l_cycles={lc}")
        if "adaptive_accuracy" in rows[0]:
            ax.plot([r["adaptive_flops_per_sample"] for r in rows], [100 * r["adaptive_accuracy"] for r in rows], "x--",
                    color=line.get_color(), alpha=0.7, label=f"l_cycles={lc}, adaptive")
    ax.set_xscale("log")
    ax.set_xlabel("forward FLOPs per sample")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_ylim(-2, 102)
    trained = result.info.get("trained", {})
    ax.set_title(f"inference budget sweep (trained: l_cycles={trained.get('l_cycles')}, {trained.get('max_segments')} segments)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, plt, path)


def plot_halting(report, path: str | Path) -> Path | None:
    """Eight panels. Top: halt-step histogram, accuracy by halt step, reliability diagram, and the
    halt-threshold trade-off (exact accuracy against mean segments). Bottom: risk-coverage,
    ROC of the halt confidence for right vs wrong (AUROC in the legend), mean segments per
    difficulty bucket, and what the model does on unsolvable inputs. Clean, noisy and stress split."""
    plt = _pyplot()
    if plt is None:
        return None
    runs = report.runs()
    S = report.info["max_segments"]
    steps = list(range(1, S + 1))
    fig, grid = plt.subplots(2, 4, figsize=(17, 7.8))
    axes = list(grid[0])
    _selective_panels(report, runs, list(grid[1]))
    width = 0.8 / len(runs)
    for i, (name, st) in enumerate(runs):
        xs = [s + (i - (len(runs) - 1) / 2) * width for s in steps]
        axes[0].bar(xs, [st["halt_step_counts"][str(s)] for s in steps], width=width, label=name)
        acc = [st["accuracy_by_halt_step"][str(s)] for s in steps]
        axes[1].plot([s for s, a in zip(steps, acc) if a is not None], [100 * a for a in acc if a is not None], "o-", label=name)
        cal = st.get("calibration_all_segments")
        if cal:
            pts = [(c, a) for c, a in zip(cal["bin_confidence"], cal["bin_accuracy"]) if c is not None]
            axes[2].plot([c for c, _ in pts], [a for _, a in pts], "o-", label=f"{name} (ECE {cal['ece']:.3f})")
        trade = st.get("threshold_tradeoff")
        if trade:
            line = axes[3].plot([r["mean_segments"] for r in trade], [100 * r["exact"] for r in trade], "o-", label=name)[0]
            for r in trade:
                axes[3].annotate(f"{r['threshold']:g}", (r["mean_segments"], 100 * r["exact"]), fontsize=6,
                                 xytext=(3, -8), textcoords="offset points", color=line.get_color())
    axes[0].set(xlabel="halt step", ylabel="samples", title="halt steps")
    axes[1].set(xlabel="halt step", ylabel="exact accuracy (%)", title="accuracy by halt step", ylim=(-2, 102), xlim=(0.5, S + 0.5))
    axes[2].plot([0, 1], [0, 1], ":", color="grey")
    axes[2].set(xlabel="halt confidence sigmoid(q_halt)", ylabel="fraction exactly right", title="reliability (all segments)",
                xlim=(0, 1), ylim=(0, 1))
    axes[3].set(xlabel="mean segments", ylabel="exact accuracy (%)", title="halt when confidence > t (t labelled)",
                xlim=(0.5, S + 0.5))
    if not report.clean.get("has_halting_head"):
        axes[2].text(0.5, 0.5, "no halting head", ha="center")
        axes[3].text(S / 2, 50, "no halting head", ha="center")
    for ax in list(grid.flat):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, plt, path)


def _selective_panels(report, runs, axes) -> None:
    """The bottom row of `plot_halting`: risk-coverage, ROC, segments by difficulty, unsolvable inputs."""
    for name, st in runs:
        rc = st.get("risk_coverage")
        if rc and rc["coverage"]:
            axes[0].plot([100 * c for c in rc["coverage"]], [100 * a for a in rc["accuracy"]], "o-", ms=3,
                         label=f"{name} (AURC {rc['aurc']:.3f})")
        roc = st.get("roc_at_halt")
        if roc:
            auc = st.get("auroc_at_halt")
            axes[1].plot(roc["fpr"], roc["tpr"], "-", label=f"{name} (AUROC {'-' if auc is None else format(auc, '.3f')})")
        rows = st.get("segments_by_bucket")
        if rows:
            axes[2].plot(range(len(rows)), [r["mean_segments"] for r in rows], "o-", label=name)
            axes[2].set_xticks(range(len(rows)), [r["bucket"] for r in rows], fontsize=7)
    axes[0].set(xlabel="coverage: most confident answers kept (%)", ylabel="exact accuracy of those (%)", title="risk-coverage (at halt)")
    axes[1].plot([0, 1], [0, 1], ":", color="grey")
    axes[1].set(xlabel="false positive rate (wrong answers over t)", ylabel="true positive rate (right over t)",
                title="halt confidence: right vs wrong", xlim=(0, 1), ylim=(0, 1))
    by = report.info.get("by")
    axes[2].set(xlabel=f"difficulty bucket ({by})" if by else "difficulty bucket", ylabel="mean segments", title="segments by difficulty")
    if not by:
        axes[2].text(0.5, 0.5, "pass by=givens (or by=path_len)", ha="center", transform=axes[2].transAxes, fontsize=8)
    un = (report.stress or {}).get("unsolvable_inputs") or {}
    if un.get("unsolvable"):
        names = ["confident halt\n(> 0.9)", "unsure\n(to the budget)"]
        vals = [100 * un["confident_halt"], 100 * un["unsure"]]
        bars = axes[3].bar(names, vals, color=["tab:red", "tab:green"])
        for b, v in zip(bars, vals):
            axes[3].annotate(f"{v:.1f}%", (b.get_x() + b.get_width() / 2, v), ha="center", xytext=(0, 3), textcoords="offset points", fontsize=8)
        axes[3].set(ylim=(0, 105), ylabel=f"share of {un['unsolvable']} unsolvable inputs (%)")
    else:
        axes[3].text(0.5, 0.5, "no stress split", ha="center", transform=axes[3].transAxes)
    axes[3].set(title="unsolvable inputs (stress split)")


def _save(fig, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
