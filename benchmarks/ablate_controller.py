"""Controller ablation on a multi-task mix: quaternion vs none vs film, several seeds each.

Trains each recipe once per seed with the trainer (same data, budget and
seeds for every variant), then evaluates every run on the mixture's test split
and reports exact accuracy per task as mean ± sample std over seeds. With
`--results` the measured numbers replace this ablation's entries in
`registry/results.yaml` (then run `hrmzoo catalog`).

Examples:
    python benchmarks/ablate_controller.py
    python benchmarks/ablate_controller.py --seeds 0 1 2 --threads 1 --results registry/results.yaml
    python benchmarks/ablate_controller.py --recipes tiny_quaternion_mix --seeds 0 train.steps=50 train.warmup_steps=5
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import yaml

from hrmzoo.analysis.compare import base_digest
from hrmzoo.checkpoint import load_model
from hrmzoo.data.dataset import PuzzleDataset
from hrmzoo.data.mix import is_mix, read_mix
from hrmzoo.evaluate.core import evaluate
from hrmzoo.data.splits import prepare_dataset
from hrmzoo.train.trainer import Trainer

import common  # benchmarks/common.py: the script's own folder is on sys.path

RECIPES = ("tiny_quaternion_mix_none", "tiny_quaternion_mix_film", "tiny_quaternion_mix")


def test_batches(root: Path, batch_size: int) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
    """The test split as batches carrying `task_id`, and the task id of every example in order."""
    data = PuzzleDataset(root, "test")
    batches = [data.get_batch(list(range(i, min(len(data), i + batch_size)))) for i in range(0, len(data), batch_size)]
    return batches, torch.cat([b["task_id"] for b in batches])


def per_task_scores(model, root: Path, batch_size: int) -> dict[str, dict[str, float]]:
    """Exact and token accuracy (%) per task of the mixture, answers at each sample's halt step."""
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


def write_results(path: Path, rows: list[dict], supersede: str) -> None:
    """Add the rows to the results source; current entries with the same (recipe, metric)
    are kept for the record, marked superseded with the reason given."""
    text = path.read_text() if path.is_file() else "results: []\n"
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    data = yaml.safe_load(text) or {}
    replaced = {(x["recipe"], x["metric"]) for x in rows}
    old = []
    for r in data.get("results", []):
        if (r["recipe"], r["metric"]) in replaced and not r.get("superseded"):
            r = {**r, "superseded": supersede}
        old.append(r)
    body = yaml.safe_dump({"results": old + rows}, sort_keys=False, allow_unicode=True, width=200)
    path.write_text(header + body)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="+", default=list(RECIPES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/ablate_controller", help="run directories go here")
    p.add_argument("--data-cache", default=None, help="dataset cache (default: the trainer's)")
    p.add_argument("--eval-batch-size", type=int, default=200)
    p.add_argument("--eval-only", action="store_true", help="evaluate the runs already in --out instead of training")
    p.add_argument("--results", default=None, help="update this results.yaml with the measured numbers")
    p.add_argument("--supersede", default="replaced by a later run of the same ablation",
                   help="reason recorded on the results this run replaces")
    p.add_argument("overrides", nargs="*", help="key=value overrides applied to every recipe (same budget for all)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    common = [f"train.threads={args.threads}", "train.progress=false", "train.final_eval=false", *args.overrides]
    if args.data_cache:
        common.append(f"train.data_cache={args.data_cache}")
    runs: dict[str, list[dict]] = {}
    data_roots: dict[str, Path] = {}
    # seed-paired starts: every recipe starts from the same base weights for a given seed
    for seed in args.seeds:
        digests = {r: base_digest(r, args.overrides, seed, skip=("controller",)) for r in args.recipes}
        if len(set(digests.values())) != 1:
            raise SystemExit(f"seed {seed}: the recipes start from different base weights ({digests}); the comparison would not be paired")
        print(f"seed {seed}: base weights paired across {len(digests)} recipes (digest {next(iter(digests.values()))})", flush=True)
    for recipe in args.recipes:
        for seed in args.seeds:
            run_dir = Path(args.out) / f"{recipe}-seed{seed}"
            start = time.perf_counter()
            if args.eval_only:
                model = load_model(run_dir / "model.safetensors")
                root = prepare_dataset(model.recipe, model.recipe.train.data_cache, progress=False)
                steps, wall = model.recipe.train.steps, None
            else:
                trainer = Trainer(recipe, [*common, f"train.seed={seed}"], run_dir=run_dir)
                summary = trainer.run()
                model, root, steps = trainer.eval_model, Path(trainer.data_root), summary.steps
                wall = round(time.perf_counter() - start, 1)
            if not is_mix(root):
                raise SystemExit(f"{recipe}: its data is not a mixture; this ablation reports accuracy per task of a mix")
            data_roots[recipe] = Path(root)
            scores = per_task_scores(model, root, args.eval_batch_size)
            row = {"seed": seed, "steps": steps, "wall_s": wall, "params": model.num_parameters(), **scores}
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
        cmd = "python benchmarks/ablate_controller.py " + " ".join(
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
        write_results(Path(args.results), rows_out, args.supersede)
        print(f"updated {args.results}; now run `hrmzoo catalog`")
    return {"runs": runs, "report": {r: {m: list(v) for m, v in s.items()} for r, s in report.items()}}


if __name__ == "__main__":
    main()
