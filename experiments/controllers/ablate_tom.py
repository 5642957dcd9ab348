"""Controller ablation on the perspective-taking (theory-of-mind) grids, seed-paired, equal wall-clock budget.

The runs go through `hrmzoo compare`'s seed-paired loop
(`hrmzoo.analysis.compare.paired_runs`, which reuses a finished run of the same
resolved recipe, budget and data) with this script's scorer (`score_run`).
Every run trains under the same wall-clock budget, enforced by the trainer
itself (`train.time_budget`): it stops at the first step past the budget and
records the steps it reached, so a faster variant gets more steps and the
budget is equal in measured wall time (a step-time calibration beforehand is
not: on a shared machine the load moves between calibration and training).
The learning-rate schedule is laid out over `--max-steps`, which the recipes'
constant schedule after warmup makes irrelevant. Seeds are paired: with
`train.seed=s` every recipe starts from the same backbone weights (the
builder initialises each component from its own (seed, component) generator)
and sees the same batches. Runs are interleaved (seed 0 of every recipe, then
seed 1 ...) so drifting machine load hits all variants alike.

Every run is evaluated per question kind (the task of the mix) on its test
split: exact accuracy, and for `belief`/`reality` separately on the
true-belief and false-belief examples (`extra__false_belief.npy`). Controller
activity (mean |modulation| per head and segment) is recorded per question
kind and plotted with `--plot`.

Examples:
    python experiments/controllers/ablate_tom.py --budget-s 240 --seeds 0 1 2 --plot docs/assets/tom_activity.png --results registry
    python experiments/controllers/ablate_tom.py --recipes tom_none tom_quaternion --seeds 0 --budget-s 20   # smoke run
    python experiments/controllers/ablate_tom.py --eval-only --out runs/ablate_tom --plot docs/assets/tom_activity.png
    python experiments/controllers/ablate_tom.py --report-only --out runs/ablate_tom --results registry
"""

from __future__ import annotations

import sys
import argparse
import datetime
import json
import statistics
from pathlib import Path

import numpy as np
import torch

from hrmzoo.analysis import compare
from hrmzoo.catalog.record import record_results
from hrmzoo.data import tom
from hrmzoo.data.dataset import PuzzleDataset
from hrmzoo.data.format import read_build_info
from hrmzoo.data.mix import is_mix, read_mix
from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate.core import evaluate
from hrmzoo.recipe import load_recipe
from hrmzoo.data.splits import prepare_dataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))
import common  # noqa: E402  (benchmarks/common.py)
from recipe_source import recipe_source  # noqa: E402  (beside this script)



RECIPES = ("tom_none", "tom_none_wide", "tom_film", "tom_quaternion")
HEADS = ("FF", "FE", "SF", "SE")


def task_batches(root: Path, task_id: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """One task's test split as batches carrying its `task_id` (the controller's perspective row)."""
    data = PuzzleDataset(root, "test", task_id=task_id)
    return [data.get_batch(list(range(i, min(len(data), i + batch_size)))) for i in range(0, len(data), batch_size)]


def object_marks(inputs: np.ndarray, predictions: np.ndarray, false_belief: np.ndarray) -> dict[str, float]:
    """Which of the two object cells a belief/reality answer marks `YES` (% of examples), overall and by belief kind.

    Per-cell accuracy hides how a one-cell answer fails: marking neither cell
    (the all-`NO` minimum), the cell now on every question (ignoring the log),
    or both.
    """
    size = int(round((np.sqrt(1 + 4 * inputs.shape[1]) - 1) / 2))
    world, yes = inputs[:, size:], predictions[:, size:] == tom.YES
    first, now = (yes & (world == tom.OBJ_BEFORE)).any(1), (yes & (world == tom.OBJ_AFTER)).any(1)
    out = {"first_only": first & ~now, "now_only": now & ~first, "both": first & now, "neither": ~first & ~now}
    pct = {k: 100.0 * float(v.mean()) for k, v in out.items()}
    fb = false_belief.astype(bool)
    if fb.any():
        pct["false_belief_first_only"] = 100.0 * float(out["first_only"][fb].mean())
    if (~fb).any():
        pct["true_belief_now_only"] = 100.0 * float(out["now_only"][~fb].mean())
    return pct


def score_run(model, mix_root: Path, batch_size: int) -> dict:
    """Exact accuracy (%) per question kind, the true/false-belief split, controller activity per kind and segment,
    and for belief/reality which object cells the answers mark (`object_marks`)."""
    if not is_mix(mix_root):
        raise SystemExit(f"{mix_root}: this data is not a mixture of tom question kinds")
    exact: dict[str, float] = {}
    activity: dict[str, dict[str, dict[str, float]]] = {}
    marks: dict[str, dict[str, float]] = {}
    hits, total = 0.0, 0
    for task in read_mix(mix_root):
        result = evaluate(model, task_batches(task.root, task.task_id, batch_size), batch_size=batch_size, run_all_segments=True,
                          keep_predictions=True)
        right = result.samples["exact"].float().cpu().numpy()
        exact[task.name] = 100.0 * float(right.mean())
        hits, total = hits + float(right.sum()), total + len(right)
        fb_file = task.root / "test" / "extra__false_belief.npy"
        if task.name in ("belief", "reality") and fb_file.is_file():
            fb = np.load(fb_file).astype(bool)
            exact[f"{task.name}_true_belief"] = 100.0 * float(right[~fb].mean())
            exact[f"{task.name}_false_belief"] = 100.0 * float(right[fb].mean())
            inputs = np.load(task.root / "test" / "all__inputs.npy")
            marks[task.name] = object_marks(inputs, result.samples["predictions"].numpy(), fb)
        activity[task.name] = {name: a["by_segment"] for name, a in result.activity.items()}
    exact["all"] = 100.0 * hits / max(1, total)
    return {"exact": exact, "activity": activity, "marks": marks}


def floors(mix_root: Path) -> dict[str, str]:
    """What answers that ignore the perspective score (the floor a model must clear), per kind, from the test labels."""
    out = {}
    for task in read_mix(mix_root):
        split = task.root / "test"
        x, y = np.load(split / "all__inputs.npy"), np.load(split / "all__labels.npy")
        size = int(round((np.sqrt(1 + 4 * x.shape[1]) - 1) / 2))
        world, label = x[:, size:], y[:, size:] == tom.YES

        def rate(guess: np.ndarray) -> float:
            return 100.0 * float((guess == label).all(axis=1).mean())

        rules = {
            "every open cell": world != tom.WALL,
            "the object's cell now": world == tom.OBJ_AFTER,
            "the object's first cell": world == tom.OBJ_BEFORE,
        }
        best = {name: rate(g) for name, g in rules.items()}
        name = max(best, key=best.get)
        out[task.name] = f"{best[name]:.1f}% ({name})"
    return out


def plot_activity(runs: dict[str, list[dict]], path: Path) -> list[str]:
    """One panel per head (FF, FE, SF, SE): mean activity by segment, a line per question kind; one figure per controller recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def order(name: str) -> int:
        head = name.split("/")[0]
        return HEADS.index(head) if head in HEADS else -1

    recipes = [r for r, rows in runs.items() if any(rows[0]["activity"].values())]
    if not recipes:
        return []
    fig, axes = plt.subplots(len(recipes), len(HEADS), figsize=(14, 3.2 * len(recipes)), squeeze=False)
    for row, recipe in enumerate(recipes):
        rows = runs[recipe]
        kinds = list(rows[0]["activity"])
        names = sorted({n for r in rows for k in kinds for n in r["activity"][k]}, key=order)
        for col in range(len(HEADS)):
            ax = axes[row][col]
            if col >= len(names):
                ax.set_axis_off()
                continue
            name = names[col]
            for kind in kinds:
                segs = sorted({int(s) for r in rows for s in r["activity"][kind].get(name, {})})
                means = [statistics.fmean(r["activity"][kind][name][str(s)] for r in rows) for s in segs]
                ax.plot(segs, means, marker="o", label=kind)
            ax.set_title(f"{recipe}: {name}", fontsize=10)
            ax.set_xlabel("segment")
            ax.set_xticks(segs)
            if col == 0:
                ax.set_ylabel("mean |modulation|")
        axes[row][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return recipes


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="+", default=list(RECIPES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--budget-s", type=float, default=240.0, help="training wall-clock seconds per run, every recipe (train.time_budget)")
    p.add_argument("--max-steps", type=int, default=100_000, help="step cap of a budgeted run (train.steps)")
    p.add_argument("--steps", type=int, default=None, help="train every recipe exactly this many steps instead of --budget-s")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/ablate_tom", help="run directories and ablate_tom.json go here")
    p.add_argument("--eval-batch-size", type=int, default=200)
    p.add_argument("--eval-only", action="store_true",
                   help="score the runs already in --out (trained by this script with the same budget and overrides) instead of training")
    p.add_argument("--report-only", action="store_true",
                   help="table, plot and --results from the ablate_tom.json a finished run left in --out (no training, no evaluation)")
    p.add_argument("--merge", nargs="+", default=None, metavar="DIR[=RECIPE,...]",
                   help="with --report-only: one report over the runs of several --out directories (see merge_runs)")
    p.add_argument("--plot", default=None, help="write the per-head activity PNG here")
    p.add_argument("--results", default=None, help="record the measured numbers in this catalogue folder (registry/)")
    p.add_argument("--hardware", default=None, help="machine description for --results (default: CPU, threads)")
    p.add_argument("overrides", nargs="*", help="key=value overrides applied to every recipe")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.report_only and args.merge:
        runs, mix_root = merge_runs(args.merge)
        args.recipes, args.seeds = list(runs), sorted({r["seed"] for rows in runs.values() for r in rows})
        return report(args, runs, mix_root)
    if args.report_only:
        saved = json.loads((out / "ablate_tom.json").read_text())
        for key in ("recipes", "seeds", "budget_s", "threads", "overrides", "steps"):
            setattr(args, key, saved["args"].get(key))
        recipe = load_recipe(recipe_source(args.recipes[0]), [*args.overrides])
        mix_root = Path(prepare_dataset(recipe, recipe.train.data_cache, progress=False))
        return report(args, saved["runs"], mix_root)
    sources = {recipe_source(r): r for r in args.recipes}
    # the seed-paired loop of `hrmzoo compare`, seed-major (seed 0 of every recipe, then seed 1 ...)
    # so drifting machine load hits all variants alike; a finished run of the same resolved recipe,
    # budget and data is reused; every run is scored per question kind (`score_run`)
    spec = compare.CompareSpec(
        recipes=list(sources), seeds=args.seeds, overrides=list(args.overrides), out=out, threads=args.threads,
        steps=args.steps if args.steps is not None else args.max_steps,
        budget=None if args.steps is not None else args.budget_s / 60.0,
        scorer=compare.RunScorer("tom_kinds", lambda model, root: score_run(model, root, args.eval_batch_size)),
        interleave=True, train=not args.eval_only,
    )
    try:
        _, records = compare.paired_runs(spec, log=lambda m: print(m, flush=True))
    except HrmzooError as exc:
        raise SystemExit(str(exc)) from None
    runs: dict[str, list[dict]] = {r: [] for r in args.recipes}
    mix_root = None
    for source, recs in records.items():
        recipe = sources[source]
        for rec in recs:
            mix_root = Path(rec["data"])
            row = {"seed": rec["seed"], "steps": rec["steps"], "budget": budget_text(args), "train_wall_s": rec["wall_s"],
                   "load": rec.get("load") or [],  # 1-minute load average before and after training
                   "command": training_command(args, [recipe], [rec["seed"]]), "params": rec["params"],
                   **{k: rec[k] for k in ("exact", "activity", "marks")}}
            runs[recipe].append(row)
            print(json.dumps({"recipe": recipe, **{k: v for k, v in row.items() if k != "activity"}}), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablate_tom.json").write_text(json.dumps({"args": vars(args), "runs": runs, "mix_root": str(mix_root)}, indent=1))
    return report(args, runs, mix_root)


def training_command(args: argparse.Namespace, recipes: list[str], seeds: list[int]) -> str:
    """The command line that trains (and scores) these recipes and seeds with the rest of `args`."""
    how = f"--steps {args.steps}" if args.steps is not None else f"--budget-s {args.budget_s:g}"
    return " ".join(["python experiments/controllers/ablate_tom.py", f"--recipes {' '.join(recipes)}", f"--seeds {' '.join(map(str, seeds))}", how,
                     f"--threads {args.threads}", *args.overrides])


def budget_text(args: argparse.Namespace) -> str:
    """What one run of this invocation trained for: a fixed step count or a wall-clock budget."""
    return f"{args.steps} steps" if args.steps is not None else f"{args.budget_s:g} s"


def merge_runs(specs: list[str]) -> tuple[dict[str, list[dict]], Path]:
    """Runs from several finished `--out` directories, for one report.

    A spec is `DIR` (every run in DIR/ablate_tom.json) or `DIR=recipe,recipe`
    (only those recipes). A (recipe, seed) met again replaces the earlier row.
    Rows saved before rows carried their `command` and `budget` get them from
    their file's arguments.
    """
    merged: dict[str, dict[int, dict]] = {}
    mix_root = None
    for spec in specs:
        folder, _, only = spec.partition("=")
        saved = json.loads((Path(folder) / "ablate_tom.json").read_text())
        old = argparse.Namespace(**{"steps": None, "budget_s": None, "overrides": [], **saved["args"]})
        mix_root = mix_root or saved.get("mix_root")
        for recipe, rows in saved["runs"].items():
            if only and recipe not in only.split(","):
                continue
            for row in rows:
                row.setdefault("command", training_command(old, [recipe], [row["seed"]]))
                row.setdefault("budget", budget_text(old))
                merged.setdefault(recipe, {})[row["seed"]] = row
    order = [r for r in RECIPES if r in merged] + [r for r in merged if r not in RECIPES]
    return {r: [merged[r][s] for s in sorted(merged[r])] for r in order}, Path(mix_root)


def steps_text(rows: list[dict]) -> str:
    """Steps per seed: one number when equal (a fixed step count), else each seed's (a wall-clock budget)."""
    steps = [r["steps"] for r in rows]
    return str(steps[0]) if len(set(steps)) == 1 else "/".join(map(str, steps))


def report(args: argparse.Namespace, runs: dict[str, list[dict]], mix_root: Path) -> dict:
    """Print the table and floors; write the plot and the results entries when asked."""
    table = {recipe: {k: common.mean_std([r["exact"][k] for r in rows]) for k in rows[0]["exact"]} for recipe, rows in runs.items() if rows}
    cols = list(next(iter(table.values())))
    print("\n| recipe | params | steps | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for recipe, stats in table.items():
        cells = [common.mean_std_cell(m, s) for m, s in stats.values()]
        print(f"| {recipe} | {runs[recipe][0]['params']:,} | {steps_text(runs[recipe])} | " + " | ".join(cells) + " |")
    loads = {recipe: [v for r in rows for v in r.get("load", [])] for recipe, rows in runs.items()}
    if any(loads.values()):
        print("1-minute load average at start/end of training: " + "; ".join(
            f"{recipe} " + ", ".join(f"{r['load'][0]:.1f}/{r['load'][1]:.1f}" if r.get("load") else "-" for r in runs[recipe])
            for recipe in runs if loads.get(recipe)))
    floor = floors(mix_root)
    print("floors (answers ignoring the perspective): " + ", ".join(f"{k} {v}" for k, v in floor.items()))

    if args.plot:
        plotted = plot_activity(runs, Path(args.plot))
        print(f"activity plot ({', '.join(plotted) or 'no controller runs'}): {args.plot}")

    if args.results:
        counts = ", ".join(f"{t.name} {len(PuzzleDataset(t.root, 'test'))}" for t in read_mix(mix_root))
        spec = (read_build_info(read_mix(mix_root)[0].root) or {}).get("spec", {})
        world = ", ".join(f"{k} {spec[k]}" for k in ("size", "num_agents", "wall_density", "view_radius", "max_goal_dist") if spec.get(k) is not None)
        dataset = f"test split of the recipe's tom mix ({world}; {counts} examples; maps never seen in training)"
        hardware = args.hardware or f"CPU ({args.threads} torch thread(s)), torch {torch.__version__.split('+')[0]}"
        rows_out = []
        for recipe, stats in table.items():
            rr = runs[recipe]
            walls = [r["train_wall_s"] for r in rr if r["train_wall_s"] is not None]
            plans = {r.get("budget", budget_text(args)) for r in rr}
            if len(plans) > 1:  # a merged report: say what each seed ran
                budget = "per seed: " + ", ".join(f"seed {r['seed']} {r['budget']} ({r['steps']} steps)" for r in rr)
            elif plans.pop().endswith(" s"):
                budget = f"equal wall-clock budget {rr[0].get('budget', budget_text(args))} of training per run (train.time_budget): {steps_text(rr)} steps reached by seed"
            else:
                budget = f"{rr[0]['steps']} steps per seed"
            cmd = "; ".join(dict.fromkeys(r.get("command") or training_command(args, [recipe], [r["seed"]]) for r in rr))
            loads = [v for r in rr for v in r.get("load", [])]
            notes = (budget
                     + (f", mean measured training wall {statistics.fmean(walls):.0f} s" if walls else "")
                     + (f", 1-minute load average {min(loads):.1f} to {max(loads):.1f} at the runs' starts and ends" if loads else "")
                     + (f" (recorded for {sum(1 for r in rr if r.get('load'))} of {len(rr)} runs)" if loads and not all(r.get("load") for r in rr) else "")
                     + f"; {rr[0]['params']:,} params; seed-paired seeds {', '.join(str(r['seed']) for r in rr)}; floors: "
                     + ", ".join(f"{k} {v}" for k, v in floor.items()))
            for key, (mean, std) in stats.items():
                rows_out.append({"recipe": recipe, "metric": f"exact_accuracy/{key}", "value": round(mean, 2), "std": None if std is None else round(std, 2),
                                 "seeds": len(rr), "unit": "%", "dataset": dataset, "command": cmd, "hardware": hardware,
                                 "date": datetime.date.today().isoformat(), "notes": notes})
        changed = record_results(rows_out, Path(args.results))
        print(f"updated {', '.join(changed) or 'nothing'}; now run `hrmzoo catalog`")
    return {"runs": runs, "report": {r: {m: list(v) for m, v in s.items()} for r, s in table.items()}, "floors": floor}


if __name__ == "__main__":
    main()
