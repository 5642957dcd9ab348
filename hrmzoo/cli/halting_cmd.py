"""`hrmzoo halting RUN_DIR [data=DIR] [noise=0.1]`: halting analysis of a trained model.

Runs every sample to the segment budget with adaptive halting noted, and
reports the distribution of halt steps, accuracy by halt step, calibration of
the halt confidence sigmoid(q_halt) against being exactly right (reliability
diagram, ECE), the rate of stopping too early (halted while wrong, right
later) and of overthinking (right earlier, still running); then the same with
a `noise` fraction of the givens randomly corrupted. Writes
`halting.json` and `halting.png` (needs matplotlib) to `out=` (default:
the run directory).

Also tabulates, per halt threshold, the accuracy and mean segments if each
sample halted at its first segment with confidence above it (evaluate at
one with `model.halting.eval_halt_threshold=T`).

Adds (issue 30) the risk-coverage curve and its area, the AUROC of the halt
confidence for right vs wrong answers, mean segments per difficulty bucket
(`by=givens`, `by=backtracks`, `by=path_len`: a rating the generator stored;
`buckets=[...]` lower edges), and all of it again on a stress split: a
`stress_unsolvable` share of the inputs made unsolvable (default 0.5 for Sudoku
and maze, `hrmzoo.data.stress`; 0: none) and a `stress_corrupt` share with
corrupted givens (default 0), with the share of unsolvable inputs halted with
confidence > 0.9. A run trained with `eval_halt_threshold: auto` is analysed
under its fitted threshold.

Options: `noise=0.1` (0: clean only), `max_segments=N`, `seed=0`,
`thresholds=[0.5,0.7,0.9,0.95,0.99]`, `split=test`, `batch_size=N`,
`limit=N`, `device=`, `dtype=`, `threads=N`; other `a.b=v` arguments override the recipe.
"""

from __future__ import annotations

import json

from hrmzoo.cli.text import description
from hrmzoo.errors import HrmzooError

KEYS = ("noise", "max_segments", "seed", "thresholds", "by", "buckets", "stress_unsolvable", "stress_corrupt")


def add_parser(sub) -> None:
    p = sub.add_parser("halting", help="halting analysis: halt steps, calibration (ECE), early stops, overthinking, noise",
                       description=description(__doc__))
    p.add_argument("args", nargs="*", metavar="RUN_DIR [key=value ...]")
    p.set_defaults(run=run)


def parse_thresholds(text: str | None) -> tuple[float, ...]:
    """`thresholds=[0.5,0.9]` or `thresholds=0.5,0.9` -> (0.5, 0.9); None -> the defaults."""
    from hrmzoo.analysis.halting import THRESHOLDS

    if text is None:
        return THRESHOLDS
    try:
        values = tuple(float(v) for v in text.strip().strip("[]").split(",") if v.strip())
    except ValueError:
        raise HrmzooError(f"thresholds={text}: a list of halt confidences in (0, 1), e.g. thresholds=[0.5,0.9,0.99]") from None
    if not values:
        raise HrmzooError("thresholds= is empty; give halt confidences in (0, 1), e.g. thresholds=[0.5,0.9,0.99]")
    return values


def run(args) -> int:
    from hrmzoo.cli.args import COMMON_KEYS, check_checkpoint_argument, positive_int, resolve, split_arguments

    named, overrides = split_arguments(args.args, COMMON_KEYS + KEYS, "halting", target="ckpt")
    check_checkpoint_argument(named, "halting")  # before torch

    from hrmzoo.analysis.halting import analyze_halting, format_halting
    from hrmzoo.analysis.plot import plot_halting

    ctx = resolve(named, overrides, "halting")
    try:
        noise = float(named.get("noise", "0.1"))
        seed = int(named.get("seed", "0"))
    except ValueError:
        raise HrmzooError("noise= takes a fraction (e.g. 0.1) and seed= an integer") from None
    thresholds = parse_thresholds(named.get("thresholds"))
    try:
        unsolvable = float(named["stress_unsolvable"]) if "stress_unsolvable" in named else None
        corrupt = float(named.get("stress_corrupt", "0"))
    except ValueError:
        raise HrmzooError("stress_unsolvable= and stress_corrupt= take shares in [0, 1] (e.g. stress_unsolvable=0.5)") from None
    for name, value in (("stress_unsolvable", unsolvable), ("stress_corrupt", corrupt)):
        if value is not None and not 0 <= value <= 1:
            raise HrmzooError(f"{name}={value}: a share of the test inputs in [0, 1]")
    if unsolvable is not None and unsolvable + corrupt > 1:
        raise HrmzooError(f"stress_unsolvable={unsolvable} + stress_corrupt={corrupt} is more than every input; keep the sum <= 1")
    buckets = None
    if "buckets" in named:
        from hrmzoo.evaluate.buckets import parse_edges

        if "by" not in named:
            raise HrmzooError("buckets= needs by=NAME (a rating stored per puzzle, e.g. by=givens or by=path_len)")
        buckets = parse_edges(named["buckets"])
    report = analyze_halting(ctx["ckpt"], ctx["root"], noise=noise, overrides=overrides, split=ctx["split"],
                             batch_size=ctx["batch_size"], limit=ctx["limit"], max_segments=positive_int(named, "max_segments"),
                             device=ctx["device"], autocast_dtype=ctx["autocast_dtype"], seed=seed, thresholds=thresholds,
                             by=named.get("by"), buckets=buckets, stress_unsolvable=unsolvable, stress_corrupt=corrupt)
    report.info.update(data=str(ctx["root"]), split=ctx["split"], overrides=overrides)
    print(format_halting(report))
    out = ctx["out"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "halting.json").write_text(json.dumps(report.to_dict(), indent=1))
    png = plot_halting(report, out / "halting.png")
    print(f"report: {out / 'halting.json'}" + (f", plot: {png}" if png else " (install matplotlib for the plot)"))
    print("JSON: " + json.dumps(report.to_dict()))
    return 0
