"""Training and inference throughput of a recipe at one batch size.

Training: `hrmzoo.model.segment_loop.segment_step` (one segment for every slot, the halting
policy's loss and extra forward included) + backward + an AdamW step.
Inference: every sample runs `max_segments` segments.

Examples:
    python benchmarks/speed/bench_throughput.py --preset tiny --batch-size 64
    python benchmarks/speed/bench_throughput.py --recipe hrm_sudoku --batch-size 768 --device cuda --dtype bfloat16
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import common  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--infer-repeats", type=int, default=2, help="timed inference passes (0: skip inference)")
    args = p.parse_args(argv)
    model, device = common.setup(args)
    B = args.batch_size
    cfg = model.cfg

    train = common.time_training(model, device, args.dtype, B, args.steps, args.warmup, seed=args.seed)
    record = {
        "bench": "throughput",
        "recipe": model.recipe.name,
        "preset": args.preset,
        "overrides": args.overrides,
        "batch_size": B,
        "device": str(device),
        "dtype": args.dtype,
        "params": model.num_parameters(),
        "train_step_s": train["step_s"],
        "train_steps_per_s": 1 / train["step_s"],
        "train_segments_per_s": B / train["step_s"],
        "train_tokens_per_s": B * cfg.seq_len / train["step_s"],
        "train_phase_s": train["phase_s"],
        "train_model_s": train["model_s"],
        "overhead_frac": train["overhead_frac"],
        "env": common.environment(device),
    }
    rows = [
        ["train", f"{train['step_s'] * 1e3:.1f} ms/step", f"{B / train['step_s']:.1f}", common.fmt(B * cfg.seq_len / train["step_s"], "tok/s")],
    ]
    if args.infer_repeats > 0:
        inf = common.time_inference(model, device, args.dtype, B, args.infer_repeats, seed=args.seed)
        seg_rate = B * inf["segments"] / inf["pass_s"]
        record.update(
            infer_pass_s=inf["pass_s"],
            infer_segments=inf["segments"],
            infer_segments_per_s=seg_rate,
            infer_tokens_per_s=seg_rate * cfg.seq_len,
            infer_samples_per_s=B / inf["pass_s"],
        )
        rows.append(["infer", f"{inf['pass_s'] * 1e3:.1f} ms/pass ({inf['segments']} seg)", f"{seg_rate:.1f}", common.fmt(seg_rate * cfg.seq_len, "tok/s")])
    common.print_table(
        f"throughput: {model.recipe.name}{' (' + args.preset + ')' if args.preset else ''}, batch {B}, {device}, {args.dtype}, {model.num_parameters():,} params",
        ["mode", "time", "segments/s", "tokens/s"],
        rows,
    )
    phases = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in train["phase_s"].items())
    print(f"train phases: {phases}; model fwd+bwd {train['model_s'] * 1e3:.1f} ms; overhead outside the model {100 * train['overhead_frac']:.1f}%")
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
