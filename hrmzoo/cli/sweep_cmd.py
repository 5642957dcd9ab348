"""`hrmzoo sweep RUN_DIR l_cycles=[1,2,4,8] segments=[1,2,4,8,16] [data=DIR]`: inference-budget sweep.

Evaluates a trained model under other compute budgets without retraining: the
coupling's inner cycles (`l_cycles`; `n_cycles` for TRM) and the halting
`max_segments` are overridden at load. Prints a table of exact accuracy by
inner cycles and segment budget (fixed budget, and adaptive halting capped at
the budget where the model has a halting head), with forward FLOPs per sample;
writes `sweep.json` and `sweep.png` (accuracy against compute; needs
matplotlib) to `out=` (default: the run directory).

Options: `split=test`, `batch_size=N`, `limit=N`, `device=`, `dtype=`, `threads=N`;
other `a.b=v` arguments override the recipe.
"""

from __future__ import annotations

import json
import sys

from hrmzoo.cli.text import description

KEYS = ("l_cycles", "segments")


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="accuracy of a checkpoint under other inner-cycle and segment budgets (table, JSON, PNG)",
                       description=description(__doc__))
    p.add_argument("args", nargs="*", metavar="RUN_DIR [key=value ...]")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.cli.args import COMMON_KEYS, check_checkpoint_argument, int_list, resolve, split_arguments

    named, overrides = split_arguments(args.args, COMMON_KEYS + KEYS, "sweep", target="ckpt")
    check_checkpoint_argument(named, "sweep")  # before torch

    from hrmzoo.analysis.plot import plot_sweep
    from hrmzoo.analysis.sweep import format_sweep, run_sweep

    ctx = resolve(named, overrides, "sweep")
    l_cycles = int_list(named, "l_cycles", [1, 2, 4, 8])
    segments = int_list(named, "segments", [1, 2, 4, 8, 16])
    result = run_sweep(ctx["ckpt"], ctx["root"], l_cycles=l_cycles, segments=segments, overrides=overrides, split=ctx["split"],
                       batch_size=ctx["batch_size"], limit=ctx["limit"], device=ctx["device"], autocast_dtype=ctx["autocast_dtype"],
                       progress=lambda line: print(line, file=sys.stderr))
    result.info.update(data=str(ctx["root"]), split=ctx["split"], overrides=overrides)
    print(format_sweep(result))
    out = ctx["out"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result.to_dict(), indent=1))
    png = plot_sweep(result, out / "sweep.png")
    print(f"report: {out / 'sweep.json'}" + (f", plot: {png}" if png else " (install matplotlib for the plot)"))
    print("JSON: " + json.dumps(result.to_dict()))
    return 0
