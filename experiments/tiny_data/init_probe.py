"""Probe a recipe's first training steps under several seeds and name the seed whose training loss fell
furthest: a failing seed of `cpu_logic` is slow from its first few hundred steps (README, "The seed's
fate is in its initial weights"), so a short probe can pick the seed before the full run pays for it.

    python experiments/tiny_data/init_probe.py cpu_logic_warmup --seeds 0 1 2 3 --steps 300 [--set KEY=VALUE ...]

Each seed trains `--steps` steps of the recipe exactly as `hrmzoo train` would (same initialisation,
batches and learning-rate schedule over the recipe's full `train.steps`, so the probe is the first part
of the full run), in a throwaway run folder; the score is the mean training loss over the last
`--window` steps. It reads training batches only, and its CPU time is printed so a result that uses it
can count it. Prints one JSON line per seed, then one with the chosen seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hrmzoo.train.trainer import Trainer


def probe(recipe: str, seed: int, steps: int, window: int, overrides: list[str], folder: Path) -> dict:
    t0 = time.process_time()
    trainer = Trainer(recipe, [*overrides, f"train.seed={seed}", "train.threads=1", "train.progress=false"], run_dir=folder / f"seed{seed}")
    try:
        if steps > trainer.total_steps:
            sys.exit(f"init_probe.py: --steps {steps} is past the recipe's {trainer.total_steps} training steps")
        losses = []
        while trainer.step < steps:
            losses.append(float(trainer.train_step().metrics["loss"]))
    finally:
        trainer.close()
    tail = losses[-window:]
    return {"seed": seed, "steps": steps, "loss": sum(tail) / len(tail), "cpu_s": round(time.process_time() - t0, 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=300, help="training steps per seed (default 300)")
    ap.add_argument("--window", type=int, help="the score: mean loss over this many last steps (default: 100, or --steps if fewer)")
    ap.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE", help="recipe overrides, as the full run gets them")
    args = ap.parse_args(argv)
    args.window = args.window or min(100, args.steps)
    if not 1 <= args.window <= args.steps:
        ap.error(f"--window must be between 1 and --steps ({args.steps})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="init_probe-") as tmp:
        for seed in args.seeds:
            rows.append(probe(args.recipe, seed, args.steps, args.window, args.overrides, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    best = min(rows, key=lambda r: r["loss"])
    print(json.dumps({"chosen_seed": best["seed"], "loss": best["loss"], "probe_cpu_s": round(sum(r["cpu_s"] for r in rows), 1)}))


if __name__ == "__main__":
    main()
