"""How big a controller's modulation grows over training, and what it does to the state and the output.

A short training run of any recipe that logs, every `--every` steps, the
mean |modulation| of each controller head (averaged over the segment's hook
calls), the RMS of each recurrent state tensor the segment hands on, the mean
|logit| of the output head, and the loss terms. A controller that rescales
the state shows up as a state RMS far from the blocks' post-norm 1.0 and a
logit scale that runs away from the no-controller model's.

Examples:
    python experiments/controllers/trace_controller.py tom_quaternion --steps 500 --every 25 model.controller.modulation_bound=null model.controller.preserve_rms=false
    python experiments/controllers/trace_controller.py tom_none --steps 300 --every 100
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch

from hrmzoo.train.trainer import Trainer
from recipe_source import recipe_source  # beside this script



def snapshot(step: int, res) -> dict:
    """One log row from a training step's result."""
    out = res.output
    trace = out.diagnostics.get("trace", {})
    losses = {k: float(v) for k, v in res.metrics.items() if k.startswith("loss")}
    return {
        "step": step,
        "loss": {k: round(v, 5) for k, v in sorted(losses.items())},
        "exact": round(float(res.metrics["exact"]), 3),
        "state_rms": {k: round(float(v.float().pow(2).mean().sqrt()), 3) for k, v in out.state.items()},
        "logit_abs_mean": round(float(out.logits.detach().float().abs().mean()), 3),
        "activity": {k: round(float(torch.stack(v).mean()), 4) for k, v in sorted(trace.items())},
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=50, help="log every this many steps (and after step 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--run-dir", default=None, help="where the run's files go (default: a temporary directory)")
    p.add_argument("overrides", nargs="*", help="key=value recipe overrides")
    args = p.parse_intermixed_args(argv)  # overrides may follow the options
    torch.set_num_threads(args.threads)
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="trace_controller-")
    trainer = Trainer(recipe_source(args.recipe), [f"train.steps={args.steps}", f"train.threads={args.threads}", f"train.seed={args.seed}",
                                    "train.progress=false", "train.final_eval=false", *args.overrides], run_dir=run_dir)
    rows: list[dict] = []
    step_once = trainer.train_step

    def logged_step():
        res = step_once()
        if trainer.step == 1 or trainer.step % args.every == 0:
            rows.append(snapshot(trainer.step, res))
            print(json.dumps(rows[-1]), flush=True)
        return res

    trainer.train_step = logged_step
    trainer.run()
    return rows


if __name__ == "__main__":
    main()
