"""Evaluation throughput of a trained checkpoint: puzzles/s with fixed and adaptive halting.

Runs `hrmzoo.evaluate.evaluate` on the checkpoint's test split at `--segments`
segments with `eval_mode=max` (every puzzle runs every segment) and
`eval_mode=adaptive` (each puzzle stops at its halting head's decision; halted
puzzles leave the batch), in interleaved rounds, and reports the median
puzzles/s, mean segments and exact accuracy of each. `--compare-chunks` also
times the CPU row chunking of `hrmzoo.model.segment_loop.cpu_chunk_rows` against whole batches.

Example:
    python benchmarks/speed/bench_eval.py RUN_DIR --segments 16 --threads 1 --clock cpu
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import torch  # noqa: E402

import common  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ckpt", help="run directory or model.safetensors")
    p.add_argument("--data", default=None, help="dataset root (default: the recipe's cached data)")
    p.add_argument("--segments", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=None, help="first N test examples")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--clock", choices=sorted(common.CLOCKS), default="wall")
    p.add_argument("--compare-chunks", action="store_true", help="also run without the CPU row chunks")
    args = p.parse_args(argv)
    from hrmzoo.model import segment_loop as loop
    from hrmzoo.persistence.checkpoint import load_model
    from hrmzoo.evaluate.core import evaluate
    from hrmzoo.data.splits import prepare_dataset

    common._clock = common.CLOCKS[args.clock]
    common.tune_cpu_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    seg = [f"model.halting.max_segments={args.segments}"]
    models = {mode: load_model(args.ckpt, [*seg, f"model.halting.eval_mode={mode}"]) for mode in ("max", "adaptive")}
    root = args.data or prepare_dataset(models["max"].recipe, None, progress=False)
    chunk_settings = {"chunks": loop.CPU_CHUNK_TOKENS}
    if args.compare_chunks:
        chunk_settings["whole batches"] = 1 << 40
    results: dict[str, list[dict]] = {}
    default_chunks = loop.CPU_CHUNK_TOKENS
    try:
        for _ in range(args.rounds):
            for label, tokens in chunk_settings.items():
                loop.CPU_CHUNK_TOKENS = tokens
                for mode, model in models.items():
                    t0 = common.clock()
                    res = evaluate(model, root, batch_size=args.batch_size, limit=args.limit, drop_halted=True)
                    elapsed = common.clock() - t0
                    m = res.metrics
                    results.setdefault(f"{mode}/{label}", []).append(
                        {"s": elapsed, "n": m["num_examples"], "segments": m["mean_segments"], "exact": m["exact_accuracy"]})
    finally:
        loop.CPU_CHUNK_TOKENS = default_chunks
    record = {"bench": "eval", "ckpt": str(args.ckpt), "segments": args.segments, "batch_size": args.batch_size,
              "env": common.environment(torch.device("cpu")), "cases": {}}
    rows = []
    for key, runs in results.items():
        rate = statistics.median(r["n"] / r["s"] for r in runs)
        case = {"puzzles_per_s": rate, "puzzles": runs[0]["n"], "mean_segments": runs[0]["segments"],
                "exact_accuracy": runs[0]["exact"], "seconds": [r["s"] for r in runs]}
        record["cases"][key] = case
        mode, label = key.split("/")
        rows.append(["fixed" if mode == "max" else "adaptive", label, f"{rate:.1f}", f"{case['mean_segments']:.2f}",
                     f"{100 * case['exact_accuracy']:.1f}%", str(case["puzzles"])])
    common.print_table(f"eval: {models['max'].recipe.name}, {args.segments} segments, batch {args.batch_size}, "
                       f"threads {torch.get_num_threads()}, clock {args.clock}",
                       ["halting", "rows", "puzzles/s", "mean segments", "exact", "puzzles"], rows)
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
