"""Turn per-seed tiny-data runs (experiments/tiny_data/run_seed.sh) into catalogue rows: mean ± sample std over seeds.

    python experiments/tiny_data/record.py RECIPE RUN_SEED0 RUN_SEED1 ... --command TEXT --hardware TEXT --date YYYY-MM-DD [--write]

Each RUN is the run directory `run_seed.sh` wrote: `inrange.json` (the recipe's 1,000 test instances,
for logic its 16 status answers, every example run 16 segments, `exact_by_segment` holding budgets
1..16), `beyond.json` (1,000 instances past the training range: logic depth 5-8, listfn 3-primitive
programs, flow 8-9-node networks; budgets 1..32) and `cpu_seconds`. Rows: exact in range at 1, 2,
4, 8, 16 segments and per rating (depth, program length, nodes) at the recipe's own budget; beyond
at 1, 4, 8, 32; CPU-minutes. The family is read from the run's recipe (`data.type`). Runs trained
on another training-set size (`run_seed.sh ... data.num_train=N`) get
metrics named with it (`... (100 train)`), so the size grid's rows sit beside the 1,000 rows.
Without `--write` the rows are printed, not recorded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

from hrmzoo.catalog.record import record_results
from hrmzoo.errors import HrmzooError

IN_RANGE = (1, 2, 4, 8, 16)
BEYOND = (1, 4, 8, 32)
#: family -> the dataset line, the names of the in-range and beyond splits and of a rating's bucket, where a warm-up stage trains
FAMILIES = {
    "logic": {"dataset": "logic (Horn-rule closure, 16 atoms, 16 rule slots): {n:,} train instances of depth 1-4 with 7 atom-renamed variants "
                         "each, every atom mention labelled (label_mentions), distractors a dead chain as deep as the derivation (deep_distractors); "
                         "scored on the 16 status answers of the 1,000 test instances (depth 1-4; none shared with training) and of 1,000 "
                         "instances of depth 5-8 (beyond the training range)",
              "inside": "depth 1-4", "beyond": "depth 5-8", "bucket": "depth {}", "rating": "depth", "warmup": "the depth-1 training instances"},
    "listfn": {"dataset": "listfn (a hidden list program's output on a query, from 3 input/output examples, lists of up to 6 digits): {n:,} "
                          "train instances of 1-2-primitive programs, no augmentation; scored on the 1,000 test instances (2-primitive "
                          "compositions no training program computes) and 1,000 instances of 3-primitive programs (beyond the training range)",
               "inside": "held-out 2-primitive programs", "beyond": "3-primitive programs", "bucket": "{} primitives", "rating": "program length",
               "warmup": "a warm-up split"},
    "flow": {"dataset": "flow (the unique min-cost flow on every edge of a supply network, layout of 9 nodes): {n:,} train networks of 5-7 "
                        "nodes, no augmentation; scored on the 1,000 test networks (5-7 nodes; none shared with training) and 1,000 "
                        "networks of 8-9 nodes (beyond the training range)",
             "inside": "5-7 nodes", "beyond": "8-9 nodes", "bucket": "{} nodes", "rating": "network size", "warmup": "a warm-up split"},
}


def per_seed(run: Path) -> dict:
    missing = [f for f in ("inrange.json", "beyond.json", "cpu_seconds", "recipe.yaml") if not (run / f).is_file()]
    if missing:
        sys.exit(f"record.py: {run} lacks {', '.join(missing)}; run experiments/tiny_data/run_seed.sh for it")
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    warm, start = 0, recipe["train"].get("init_from")
    if start:  # run_seed.sh's stage 1, trained beside the run
        warmup = run.with_name(run.name + "_warmup") / "recipe.yaml"
        if not warmup.is_file():
            sys.exit(f"record.py: {run} started from {start} but {warmup.parent} is not there; "
                     "record runs of experiments/tiny_data/run_seed.sh, which trains the warm-up stage beside the run")
        warm = yaml.safe_load(warmup.read_text())["train"]["steps"]
    inrange, beyond = (json.loads((run / f).read_text()) for f in ("inrange.json", "beyond.json"))
    family = recipe["data"].get("type", "logic")
    if family not in FAMILIES:
        sys.exit(f"record.py: {run} trained on {family} data; this script records {', '.join(FAMILIES)}")
    return {"seed": recipe["train"]["seed"], "steps": (warm, recipe["train"]["steps"]), "budget": recipe["model"]["halting"]["max_segments"],
            "num_train": recipe["data"]["num_train"], "family": family,
            "in": inrange["metrics"]["exact_by_segment"], "beyond": beyond["metrics"]["exact_by_segment"], "by": inrange["by"]["buckets"],
            "cpu_min": float((run / "cpu_seconds").read_text()) / 60}


def segments(k: int) -> str:
    return "1 segment" if k == 1 else f"{k} segments"


def stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def rows_for(recipe: str, seeds: list[dict], command: str, hardware: str, date: str) -> list[dict]:
    if any(len({s[k] for s in seeds}) != 1 for k in ("steps", "budget", "num_train", "family")):
        sys.exit("record.py: the runs differ in steps, segment budget, training-set size or task family; record like with like")
    n, fam = seeds[0]["num_train"], FAMILIES[seeds[0]["family"]]
    size = "" if n == 1000 else f" ({n:,} train)"  # the 1,000 rows keep the names they were recorded under
    warm, steps = seeds[0]["steps"]
    schedule = f"{warm:,} warm-up steps on {fam['warmup']}, then {steps:,} on all" if warm else f"{steps:,} steps"
    base = (f"seeds {', '.join(str(s['seed']) for s in seeds)}; {schedule} per seed; "
            f"trained with {seeds[0]['budget']} segments; saved (EMA) weights")
    common = {"recipe": recipe, "dataset": fam["dataset"].format(n=n), "command": command, "hardware": hardware, "date": date, "seeds": len(seeds)}
    rows = []

    def add(metric: str, values: list[float], unit: str, rule: str, digits: int = 2) -> None:
        mean, std = stats(values)
        rows.append({**common, "metric": metric + size, "value": round(mean, digits), "std": round(std, digits), "unit": unit,
                     "notes": f"{rule}; per seed {', '.join(f'{v:.1f}' for v in values)}; {base}"})

    for k in IN_RANGE:
        add(f"exact_accuracy/{fam['inside']}@{k}seg", [100 * s["in"][k - 1] for s in seeds], "%", f"every example run {segments(k)}")
    k = seeds[0]["budget"]
    for i, bucket in enumerate(seeds[0]["by"]):
        add(f"exact_accuracy/{fam['bucket'].format(bucket['bucket'])}@{k}seg", [100 * s["by"][i]["exact_by_segment"][k - 1] for s in seeds], "%",
            f"{bucket['n']} test instances of this {fam['rating']}, every example run {segments(k)}")
    for k in BEYOND:
        add(f"exact_accuracy/{fam['beyond']}@{k}seg", [100 * s["beyond"][k - 1] for s in seeds], "%",
            f"beyond the training {fam['rating']}; every example run {segments(k)}")
    add("CPU-minutes to train, one thread", [s["cpu_min"] for s in seeds], "min",
        "user + system time of the training processes, warm-up stage included (dataset build and final evaluation included)", digits=1)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe", help="the recipe's name, or its file (the rows are named by the name it holds)")
    p.add_argument("runs", nargs="+", type=Path)
    for flag in ("--command", "--hardware", "--date"):
        p.add_argument(flag, required=True)
    p.add_argument("--write", action="store_true", help="record the rows in registry/ (default: print them)")
    a = p.parse_args(argv)
    name = a.recipe
    if name.endswith((".yaml", ".yml")):  # a file: its rows carry the name inside it, as the catalogue knows it
        from hrmzoo.recipe import load_recipe

        name = load_recipe(name).name
    rows = rows_for(name, [per_seed(r) for r in a.runs], a.command, a.hardware, a.date)
    if not a.write:
        for row in rows:
            print(f"{row['metric']}: {row['value']} ± {row['std']} {row['unit']} ({row['seeds']} seeds) | {row['notes']}")
        return
    try:
        print("\n".join(record_results(rows)))
    except HrmzooError as e:
        raise SystemExit(f"record.py: {e}") from None


if __name__ == "__main__":
    main()
