"""One GPU check: the paper config in bf16, `train.compile` off and on, against the device's own matmul peak.

What it prints (and writes as one `JSON: {...}` line, and to `--out` if given):

- the device's bf16 matmul peak, measured in this process (a square bf16 matmul,
  before and after the training runs);
- for `compile` off and on: training-step time (median), tokens/s, model FLOP/s,
  MFU = achieved / that measured peak (and against the datasheet peak when the
  device is known), peak memory, and the compile time;
- a short loss-curve check: the same steps from the same weights and batches in
  fp32 and in bf16 autocast (eager), and bf16 eager vs bf16 compiled, with the
  largest and mean differences and a PASS/FAIL against stated tolerances.

A training step is the trainer's: `hrmzoo.model.segment_loop.segment_step` (one segment per
slot, Q-learning's extra target forward included) + backward + AdamW, on random
9x9 puzzles (the model's shapes; the data does not change the cost).

Run it on a GPU machine for a few minutes (`benchmarks/gpu/gpu_check.sh` installs the
missing Python packages from local wheels first):

    python benchmarks/gpu/gpu_check.py                      # hrm_sudoku, batch 768, cuda
    python benchmarks/gpu/gpu_check.py --dry-run            # tiny model on the CPU, seconds: checks the script itself
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "speed"))  # bench_flops.py

import torch  # noqa: E402

import common  # noqa: E402
from bench_flops import device_peak  # noqa: E402

DRY_RUN = ["model.hidden_size=32", "model.puzzle_emb_ndim=32", "model.l_block.num_layers=1", "model.h_block.num_layers=1",
           "model.l_block.num_heads=2", "model.h_block.num_heads=2", "model.halting.max_segments=4"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="hrm_sudoku", help="the paper config (hidden 512, 4+4 layers) by default")
    p.add_argument("--batch-size", type=int, default=768)
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=20, help="timed steps per mode")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per mode (the compile happens in the first)")
    p.add_argument("--curve-steps", type=int, default=30, help="steps of the fp32 vs bf16 loss-curve check (0: skip)")
    p.add_argument("--curve-batch-size", type=int, default=None, help="batch of the curve check (default: --batch-size)")
    p.add_argument("--compile", choices=["both", "off", "on"], default="both")
    p.add_argument("--peak-size", type=int, default=8192, help="side of the square bf16 matmul that measures the peak")
    p.add_argument("--peak-seconds", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the JSON record here")
    p.add_argument("--dry-run", action="store_true", help="tiny model, CPU, 2 steps per mode: checks the script, not the GPU")
    p.add_argument("overrides", nargs="*", help="recipe key=value overrides")
    args = p.parse_args(argv)
    if args.dry_run:
        args.device, args.batch_size, args.steps, args.warmup, args.threads = "cpu", 4, 2, 1, args.threads or 1
        args.curve_steps, args.peak_size, args.peak_seconds = min(args.curve_steps, 4), 256, 0.2
        args.overrides = [*DRY_RUN, *args.overrides]
    return args


def build(args, device):
    from hrmzoo import build_model

    return build_model(args.recipe, list(args.overrides), device=device, seed=args.seed)


def run_steps(model, forward_model, device, batches, steps: int, dtype: str, seed: int, timed_from: int = 0) -> dict:
    """`steps` training steps cycling over `batches`; times those from `timed_from` on."""
    from hrmzoo.model.segment_loop import new_carry, segment_step

    model.train()
    opt = common.make_optimizer(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    carry = new_carry(model, batches[0])
    losses, times = [], []
    first_s = None
    for i in range(steps):
        common.sync(device)
        t0 = time.perf_counter()
        with common.autocast(device, dtype):
            carry, res = segment_step(forward_model, carry, batches[i % len(batches)], training=True, generator=gen)
        res.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        common.sync(device)
        elapsed = time.perf_counter() - t0
        if i == 0:
            first_s = elapsed
        if i >= timed_from:
            times.append(elapsed)
        losses.append(float(res.loss.detach()))
    return {"losses": losses, "step_times": times, "first_step_s": first_s}


def curve_gap(a: list[float], b: list[float]) -> dict:
    diffs = [abs(x - y) for x, y in zip(a, b)]
    rel = [d / max(abs(y), 1e-12) for d, y in zip(diffs, b)]
    return {"max_abs": max(diffs), "mean_abs": statistics.mean(diffs), "max_rel": max(rel), "mean_rel": statistics.mean(rel)}


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    from hrmzoo.analysis.flops import BlockCallCounter, step_flops
    from hrmzoo.recipe.build import resolve_device
    from hrmzoo.model.segment_loop import new_carry, segment_step

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the curve check's reference is true fp32, not TF32
        torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(args.seed)
    env = common.environment(device)
    peak_dtype = "bfloat16"
    peaks = [common.matmul_peak(device, peak_dtype, args.peak_size, args.peak_seconds)]
    print(f"device: {env.get('gpu', device)}; torch {torch.__version__}; bf16 matmul peak {common.fmt(peaks[0], 'FLOP/s')} "
          f"({args.peak_size}^3, measured here)", flush=True)

    model = build(args, device)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(args.seed)
    batches = [common.random_batch(model, args.batch_size, device, g) for _ in range(4)]
    with BlockCallCounter(model, args.batch_size) as counter:  # block applications of one step
        with common.autocast(device, "bfloat16"):
            _, res = segment_step(model, new_carry(model, batches[0]), batches[0], training=True,
                                  generator=torch.Generator(device=device).manual_seed(0))
        res.loss.backward()
    model.zero_grad(set_to_none=True)
    flops = step_flops(model, counter.calls, args.batch_size)
    tokens = args.batch_size * model.cfg.seq_len
    record: dict = {"bench": "gpu_check", "recipe": model.recipe.name, "overrides": args.overrides, "batch_size": args.batch_size,
                    "device": str(device), "env": env, "params": model.num_parameters(), "step_flops": flops["total"],
                    "block_calls": counter.calls.calls, "modes": {}, "dry_run": args.dry_run}
    dev_peak = device_peak(env["gpu"]) if device.type == "cuda" else None

    modes = {"both": [False, True], "off": [False], "on": [True]}[args.compile]
    for compiled in modes:
        model.load_state_dict(start)
        forward_model = torch.compile(model) if compiled else model  # what train.compile=true does
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        out = run_steps(model, forward_model, device, batches, args.warmup + args.steps, "bfloat16", args.seed, timed_from=args.warmup)
        step_s = statistics.median(out["step_times"])
        peaks.append(common.matmul_peak(device, peak_dtype, args.peak_size, args.peak_seconds))
        achieved = flops["total"] / step_s
        mode = {
            "compile": compiled, "step_s": step_s, "first_step_s": out["first_step_s"], "tokens_per_s": tokens / step_s,
            "achieved_flops": achieved, "mfu_measured_peak": achieved / statistics.median(peaks),
            "mfu_datasheet": achieved / dev_peak if dev_peak else None,
            "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
            "losses": out["losses"],
        }
        record["modes"]["compile_on" if compiled else "compile_off"] = mode
        mem = f"{mode['peak_memory_bytes'] / 2**30:.2f} GiB" if mode["peak_memory_bytes"] is not None else "n/a (CPU)"
        print(f"bf16, compile {'on ' if compiled else 'off'}: {step_s * 1e3:.1f} ms/step (median of {len(out['step_times'])}), "
              f"{tokens / step_s:,.0f} tokens/s, {common.fmt(achieved, 'FLOP/s')}, MFU {100 * mode['mfu_measured_peak']:.1f}% of the measured "
              f"bf16 matmul peak" + (f" ({100 * mode['mfu_datasheet']:.1f}% of the datasheet's)" if dev_peak else "")
              + f"; peak memory {mem}; first step{' (compiles)' if compiled else ''} {out['first_step_s']:.1f} s", flush=True)
    record["matmul_peak_flops"] = statistics.median(peaks)
    record["matmul_peaks"] = peaks

    checks = {}
    if args.curve_steps > 0:
        cb = args.curve_batch_size or args.batch_size
        cg = torch.Generator().manual_seed(args.seed + 1)
        curve_batches = [common.random_batch(model, cb, device, cg) for _ in range(4)]
        curves = {}
        for dtype in ("float32", "bfloat16"):
            model.load_state_dict(start)
            curves[dtype] = run_steps(model, model, device, curve_batches, args.curve_steps, dtype, args.seed)["losses"]
        gap = curve_gap(curves["bfloat16"], curves["float32"])
        # bf16 rounding moves the loss by well under 1% while the carries agree; halting can then part them
        checks["bf16_vs_fp32"] = {**gap, "tolerance_mean_rel": 0.02, "pass": gap["mean_rel"] <= 0.02, "curves": curves}
        if "compile_on" in record["modes"] and "compile_off" in record["modes"]:
            gap_c = curve_gap(record["modes"]["compile_on"]["losses"], record["modes"]["compile_off"]["losses"])
            checks["compiled_vs_eager_bf16"] = {**gap_c, "tolerance_mean_rel": 0.01, "pass": gap_c["mean_rel"] <= 0.01}
        for name, c in checks.items():
            print(f"loss curves {name}: max |diff| {c['max_abs']:.4g}, mean relative {100 * c['mean_rel']:.3f}% "
                  f"(tolerance {100 * c['tolerance_mean_rel']:.0f}%): {'PASS' if c['pass'] else 'FAIL'}", flush=True)
    record["checks"] = checks
    print(f"bf16 matmul peak over the run: {common.fmt(min(peaks), 'FLOP/s')} - {common.fmt(max(peaks), 'FLOP/s')}; model FLOPs per step "
          f"{common.fmt(flops['total'], 'FLOP')} ({counter.calls.calls})", flush=True)
    common.emit_json(record)
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1, default=str))
    return record


if __name__ == "__main__":
    main()
