"""`hrmzoo trace RUN_DIR [index=N | puzzle=FILE] [out=FILE.png]`: watch a model think.

Runs one example through the model's whole segment budget and draws its
prediction after every segment as a strip of grids (Sudoku digits, maze paths,
ARC colours): cells changed since the previous segment are framed, wrong cells
are red, the halting head's confidence is under each frame, and the
controller's per-head activity is plotted under the strip when there is one.

Options: `index=N` (example of the split, default 0), `puzzle=FILE` (a text
Sudoku with `.` for blanks, a `# SG` maze, or an ARC JSON grid, instead of
an example), `split=test`, `data=DIR`, `segments=N` (default: the
budget), `device=`, `threads=N` (default: the recipe's `train.threads`), `out=` (default
`RUN_DIR/trace_<N>.png`). Other
`a.b=v` arguments override the recipe. Needs matplotlib (`hrmzoo[plot]`).
"""

from __future__ import annotations

from pathlib import Path

KEYS = ("ckpt", "data", "split", "index", "puzzle", "segments", "device", "threads", "out")


def add_parser(sub) -> None:
    p = sub.add_parser("trace", help="draw a model's prediction after every segment of one puzzle",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("args", nargs="+", metavar="RUN_DIR [index=N | puzzle=FILE] [key=value ...]")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.cli.args import check_checkpoint_argument, positive_int, resolve, split_arguments
    from hrmzoo.errors import HrmzooError

    items = list(args.args)
    if items and "=" not in items[0]:
        items[0] = f"ckpt={items[0]}"  # the run directory may come first, without ckpt=
    named, overrides = split_arguments(items, KEYS, "trace")
    if "index" in named and "puzzle" in named:
        raise HrmzooError("give index=N or puzzle=FILE, not both")
    check_checkpoint_argument(named, "trace")  # before torch

    import torch

    from hrmzoo.analysis.trace import TraceError, dataset_kind, draw_trace, parse_puzzle_file, trace_example
    from hrmzoo.data.splits import open_split
    named.setdefault("dtype", "float32")
    ctx = resolve(named, overrides, "trace")
    model, root, split, device = ctx["model"], ctx["root"], ctx["split"], ctx["device"]
    if "puzzle" in named:
        kind = dataset_kind(root, 0)
        tokens = parse_puzzle_file(named["puzzle"], kind, model.cfg.seq_len)
        batch = {"inputs": torch.as_tensor(tokens)[None]}
        title, stem = f"{ctx['ckpt']} on {named['puzzle']}", f"trace_{Path(named['puzzle']).stem}"
    else:
        index = int(named.get("index", 0))
        data = open_split(root, split)
        if not 0 <= index < len(data):
            raise TraceError(f"index={index}: the {split} split of {root} has examples 0..{len(data) - 1}")
        batch = data.get_batch([index])
        task = int(batch["task_id"][0]) if "task_id" in batch else None
        kind = dataset_kind(root, task)
        title, stem = f"{ctx['ckpt']}: {split} example {index}", f"trace_{index}"
    batch = {k: v.to(device) for k, v in batch.items()}
    trace = trace_example(model, batch, kind=kind, title=title, segments=positive_int(named, "segments"))
    out = Path(named["out"]) if "out" in named else ctx["out"] / f"{stem}.png"
    out.parent.mkdir(parents=True, exist_ok=True)  # runs/pretrained-NAME for shipped weights
    draw_trace(trace, out)
    marks = ", ".join(f"{t + 1}: {n}" for t, n in enumerate(trace.changed))
    print(f"segments {trace.segments}; cells changed per segment {marks}"
          + ("" if trace.exact is None else f"; exact after segment: {''.join('y' if e else 'n' for e in trace.exact)}"))
    print(f"trace: {out}")
    return 0
