"""Model FLOPs per training step and achieved FLOP/s against a same-process matmul peak.

Model FLOPs follow benchmarks/METHOD.md: per token and layer application 2 x layer
parameters + attention 2 x 2 x S x hidden, for every block application the step
runs forward (no-grad cycles and the halting policy's extra forward included)
plus 2x for those it runs backward; the LM head likewise. Applications are
counted by hooks during a real step. The practical peak is a square matmul in
the same dtype whose FLOPs match the model's largest GEMM; efficiency =
achieved / peak. On CUDA the MFU against the device's datasheet bf16 peak is
printed too.

`--dtypes float32,bfloat16` measures both in one run (rounds interleaved, each
dtype against the matmul peak in its own dtype), says whether the CPU has native
bf16 (AVX-512 BF16 or AMX) and, when it has, the bf16 / fp32 step-rate ratio.
`--eval-batches N` adds evaluation throughput (puzzles/s) with the halting
policy's fixed (`eval_mode=max`) and adaptive rules.

Examples:
    python benchmarks/speed/bench_flops.py --preset tiny --batch-size 64
    python benchmarks/speed/bench_flops.py --preset tiny --threads 1 --clock cpu --dtypes float32,bfloat16 --eval-batches 1
    python benchmarks/speed/bench_flops.py --preset tiny --threads 1 --clock cpu --reference-layers  # hrmzoo.layers.fast_layers(False)
    python benchmarks/speed/bench_flops.py --recipe hrm_sudoku --batch-size 768 --device cuda --dtype bfloat16
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import torch  # noqa: E402

import common  # noqa: E402

from hrmzoo.analysis.flops import step_flops  # noqa: E402
from hrmzoo.layers import fast_layers  # noqa: E402

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


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """(whether bf16 matmuls run on native hardware, the evidence) for this device."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ok, f"{torch.cuda.get_device_name(device)}: bf16 {'supported' if ok else 'not supported'}"
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    have = sorted(flags & {"avx512_bf16", "amx_bf16"})
    return bool(have), "CPU flags: " + (", ".join(have) if have else "no avx512_bf16 / amx_bf16")


def measure_dtype(model, device, dtype: str, args, rounds: int) -> dict:
    """Training steps in `dtype` with the matmul peak sampled around each one; `rounds`
    calls so that two dtypes can take turns."""
    size = args.matmul_size or peak_matmul_size(model, args.batch_size)
    sample_s = args.peak_seconds / (args.steps + 1)
    peaks = [common.matmul_peak(device, dtype, size, sample_s)]
    train = common.time_training(
        model, device, dtype, args.batch_size, args.steps, args.warmup if rounds == 0 else 1, seed=args.seed,
        between=lambda: peaks.append(common.matmul_peak(device, dtype, size, sample_s)),
    )
    return {"train": train, "peaks": peaks, "size": size}


def eval_throughput(model, device, dtype: str, batch_size: int, batches: int, segments: int, mode: str, seed: int) -> dict:
    """Puzzles per second of `hrmzoo.evaluate.evaluate` on random puzzles at `segments` segments."""
    from hrmzoo.evaluate.core import evaluate

    g = torch.Generator().manual_seed(seed)
    data = [common.random_batch(model, batch_size, device, g) for _ in range(batches)]
    policy = model.halting
    old_cfg, old_max = policy.cfg, policy.max_segments
    policy.cfg = policy.cfg.model_copy(update={"eval_mode": mode, "max_segments": segments})
    policy.max_segments = segments
    amp = common.DTYPES[dtype] if dtype != "float32" else None
    try:
        evaluate(model, data[:1], batch_size=batch_size, max_segments=1, autocast_dtype=amp)  # warm-up
        common.sync(device)
        t0 = common.clock()
        result = evaluate(model, data, batch_size=batch_size, autocast_dtype=amp, drop_halted=True)
        common.sync(device)
        elapsed = common.clock() - t0
    finally:
        policy.cfg, policy.max_segments = old_cfg, old_max
    n = result.metrics["num_examples"]
    return {"mode": mode, "segments": segments, "puzzles": n, "seconds": elapsed, "puzzles_per_s": n / elapsed,
            "mean_segments": result.metrics["mean_segments"]}


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10, help="timed training steps (per round and dtype)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds over --dtypes")
    p.add_argument("--dtypes", default=None, help="comma list, e.g. float32,bfloat16 (default: --dtype)")
    p.add_argument("--peak-seconds", type=float, default=3.0, help="time spent timing the matmul peak per round")
    p.add_argument("--matmul-size", type=int, default=None, help="side of the square peak matmul (default: like the model's largest GEMM)")
    p.add_argument("--eval-batches", type=int, default=0, help="also time evaluation on this many random batches (0: skip)")
    p.add_argument("--eval-segments", type=int, default=16)
    common.add_reference_layers_arg(p, "time")
    args = p.parse_args(argv)
    with fast_layers(not args.reference_layers):
        return run(args)


def run(args) -> dict:
    dtypes = [d.strip() for d in (args.dtypes or args.dtype).split(",") if d.strip()]
    unknown = [d for d in dtypes if d not in common.DTYPES]
    if unknown:
        raise SystemExit(f"--dtypes: unknown {unknown}; choose from {sorted(common.DTYPES)}")
    model, device = common.setup(args)
    B = args.batch_size
    # every dtype starts from the same weights, so each does the same work
    start = {k: v.clone() for k, v in model.state_dict().items()}
    runs: dict[str, list[dict]] = {d: [] for d in dtypes}
    for r in range(args.rounds):
        for d in dtypes:
            model.load_state_dict(start)
            runs[d].append(measure_dtype(model, device, d, args, r))

    env = common.environment(device)
    native, evidence = native_bf16(device)
    record = {
        "bench": "flops", "recipe": model.recipe.name, "preset": args.preset, "overrides": args.overrides,
        "batch_size": B, "device": str(device), "dtypes": dtypes, "reference_layers": bool(args.reference_layers), "native_bf16": native, "native_bf16_evidence": evidence,
        "env": env, "per_dtype": {},
    }
    rows = []
    for d in dtypes:
        step_times = [t for run in runs[d] for t in run["train"]["step_times"]]
        ratios, peaks = [], []
        for run in runs[d]:
            pk = run["peaks"]
            peaks += pk
            train = run["train"]
            flops = step_flops(model, train["calls"], B)
            ratios += [flops["total"] / t / ((pk[i] + pk[i + 1]) / 2) for i, t in enumerate(train["step_times"])]
        train = runs[d][0]["train"]
        step_s = statistics.median(step_times)
        model_s = statistics.median([run["train"]["model_s"] for run in runs[d]])
        overhead = statistics.median([run["train"]["overhead_frac"] for run in runs[d]])
        peak = statistics.median(peaks)
        rec = {
            "block_calls": train["calls"].calls, "step_flops": flops["total"], "step_forward_flops": flops["forward"],
            "step_backward_flops": flops["backward"], "flops_per_segment": flops["total"] / B,
            "step_s": step_s, "step_times": step_times, "achieved_flops": flops["total"] / step_s,
            "model_only_flops": flops["total"] / model_s, "matmul_size": runs[d][0]["size"], "matmul_peak_flops": peak,
            "matmul_peak_spread": (max(peaks) - min(peaks)) / peak, "efficiency": statistics.median(ratios),
            "efficiency_per_step": ratios, "overhead_frac": overhead,
        }
        record["per_dtype"][d] = rec
        size = rec["matmul_size"]
        rows += [
            [f"[{d}] block applications fwd / bwd", f"{train['calls'].forward} / {train['calls'].backward}  {train['calls'].calls}"],
            [f"[{d}] model FLOPs per step", common.fmt(flops["total"], "FLOP") + f"  (fwd {common.fmt(flops['forward'], 'FLOP')}, bwd {common.fmt(flops['backward'], 'FLOP')})"],
            [f"[{d}] step time", f"{step_s * 1e3:.1f} ms (median of {len(step_times)})  overhead outside the model {100 * overhead:.1f}%"],
            [f"[{d}] achieved", common.fmt(rec["achieved_flops"], "FLOP/s") + f"  (model fwd+bwd only: {common.fmt(rec['model_only_flops'], 'FLOP/s')})"],
            [f"[{d}] matmul peak ({size}x{size})", common.fmt(peak, "FLOP/s") + f"  (median of {len(peaks)}; spread {100 * rec['matmul_peak_spread']:.0f}%)"],
            [f"[{d}] efficiency = achieved / peak", f"{100 * rec['efficiency']:.1f}%  (median over steps of step vs adjacent peak; range {100 * min(ratios):.0f}-{100 * max(ratios):.0f}%)"],
        ]
    # first dtype's figures at the top level, as before
    record.update({k: v for k, v in record["per_dtype"][dtypes[0]].items()})
    record["dtype"] = dtypes[0]
    if "bfloat16" in dtypes:
        line = f"native bf16: {'yes' if native else 'no'} ({evidence})"
        if "float32" in dtypes:
            fp32, bf16 = record["per_dtype"]["float32"], record["per_dtype"]["bfloat16"]
            peak_ratio = bf16["matmul_peak_flops"] / fp32["matmul_peak_flops"]
            record["bf16_matmul_peak_ratio"] = peak_ratio
            if native:
                record["bf16_step_rate_ratio"] = fp32["step_s"] / bf16["step_s"]
                line += f"; bf16 step rate = {record['bf16_step_rate_ratio']:.2f}x fp32 (bf16 matmul peak = {peak_ratio:.2f}x fp32's)"
            else:
                line += "; bf16 / fp32 step-rate ratio not reported (bf16 is emulated here)"
        rows.append(["bf16", line])
    if device.type == "cuda":
        name = env["gpu"]
        dev_peak = device_peak(name)
        achieved = record["achieved_flops"]
        record["achieved_tflops"] = achieved / 1e12
        record["device_bf16_peak_flops"] = dev_peak
        record["mfu"] = achieved / dev_peak if dev_peak else None
        rows.append(["achieved TFLOP/s", f"{achieved / 1e12:.1f}"])
        rows.append([f"MFU vs {name} bf16 datasheet peak", f"{100 * record['mfu']:.1f}%" if dev_peak else "unknown device"])
    if args.eval_batches > 0:
        model.load_state_dict(start)
        record["eval"] = {}
        for d in dtypes:
            for mode in ("max", "adaptive"):
                ev = eval_throughput(model, device, d, B, args.eval_batches, args.eval_segments, mode, args.seed)
                record["eval"][f"{d}/{mode}"] = ev
                label = "fixed" if mode == "max" else "adaptive"
                rows.append([f"[{d}] eval {label}, {ev['segments']} segments", f"{ev['puzzles_per_s']:.2f} puzzles/s ({ev['puzzles']} puzzles, mean segments {ev['mean_segments']:.2f})"])
    common.print_table(
        f"flops: {model.recipe.name}{' (' + args.preset + ')' if args.preset else ''}, batch {B}, {device}, {'+'.join(dtypes)}, threads {env['threads']}",
        ["figure", "value"],
        rows,
    )
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
