"""Turn the halting analyses of issue 30's runs into catalogue rows (mean ± sample std over seeds).

    python experiments/halting/record.py before|after|bce_stress cpu_maze15 RUN_SEED0 RUN_SEED1 RUN_SEED2 [--prior F] [--write]

Each RUN is a run directory holding `halting.json` (`hrmzoo halting RUN noise=0 by=...`), named
`...-<seed>`; `RUN.train.time` beside it (GNU time: "U user S sys E wall") gives the training's
CPU time. `--prior F` adds seeds measured earlier whose run directories are gone: a JSON file
{"seeds": [...], "<metric key>": [...], ...} of the per-seed values as they were recorded.
Without `--write` the rows are printed, not recorded.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from hrmzoo.catalog.record import record_results
from hrmzoo.halting.threshold import read_fitted

LABELS = {
    "before": "issue30 before ({policy}, bce, own rule)",
    "after": "issue30 after (brier + stress + auto threshold)",
    "bce_stress": "issue30 ablation (bce + stress + auto threshold)",
}
# key -> (metric text, unit, scale, digits)
METRICS = {
    "exact_at_halt": ("exact_accuracy at halt, budget {budget}", "%", 100.0, 2),
    "exact_at_max": ("exact_accuracy, every puzzle run {budget} segments", "%", 100.0, 2),
    "mean_segments": ("mean_segments", "segments", 1.0, 2),
    "ece": ("halting ECE (all segments)", None, 1.0, 4),
    "auroc": ("halting AUROC right vs wrong (at halt)", None, 1.0, 4),
    "unsolvable_confident": ("unsolvable inputs halted with confidence > 0.9", "%", 100.0, 2),
}


def per_run(run: Path) -> dict:
    """The figures of one run's halting.json (fractions, not yet scaled)."""
    report = json.loads((run / "halting.json").read_text())
    clean, stress = report["clean"], report.get("stress") or {}
    unsolvable = (stress.get("unsolvable_inputs") or {}).get("confident_halt")
    out = {
        "exact_at_halt": clean["exact_at_halt"],
        "exact_at_max": clean["exact_at_max"],
        "mean_segments": clean["mean_halt_step"],
        "ece": clean["calibration_all_segments"]["ece"],
        "auroc": clean["auroc_at_halt"],
        "unsolvable_confident": unsolvable,
        "budget": report["info"]["max_segments"],
        "policy": report["info"]["halting"],
    }
    fitted = read_fitted(run)
    out["threshold"] = fitted["threshold"] if fitted else None
    timing = run.with_name(run.name + ".train.time")
    if timing.is_file():
        user, sys_ = re.findall(r"([\d.]+) (?:user|sys)", timing.read_text())[:2]
        out["cpu_minutes"] = (float(user) + float(sys_)) / 60
    return out


def seed_of(run: Path) -> int:
    found = re.search(r"(\d+)$", run.name)
    if not found:
        sys.exit(f"record.py: run directory '{run}' does not end in its seed (e.g. maze-before-0); rename it")
    return int(found.group(1))


def rows_for(label: str, recipe: str, runs: list[Path], prior: dict | None, dataset: str, command: str, hardware: str, date: str) -> list[dict]:
    figures = [per_run(r) for r in runs]
    seeds = [seed_of(r) for r in runs]
    budget, policy = figures[0]["budget"], figures[0]["policy"]
    cpu = ", ".join(f"{f['cpu_minutes']:.1f}" if "cpu_minutes" in f else "not recorded" for f in figures)
    thresholds = [f["threshold"] for f in figures if f["threshold"] is not None]
    rows = []
    for key, (text, unit, scale, digits) in METRICS.items():
        values = [f[key] * scale for f in figures if f[key] is not None]
        used = [s for s, f in zip(seeds, figures) if f[key] is not None]
        if prior:
            values = [float(v) for v in prior[key]] + values
            used = list(prior["seeds"]) + used
        if not values:
            continue
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        notes = f"seeds {', '.join(map(str, used))}; per seed {', '.join(f'{v:.{digits}f}' for v in values)}"
        if prior:
            notes += f" (seeds {', '.join(map(str, prior['seeds']))} measured earlier, as recorded then: {prior.get('source', 'see prior file')})"
        notes += f"; training {cpu} CPU-minutes for seeds {', '.join(map(str, seeds))} (process CPU time of hrmzoo train, user+sys, data generation included)"
        if thresholds:
            notes += (f"; fitted thresholds {', '.join(f'{t:.2f}' for t in thresholds)} for seeds {', '.join(map(str, seeds))} "
                      "(on the last 1,000 training examples, held out of training)")
        notes += f"; every number from the halting analysis of the saved (EMA) weights on the test split, budget = the {budget} trained segments"
        row = {"recipe": recipe, "metric": f"{LABELS[label].format(policy=policy)}: {text.format(budget=budget)}",
               "value": round(mean, digits), "std": round(std, digits), "seeds": len(values),
               "dataset": dataset, "command": command, "hardware": hardware, "date": date, "notes": notes}
        if unit:
            row["unit"] = unit
        rows.append(row)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("label", choices=sorted(LABELS))
    p.add_argument("recipe")
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--prior", type=Path, help="JSON of earlier seeds' per-seed values (their runs are gone)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--hardware", required=True)
    p.add_argument("--date", required=True)
    p.add_argument("--write", action="store_true", help="record the rows in registry/ (default: print them)")
    a = p.parse_args(argv)
    for run in a.runs:
        if not (run / "halting.json").is_file():
            sys.exit(f"record.py: {run}/halting.json is missing; run `hrmzoo halting {run} noise=0 by=...` first")
    prior = json.loads(a.prior.read_text()) if a.prior else None
    rows = rows_for(a.label, a.recipe, a.runs, prior, a.dataset, a.command, a.hardware, a.date)
    if a.write:
        print("\n".join(record_results(rows)))
    else:
        for row in rows:
            print(f"{row['metric']}: {row['value']} ± {row['std']} ({row['seeds']} seeds) | {row['notes']}")


if __name__ == "__main__":
    main()
