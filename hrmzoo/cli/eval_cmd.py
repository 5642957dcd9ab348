"""`hrmzoo eval RUN_DIR [data=DIR] [key=value ...]`: evaluate a checkpoint.

RUN_DIR is a run directory of `hrmzoo train` or a `.safetensors` file
(`ckpt=RUN_DIR` works too).

Prints exact accuracy per puzzle (the headline), token accuracy, mean segments
used and halting accuracy; a controller activity table when the model reports
one; ARC pass@1/pass@2 with voting when the dataset is ARC. Writes a JSON
report (`out=`, default `RUN_DIR/eval_report.json`; an existing `out=` or
`trace=` file is replaced only with `force=true`, and a read-only run
directory needs `out=` elsewhere).

Options: `split=test`, `batch_size=N`, `limit=N` (first N examples),
`max_segments=N` (budget), `device=auto|cpu|cuda`, `dtype=auto|float32|bfloat16`,
`threads=N` (torch CPU threads; default the recipe's `train.threads`, else torch's),
`trace=FILE` (save the activity table as JSON), `samples=true` (per-sample
records in the report). ARC: `scoring=task|output` (headline rule; both are
reported), `export=DIR` (predictions for the original notebook), `state=DIR`
(finished chunks kept until done, so an interrupted evaluation resumes). `by=NAME` breaks exact
accuracy down by a rating the generator stored per puzzle (`extra__NAME.npy`: Sudoku `backtracks`
or `givens`, maze `path_len`), `buckets=[0,1,2,4,8]` sets the buckets' lower edges
(`hrmzoo.evaluate.buckets`). Other `a.b=v` arguments override the recipe, e.g.
`model.halting.eval_mode=adaptive`.

"unsure" is the share of samples whose halting head did not want to stop where the answer
was taken (they ran to the budget): no confident answer, what an unsolvable input should
get. A run trained with `model.halting.eval_halt_threshold: auto` is evaluated at the value
fitted on its held-out training examples; the value and its rule are printed and reported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hrmzoo.cli.args import positive_int, resolve, split_arguments
from hrmzoo.cli.text import description

KEYS = ("ckpt", "data", "split", "batch_size", "limit", "max_segments", "device", "dtype", "threads", "out", "trace", "samples",
        "scoring", "export", "state", "force", "by", "buckets")


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint (exact accuracy, segments, halting, activity, ARC pass@k)",
                       description=description(__doc__))
    p.add_argument("args", nargs="*", metavar="RUN_DIR [key=value ...]")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.cli.args import check_checkpoint_argument

    named, overrides = split_arguments(args.args, KEYS, "eval", target="ckpt")
    check_checkpoint_argument(named, "eval")  # before torch

    from hrmzoo.common.atomic import write_text_atomic
    from hrmzoo.evaluate import evaluate, format_activity, format_metrics
    from hrmzoo.errors import HrmzooError
    from hrmzoo.evaluate.arc import is_arc_split
    from hrmzoo.evaluate.arc_cli import evaluate_arc, finish_arc

    ctx = resolve(named, overrides, "eval")
    model, ckpt, root, split = ctx["model"], ctx["ckpt"], ctx["root"], ctx["split"]
    out, trace = _outputs(named, ckpt, ctx["out"])  # checked before the evaluation runs

    arc = is_arc_split(root, split)
    ratings = edges = None
    if "by" in named or "buckets" in named:
        from hrmzoo.evaluate.buckets import example_ratings, parse_edges

        if "by" not in named:
            raise HrmzooError("buckets= needs by=NAME (a rating stored per puzzle, e.g. by=backtracks or by=path_len)")
        if arc:
            raise HrmzooError(f"by={named['by']}: ARC splits have no per-puzzle ratings; drop by=")
        ratings = example_ratings(root, split, named["by"])  # before the evaluation: a typo fails at once
        edges = parse_edges(named["buckets"]) if "buckets" in named else None
    want_samples = named.get("samples", "false").lower() in ("1", "true", "yes")
    _note_budget_cap(model, positive_int(named, "max_segments"))
    if arc:
        result, arc_meta, arc_state = evaluate_arc(ctx, named, overrides, positive_int(named, "max_segments"))
    else:
        result = evaluate(model, root, split=split, batch_size=ctx["batch_size"], limit=ctx["limit"],
                          max_segments=positive_int(named, "max_segments"), autocast_dtype=ctx["autocast_dtype"])
    if result.metrics["num_examples"] == 0:
        raise HrmzooError(f"{root / split}: the split has no examples to evaluate; rebuild the dataset or choose another split")
    print(f"{ckpt} on {root} [{split}]: {format_metrics(result.metrics)}")
    report = {"checkpoint": str(ckpt), "data": str(root), "split": split, "overrides": overrides, **result.to_dict(with_samples=want_samples)}
    fitted = _fitted_threshold(model, ckpt)
    if fitted is not None:
        print(fitted[0])
        report["halt_threshold"] = fitted[1]
    if arc:
        report["arc"] = finish_arc(ctx, named, result, arc_meta, arc_state)
        if want_samples:
            report["samples"].pop("predictions", None)
    if ratings is not None:
        from hrmzoo.evaluate.buckets import by_bucket, format_buckets

        rows = by_bucket(result.samples, ratings, edges)
        print(format_buckets(named["by"], rows))
        report["by"] = {"name": named["by"], "buckets": rows}
    if result.activity:
        print(format_activity(result.activity))
        if trace is not None:
            write_text_atomic(trace, json.dumps(result.activity, indent=1))
            print(f"activity: {trace}")
    elif "trace" in named:
        print("activity: the model's controller reports no trace; nothing written")
    write_text_atomic(out, json.dumps(report, indent=1))
    print(f"report: {out}")
    return 0


def _fitted_threshold(model, ckpt: Path) -> tuple[str, dict] | None:
    """The line and record of an `eval_halt_threshold: auto` run: the value used and the rule that chose it."""
    if getattr(model.halting.cfg, "eval_halt_threshold", None) != "auto" or model.halting.fitted_threshold is None:
        return None
    from hrmzoo.persistence.checkpoint import model_file
    from hrmzoo.halting.threshold import fitted_dir, read_fitted

    folder = fitted_dir(model_file(ckpt))
    record = read_fitted(folder) if folder is not None else None
    if record is None:
        return None
    held = record.get("held_out", {})
    line = (f"halt threshold: auto = {record['threshold']:g}, fitted on {held.get('examples', '?')} training examples held out of "
            f"training (not the test split) at budget {record.get('budget')}: held-out exact {100 * record['exact']:.2f}% at "
            f"{record['mean_segments']:.2f} mean segments vs {100 * record['full_budget_exact']:.2f}% at the full budget; "
            f"rule: {record['rule'].split('; candidates')[0]}")
    return line, {k: v for k, v in record.items() if k != "table"}


def _outputs(named: dict[str, str], ckpt: Path, folder: Path) -> tuple[Path, Path | None]:
    """The report and trace paths under the output rule of every command (`hrmzoo.common.paths.check_output_file`);
    the default report beside the checkpoint is hrmzoo's own file and is replaced, but a
    read-only run directory is said to be one, with the way around it."""
    from hrmzoo.common.paths import PathError, check_output_file, check_writable

    force = named.get("force", "false").lower() in ("1", "true", "yes")
    trace = check_output_file(named["trace"], "trace=", force=force, flag="force=true") if "trace" in named else None
    if "out" in named:
        return check_output_file(named["out"], "out=", force=force, flag="force=true"), trace
    out = folder / "eval_report.json"  # the run directory (runs/pretrained-NAME for shipped weights)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        check_writable(out, "out=")
    except (PathError, OSError):
        raise PathError(f"{out.parent}: cannot write the report there (read-only or no permission); nothing was changed, "
                        f"pass out=PATH (e.g. out=/tmp/eval_report.json) to write the report elsewhere") from None
    return out, trace


def _note_budget_cap(model, asked: int | None) -> None:
    """`max_segments=N` only lowers the recipe's budget; say so when N asks for more (it was silently capped)."""
    have = getattr(getattr(model, "halting", None), "max_segments", None)
    if asked is not None and have is not None and asked > have:
        print(f"note: max_segments={asked} is above the recipe's budget of {have} segments, so {have} run; "
              f"to let the model iterate longer, pass model.halting.max_segments={asked}", file=sys.stderr)
