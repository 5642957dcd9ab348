"""Turn issue 32's per-seed runs into catalogue rows (mean ± sample std over seeds).

    python experiments/hard_tasks/record.py RECIPE OUT_SEED0 OUT_SEED1 OUT_SEED2 --by NAME
        --dataset TEXT --command TEXT --hardware TEXT --date YYYY-MM-DD [--retire-smoke WHY] [--write]

Each OUT is the `out=` folder of one `tools/time_compare.py RECIPE "seeds=[S]" threads=1 out=OUT`
(its `measure.json` holds the training's CPU time); inside it, `RECIPE-seedS/compare_eval.json`
holds the fixed/adaptive accuracies at 1/2/4/8/16 segments and `RECIPE-seedS/eval_by.json` the
by-difficulty evaluation (`hrmzoo eval RUN by=NAME model.halting.max_segments=32 max_segments=32
out=RUN/eval_by.json`): its buckets at 16 and 32 segments, and every example run 32 segments.
The CPU-minutes add the warm start's own training (`train.init_from: pretrained:NAME`: its card's
`train_cpu_s`). `--retire-smoke` moves the recipe's earlier SMOKE rows to the history with that
reason. Without `--write` the rows are printed, not recorded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

from hrmzoo.catalog.record import record_results, retire_results
from hrmzoo.persistence.hub import card

BUDGETS = ("1", "2", "4", "8", "16")


def per_seed(recipe: str, out: Path) -> dict:
    runs = sorted(out.glob(f"{recipe}-seed*"))
    if len(runs) != 1:
        sys.exit(f"record.py: expected one {recipe}-seedS run in {out}, found {len(runs)}")
    run = runs[0]
    evaluation = json.loads((run / "compare_eval.json").read_text())
    by_file = run / "eval_by.json"
    if not by_file.is_file():
        sys.exit(f"record.py: {by_file} is missing; run hrmzoo eval {run} by=NAME max_segments=16 out={by_file}")
    by = json.loads(by_file.read_text())
    timing = next((t for t in json.loads((out / "measure.json").read_text())["timings"]
                   if Path(t["run_dir"]).resolve() == run.resolve()), None)
    if timing is None:
        sys.exit(f"record.py: {out}/measure.json has no timing for {run}")
    recipe_yaml = yaml.safe_load((run / "recipe.yaml").read_text())
    source = recipe_yaml["train"].get("init_from")
    source_cpu = float(card(source)["train_cpu_s"]) if source and source.startswith("pretrained:") else 0.0
    return {"seed": evaluation["seed"], "steps": evaluation["steps"], "fixed": evaluation["fixed"], "adaptive": evaluation["adaptive"],
            "mean_halt": evaluation["mean_halt"], "examples": evaluation["examples"], "by": by["by"], "by_budget": by["metrics"]["max_segments"],
            "by_exact": by["metrics"]["exact_by_segment"], "by_examples": by["metrics"]["num_examples"],
            "train_cpu_min": timing["train_cpu_s"] / 60, "source": source, "source_cpu_min": source_cpu / 60}


def stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def rows_for(recipe: str, seeds: list[dict], dataset: str, command: str, hardware: str, date: str) -> list[dict]:
    ids = ", ".join(str(s["seed"]) for s in seeds)
    cpu = ", ".join(f"{s['train_cpu_min']:.1f}" for s in seeds)
    warm = (f" after a warm start from {seeds[0]['source']} ({seeds[0]['source_cpu_min']:.1f} CPU-min on its card, not re-run;"
            " every seed starts from the same weights, so the seeds vary data order and exploration only)") if seeds[0]["source"] else ""
    base = f"seeds {ids}; {seeds[0]['steps']:,} steps per seed; training {cpu} CPU-min per seed{warm}; saved (EMA) weights, {seeds[0]['examples']} test examples"
    common = {"recipe": recipe, "dataset": dataset, "command": command, "hardware": hardware, "date": date}
    rows = []
    for mode in ("fixed", "adaptive"):
        for k in BUDGETS:
            values = [s[mode][k] for s in seeds]
            mean, std = stats(values)
            rule = "every example run k segments" if mode == "fixed" else "each example stops where its halting head says (at most k)"
            rows.append({**common, "metric": f"exact_accuracy/{mode}@{k}seg", "value": round(mean, 2), "std": round(std, 2),
                         "seeds": len(seeds), "unit": "%", "notes": f"{rule}; per seed {', '.join(f'{v:.1f}' for v in values)}; {base}"})
    name, top = seeds[0]["by"]["name"], min(s["by_budget"] for s in seeds)
    for budget in [b for b in (16, 32) if b <= top]:
        if budget > int(BUDGETS[-1]):  # past compare's budgets: the whole test split from the by-difficulty evaluation
            values = [100.0 * s["by_exact"][budget - 1] for s in seeds]
            mean, std = stats(values)
            rows.append({**common, "metric": f"exact_accuracy/fixed@{budget}seg", "value": round(mean, 2), "std": round(std, 2), "seeds": len(seeds),
                         "unit": "%", "notes": f"every example run {budget} segments (hrmzoo eval by={name} max_segments={budget}, "
                                               f"{seeds[0]['by_examples']} test examples); per seed {', '.join(f'{v:.1f}' for v in values)}; {base}"})
        for i, bucket in enumerate(seeds[0]["by"]["buckets"]):
            values = [100.0 * s["by"]["buckets"][i]["exact_by_segment"][budget - 1] for s in seeds]
            counts = {s["by"]["buckets"][i]["n"] for s in seeds}
            mean, std = stats(values)
            rows.append({**common, "metric": f"exact_accuracy@{budget}seg, {name} {bucket['bucket']}", "value": round(mean, 2), "std": round(std, 2),
                         "seeds": len(seeds), "unit": "%",
                         "notes": f"{'/'.join(map(str, sorted(counts)))} test examples in this bucket; every example run {budget} segments; per seed {', '.join(f'{v:.1f}' for v in values)}; {base}"})
    total = [s["train_cpu_min"] + s["source_cpu_min"] for s in seeds]
    mean, std = stats(total)
    rows.append({**common, "metric": "CPU-minutes to train, one thread (warm start's source included)", "value": round(mean, 1), "std": round(std, 1),
                 "seeds": len(seeds), "unit": "min",
                 "notes": f"process CPU time of the training loop (time_compare.py's measure.json) plus the source weights' card figure; per seed {', '.join(f'{v:.1f}' for v in total)}; {base}"})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe")
    p.add_argument("outs", nargs="+", type=Path)
    for flag in ("--dataset", "--command", "--hardware", "--date"):
        p.add_argument(flag, required=True)
    p.add_argument("--retire-smoke", metavar="WHY", help="move this recipe's SMOKE rows to the history, with this reason")
    p.add_argument("--write", action="store_true", help="record the rows in registry/ (default: print them)")
    a = p.parse_args(argv)
    seeds = [per_seed(a.recipe, out) for out in a.outs]
    rows = rows_for(a.recipe, seeds, a.dataset, a.command, a.hardware, a.date)
    if not a.write:
        for row in rows:
            print(f"{row['metric']}: {row['value']} ± {row['std']} {row['unit']} ({row['seeds']} seeds) | {row['notes']}")
        return
    if a.retire_smoke:
        from hrmzoo.catalog import REGISTRY_DIR, RESULTS_SOURCE

        current = yaml.safe_load((REGISTRY_DIR / RESULTS_SOURCE).read_text())["results"]
        smoke = [(r["recipe"], r["metric"]) for r in current if r["recipe"] == a.recipe and r["metric"].startswith("SMOKE")]
        if smoke:
            retire_results(smoke, a.retire_smoke)
    print("\n".join(record_results(rows)))


if __name__ == "__main__":
    main()
