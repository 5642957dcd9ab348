"""`hrmzoo plot RUN_DIR [RUN_DIR ...] [out=FILE]`: training curves of one or more runs.

Draws loss, exact accuracy and segments used against the step, and exact
accuracy by segment at the end, from each run's `metrics.jsonl`; several runs
overlay with a legend. Writes `FILE.png` and `FILE.svg` (default
`RUN_DIR/curves` for one run, `./curves` for several). Needs matplotlib
(`pip install 'hrmzoo[plot]'`).
"""

from __future__ import annotations

from pathlib import Path

KEYS = ("out",)


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="plot training curves of one or more runs (PNG and SVG)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("args", nargs="+", metavar="RUN_DIR [RUN_DIR ...] [out=FILE]")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.analysis.plot_runs import plot_runs
    from hrmzoo.errors import HrmzooError

    run_dirs, named = [], {}
    for item in args.args:
        key, sep, value = item.partition("=")
        if sep and key in KEYS:
            if not value:
                raise HrmzooError(f"'{item}': {key}= needs a value")
            named[key] = value
        elif sep and not Path(item).exists():
            raise HrmzooError(f"'{item}': unknown option; hrmzoo plot takes run directories and out=FILE")
        else:
            run_dirs.append(item)
    if not run_dirs:
        raise HrmzooError("give at least one run directory, e.g. hrmzoo plot runs/tiny_sudoku4-...")
    default = Path(run_dirs[0]) / "curves" if len(run_dirs) == 1 else Path("curves")
    result = plot_runs(run_dirs, named.get("out", default))
    for path in result.paths:
        print(f"plot: {path}")
    return 0
