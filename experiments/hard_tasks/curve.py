"""Exact accuracy against CPU time along one training run: every saved generation evaluated.

    python experiments/hard_tasks/curve.py RUN [RUN ...] --data DIR [--limit 1000] [--segments 16]
        [--json OUT.json] [--svg OUT.svg]
    python experiments/hard_tasks/curve.py A.json B.json --svg OUT.svg     # redraw saved curves, several runs

Each RUN is a run directory of `tools/time_compare.py` (its checkpoints/step-N generations are the
points; the recipes of issue 32 save one every 1,000 steps or so). The x axis is CPU-minutes: the
run's training CPU time (from `measure.json` in the run's parent directory, written by
time_compare) spread evenly over its steps, plus the CPU time of the weights it started from
(`train.init_from: pretrained:NAME` reads the model card's `train_cpu_s`, step 0 of the curve).
Every point reads the saved (EMA) weights, every sample run `--segments` segments: fixed budgets
1/2/4/8/16 and the halting head's own stop (adaptive, at most the budget).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hrmzoo.analysis.compare import segment_scores
from hrmzoo.analysis.evalrun import dataset_batches
from hrmzoo.persistence import generations as gens
from hrmzoo.persistence.checkpoint import load_model

BUDGETS = (1, 2, 4, 8, 16)


def training_cpu_s_per_step(run: Path) -> float:
    """CPU-seconds per step of the run's training loop, from time_compare's measure.json."""
    measure = run.parent / "measure.json"
    if not measure.is_file():
        sys.exit(f"curve.py: {measure} is missing; train the run with tools/time_compare.py (it records CPU time)")
    for t in json.loads(measure.read_text())["timings"]:
        if Path(t["run_dir"]).resolve() == run.resolve():
            return t["train_cpu_s"] / t["steps"]
    sys.exit(f"curve.py: {measure} has no timing for {run}")


def source_cpu_s(model) -> tuple[float, str]:
    """CPU-seconds behind the weights a warm-started run began from (0 for a random start)."""
    source = model.recipe.train.init_from
    if source is None:
        return 0.0, "random initialisation"
    if source.startswith("pretrained:"):
        from hrmzoo.persistence.hub import card

        c = card(source)
        return float(c["train_cpu_s"]), f"{source} ({c['train_cpu_s'] / 60:.1f} CPU-min on its card)"
    sys.exit(f"curve.py: the run starts from {source}; only pretrained:NAME sources carry a recorded CPU time")


def curve(run: Path, data: Path, limit: int | None, top: int, with_start: bool = True) -> dict:
    budgets = [k for k in BUDGETS if k <= top]
    per_step = training_cpu_s_per_step(run)
    points = []
    for gen in sorted(gens.list_generations(run), key=lambda g: g.step):
        model = load_model(gen.path, [f"model.halting.max_segments={top}", "model.halting.eval_mode=adaptive"]).eval()
        scores = segment_scores(model, dataset_batches(data, "test", 256, limit), budgets, limit)
        points.append({"step": gen.step, "train_cpu_min": round(gen.step * per_step / 60, 2), **scores})
        print(f"{run.name} step {gen.step}: fixed {scores['fixed']} adaptive {scores['adaptive']}", flush=True)
    prior, what = source_cpu_s(model)
    for p in points:
        p["total_cpu_min"] = round(p["train_cpu_min"] + prior / 60, 2)
    start = None
    if model.recipe.train.init_from is not None and with_start:  # the source weights on this task, before any step here
        from hrmzoo.persistence.checkpoint import load_weights, read_weights

        tensors, source = read_weights(model.recipe.train.init_from)
        load_weights(model, tensors, source)
        start = segment_scores(model, dataset_batches(data, "test", 256, limit), budgets, limit)
        print(f"{run.name} start ({what}): fixed {start['fixed']}", flush=True)
    return {"run": str(run), "source": what, "source_cpu_min": round(prior / 60, 2),
            "train_cpu_s_per_step": round(per_step, 4), "start": start, "points": points}


def draw(curves: list[dict], path: Path, top: int) -> None:
    """One line per run at the top budget (solid) and at half of it (dotted); the warm start's cost dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=100)
    for i, c in enumerate(curves):
        name = Path(c["run"]).name
        xs = [c["source_cpu_min"]] + [p["total_cpu_min"] for p in c["points"]]
        for key, style in ((str(top), "o-"), (str(top // 2), "s:")):
            start = [c["start"]["fixed"][key]] if c.get("start") else []
            ax.plot(xs[-len(start) - len(c["points"]):], start + [p["fixed"][key] for p in c["points"]], style, color=f"C{i}",
                    label=f"{name}, every example {key} segments")
        if c["source_cpu_min"]:
            ax.axvline(c["source_cpu_min"], color=f"C{i}", lw=0.8, ls="--", alpha=0.6)
    ax.set_xlabel("CPU-minutes, one thread (the warm start's own training included; dashed: where it ends)")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--data", type=Path, help="the dataset directory the runs trained on (its test split)")
    p.add_argument("--limit", type=int, default=None, help="first N test examples (default: all)")
    p.add_argument("--segments", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: runs beside training runs)")
    p.add_argument("--json", type=Path)
    p.add_argument("--svg", type=Path)
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    if all(r.suffix == ".json" for r in a.runs):  # saved curves (--json files): redraw, no evaluation
        saved = [json.loads(r.read_text()) for r in a.runs]
        curves, a.segments = [c for s in saved for c in s["curves"]], saved[0]["segments"]
    elif a.data is None:
        sys.exit("curve.py: --data DIR is needed to evaluate run directories")
    else:
        curves = [curve(r, a.data, a.limit, a.segments) for r in a.runs]
    if a.json:
        a.json.write_text(json.dumps({"limit": a.limit, "segments": a.segments, "curves": curves}, indent=1))
    if a.svg:
        draw(curves, a.svg, a.segments)
    keys = [k for k in ("4", "8", str(a.segments)) if k in curves[0]["points"][0]["fixed"]]
    for c in curves:
        print(f"\n{Path(c['run']).name} (start: {c['source']}):")
        print("| step | CPU-min in all | " + " | ".join(f"exact % at {k} seg" for k in keys) + " |")
        print("|---:|---:|" + "---:|" * len(keys))
        if c.get("start"):
            print(f"| 0 | {c['source_cpu_min']:.1f} | " + " | ".join(f"{c['start']['fixed'][k]:.1f}" for k in keys) + " |")
        for pt in c["points"]:
            print(f"| {pt['step']} | {pt['total_cpu_min']:.1f} | " + " | ".join(f"{pt['fixed'][k]:.1f}" for k in keys) + " |")

if __name__ == "__main__":
    main()
