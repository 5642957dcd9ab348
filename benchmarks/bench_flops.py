"""Model FLOPs per training step and achieved FLOP/s against a same-process matmul peak.

Model FLOPs follow PERFORMANCE.md: per token and layer application 2 x layer
parameters + attention 2 x 2 x S x hidden, for every block application the step
runs forward (no-grad cycles and the halting policy's extra forward included)
plus 2x for those it runs backward; the LM head likewise. Applications are
counted by hooks during a real step. The practical peak is a square matmul in
the same dtype whose FLOPs match the model's largest GEMM; efficiency =
achieved / peak. On CUDA the MFU against the device's datasheet bf16 peak is
printed too.

Examples:
    python benchmarks/bench_flops.py --preset tiny --batch-size 64
    python benchmarks/bench_flops.py --recipe hrm_sudoku --batch-size 768 --device cuda --dtype bfloat16
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import common  # noqa: E402

from hrmzoo.analysis.flops import step_flops  # noqa: E402

# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' datasheets, matched by name.
DEVICE_BF16_PEAK = {
    "H200": 989e12,
    "H100 SXM": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "RTX 4090": 165e12,
    "RTX 4070": 58e12,
}


def device_peak(name: str) -> float | None:
    for key, peak in DEVICE_BF16_PEAK.items():
        if key.lower() in name.lower():
            return peak
    return None


def peak_matmul_size(model, batch_size: int) -> int:
    """Side n of the square matmul whose FLOPs match the model's largest per-layer GEMM
    ([B*S, in] x [in, out] for its widest Linear), rounded to a multiple of 64."""
    tokens = batch_size * model.cfg.total_seq_len
    widest = max(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    n = round((tokens * widest) ** (1 / 3) / 64) * 64
    return int(min(max(n, 256), 8192))


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--peak-seconds", type=float, default=3.0, help="total time spent timing the matmul peak")
    p.add_argument("--matmul-size", type=int, default=None, help="side of the square peak matmul (default: like the model's largest GEMM)")
    args = p.parse_args(argv)
    model, device = common.setup(args)
    B = args.batch_size

    size = args.matmul_size or peak_matmul_size(model, B)
    # On a shared machine the load changes from second to second: sample the matmul
    # peak right before the first step and after every step, and compare each step
    # with the mean of the peaks on either side of it; report the median ratio.
    sample_s = args.peak_seconds / (args.steps + 1)
    peaks = [common.matmul_peak(device, args.dtype, size, sample_s)]
    train = common.time_training(
        model, device, args.dtype, B, args.steps, args.warmup, seed=args.seed,
        between=lambda: peaks.append(common.matmul_peak(device, args.dtype, size, sample_s)),
    )
    flops = step_flops(model, train["calls"], B)
    ratios = [flops["total"] / t / ((peaks[i] + peaks[i + 1]) / 2) for i, t in enumerate(train["step_times"])]
    efficiency = statistics.median(ratios)
    peak = statistics.median(peaks)
    achieved = flops["total"] / train["step_s"]
    model_achieved = flops["total"] / train["model_s"]
    record = {
        "bench": "flops",
        "recipe": model.recipe.name,
        "preset": args.preset,
        "overrides": args.overrides,
        "batch_size": B,
        "device": str(device),
        "dtype": args.dtype,
        "block_calls": train["calls"].calls,
        "step_flops": flops["total"],
        "step_forward_flops": flops["forward"],
        "step_backward_flops": flops["backward"],
        "flops_per_segment": flops["total"] / B,
        "step_s": train["step_s"],
        "achieved_flops": achieved,
        "model_only_flops": model_achieved,
        "matmul_size": size,
        "matmul_peak_flops": peak,
        "matmul_peak_spread": (max(peaks) - min(peaks)) / peak,
        "efficiency": efficiency,
        "efficiency_per_step": ratios,
        "overhead_frac": train["overhead_frac"],
        "env": common.environment(device),
    }
    rows = [
        ["block applications fwd / bwd", f"{train['calls'].forward} / {train['calls'].backward}  {train['calls'].calls}"],
        ["model FLOPs per step", common.fmt(flops["total"], "FLOP") + f"  (fwd {common.fmt(flops['forward'], 'FLOP')}, bwd {common.fmt(flops['backward'], 'FLOP')})"],
        ["model FLOPs per segment", common.fmt(flops["total"] / B, "FLOP")],
        ["step time", f"{train['step_s'] * 1e3:.1f} ms  (overhead outside the model {100 * train['overhead_frac']:.1f}%)"],
        ["achieved", common.fmt(achieved, "FLOP/s") + f"  (model fwd+bwd only: {common.fmt(model_achieved, 'FLOP/s')})"],
        [f"matmul peak ({size}x{size}, {args.dtype})", common.fmt(peak, "FLOP/s") + f"  (median of {len(peaks)}; spread {100 * record['matmul_peak_spread']:.0f}%)"],
        ["efficiency = achieved / peak", f"{100 * efficiency:.1f}%  (median over steps of step vs adjacent peak; range {100 * min(ratios):.0f}-{100 * max(ratios):.0f}%)"],
    ]
    if device.type == "cuda":
        name = common.environment(device)["gpu"]
        dev_peak = device_peak(name)
        record["achieved_tflops"] = achieved / 1e12
        record["device_bf16_peak_flops"] = dev_peak
        record["mfu"] = achieved / dev_peak if dev_peak else None
        rows.append(["achieved TFLOP/s", f"{achieved / 1e12:.1f}"])
        rows.append([f"MFU vs {name} bf16 datasheet peak", f"{100 * record['mfu']:.1f}%" if dev_peak else "unknown device"])
    common.print_table(
        f"flops: {model.recipe.name}{' (' + args.preset + ')' if args.preset else ''}, batch {B}, {device}, {args.dtype}, threads {common.environment(device)['threads']}",
        ["figure", "value"],
        rows,
    )
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
