"""Controller ablation on a multi-task mix: quaternion vs none vs film, several seeds each.

Trains each recipe once per seed through `hrmzoo compare`'s seed-paired loop
(`hrmzoo.analysis.compare.paired_runs`: same data, budget and seeds for every
variant, base weights checked equal, a finished run reused), then evaluates every run on the mixture's test split
and reports exact accuracy per task as mean ± sample std over seeds. With
`--results registry` the measured numbers are recorded by `hrmzoo.catalog.record`
(superseding this ablation's earlier entries; then run `hrmzoo catalog`).

Examples:
    python experiments/controllers/ablate_controller.py
    python experiments/controllers/ablate_controller.py --seeds 0 1 2 --threads 1 --results registry
    python experiments/controllers/ablate_controller.py --recipes tiny_quaternion_mix --seeds 0 train.steps=50 train.warmup_steps=5
"""

from __future__ import annotations

import sys
import argparse
import datetime
import json
import platform
import statistics
from pathlib import Path

import torch

from hrmzoo.analysis import compare
from hrmzoo.catalog.record import record_results
from hrmzoo.data.dataset import PuzzleDataset
from hrmzoo.data.mix import is_mix, read_mix
from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate.core import evaluate

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))
import common  # noqa: E402  (benchmarks/common.py)
from recipe_source import recipe_source  # noqa: E402  (beside this script)



RECIPES = ("tiny_quaternion_mix_none", "tiny_quaternion_mix_film", "tiny_quaternion_mix")


def test_batches(root: Path, batch_size: int) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
    """The test split as batches carrying `task_id`, and the task id of every example in order."""
    data = PuzzleDataset(root, "test")
    batches = [data.get_batch(list(range(i, min(len(data), i + batch_size)))) for i in range(0, len(data), batch_size)]
    return batches, torch.cat([b["task_id"] for b in batches])


def per_task_scores(model, root: Path, batch_size: int) -> dict[str, dict[str, float]]:
    """Exact and token accuracy (%) per task of the mixture, answers at each sample's halt step."""
    if not is_mix(root):
        raise SystemExit(f"{root}: this data is not a mixture; this ablation reports accuracy per task of a mix")
    batches, task_ids = test_batches(root, batch_size)
    result = evaluate(model, batches, batch_size=batch_size)
    out: dict[str, dict[str, float]] = {}
    for metric, key in (("exact", "exact"), ("token", "token_accuracy")):
        values = result.samples[key].float().cpu()
        out[metric] = {t.name: 100.0 * float(values[task_ids == t.task_id].mean()) for t in read_mix(root)}
        out[metric]["all"] = 100.0 * float(values.mean())
    return out


def copy_baseline(root: Path, batch_size: int) -> dict[str, float]:
    """Exact accuracy (%) per task of answering with the input unchanged: the floor a model must beat
    (a maze whose start touches its goal has no path cells to mark)."""
    batches, task_ids = test_batches(root, batch_size)
    same = torch.cat([((b["inputs"] == b["labels"]) | (b["labels"] < 0)).all(-1) for b in batches]).float()
    return {t.name: 100.0 * float(same[task_ids == t.task_id].mean()) for t in read_mix(root)}


def hardware() -> str:
    return f"CPU {platform.machine()} ({torch.get_num_threads()} torch thread(s), shared 2-core machine), torch {torch.__version__.split('+')[0]}"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="+", default=list(RECIPES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/ablate_controller", help="run directories go here")
    p.add_argument("--data-cache", default=None, help="dataset cache (default: the trainer's)")
    p.add_argument("--eval-batch-size", type=int, default=200)
    p.add_argument("--eval-only", action="store_true",
                   help="score the runs already in --out (trained by this script with the same arguments) instead of training")
    p.add_argument("--results", default=None, help="record the measured numbers in this catalogue folder (registry/)")
    p.add_argument("--supersede", default="replaced by a later run of the same ablation",
                   help="reason recorded on the results this run replaces")
    p.add_argument("overrides", nargs="*", help="key=value overrides applied to every recipe (same budget for all)")
    args = p.parse_args(argv)

    overrides = [*args.overrides, *([f"train.data_cache={args.data_cache}"] if args.data_cache else [])]
    sources = {recipe_source(r): r for r in args.recipes}
    # the seed-paired loop of `hrmzoo compare`: every recipe starts from the same base weights for a
    # given seed (the controller aside; refused otherwise), trains to the same budget, is reused when
    # finished with the same resolved recipe and data, and is scored per task of the mix
    spec = compare.CompareSpec(
        recipes=list(sources), seeds=args.seeds, overrides=overrides, out=Path(args.out), threads=args.threads,
        scorer=compare.RunScorer("per_task", lambda model, root: per_task_scores(model, root, args.eval_batch_size)),
        require_paired=True, pair_skip=("controller",), train=not args.eval_only,
    )
    try:
        pairing, records = compare.paired_runs(spec, log=lambda m: print(m, flush=True))
    except HrmzooError as exc:
        raise SystemExit(str(exc)) from None
    for seed, groups in pairing.items():
        print(f"seed {seed}: base weights paired across {len(groups[0])} recipes (controllers aside)", flush=True)
    runs: dict[str, list[dict]] = {}
    data_roots: dict[str, Path] = {}
    for source, recs in records.items():
        recipe = sources[source]
        for rec in recs:
            data_roots[recipe] = Path(rec["data"])
            row = {"seed": rec["seed"], "steps": rec["steps"], "wall_s": rec["wall_s"], "params": rec["params"],
                   "exact": rec["exact"], "token": rec["token"]}
            runs.setdefault(recipe, []).append(row)
            print(json.dumps({"recipe": recipe, **row}), flush=True)

    report: dict[str, dict[str, tuple[float, float | None]]] = {}
    for recipe, rows in runs.items():
        report[recipe] = {f"{metric}_accuracy/{t}": common.mean_std([r[metric][t] for r in rows]) for metric in ("exact", "token") for t in rows[0][metric]}
    names = list(next(iter(report.values())))
    print("\n| recipe | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for recipe, stats in report.items():
        cells = [common.mean_std_cell(m, s) for m, s in stats.values()]
        print(f"| {recipe} | " + " | ".join(cells) + " |")

    if args.results:
        cmd = "python experiments/controllers/ablate_controller.py " + " ".join(
            [f"--seeds {' '.join(map(str, args.seeds))}", f"--threads {args.threads}", *args.overrides]
        ).strip()
        root = data_roots[args.recipes[0]]
        _, task_ids = test_batches(root, args.eval_batch_size)
        counts = ", ".join(f"{t.name} {int((task_ids == t.task_id).sum())}" for t in read_mix(root))
        dataset = f"test split of the recipe's data mix ({counts} examples)"
        floor = copy_baseline(root, args.eval_batch_size)
        floor_text = "copy-input baseline " + ", ".join(f"{k} {v:.1f}%" for k, v in floor.items())
        rows_out = []
        for recipe, stats in report.items():
            steps = runs[recipe][0]["steps"]
            walls = [r["wall_s"] for r in runs[recipe] if r["wall_s"] is not None]
            wall_text = f"; mean wall {statistics.fmean(walls):.0f} s per run" if walls else ""
            for metric, (mean, std) in stats.items():
                rows_out.append({
                    "recipe": recipe,
                    "metric": metric,
                    "value": round(mean, 2),
                    "std": None if std is None else round(std, 2),
                    "seeds": len(runs[recipe]),
                    "unit": "%",
                    "dataset": dataset,
                    "command": cmd,
                    "hardware": hardware(),
                    "date": datetime.date.today().isoformat(),
                    "notes": f"{steps} steps per seed; seeds {', '.join(map(str, args.seeds))}{wall_text}; {floor_text}",
                })
        changed = record_results(rows_out, Path(args.results), supersede=args.supersede)
        print(f"updated {', '.join(changed) or 'nothing'}; now run `hrmzoo catalog`")
    return {"runs": runs, "report": {r: {m: list(v) for m, v in s.items()} for r, s in report.items()}}


if __name__ == "__main__":
    main()
