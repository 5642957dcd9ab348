"""SDPA against the plain matmul form of attention at HRM's small head sizes (the rule of `hrmzoo.layers.attention`).

For each dtype, times (by this process's CPU seconds by default) the forward
without autograd and the forward + backward, median of `--repeats` rounds that
alternate the two kernels, and prints which kernel `hrmzoo.layers.attention`
chooses for each case.

Example:
    python benchmarks/speed/bench_attention.py --threads 1 --batch-size 64 --heads 4 --seq 82 --head-dim 32
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import common  # noqa: E402
from hrmzoo.layers.attention import chosen_kernel, math_attention  # noqa: E402

KERNELS = {"sdpa": F.scaled_dot_product_attention, "math": math_attention}


def time_call(fn, seconds: float) -> float:
    fn()
    n, t0 = 0, common.clock()
    while common.clock() - t0 < seconds:
        fn()
        n += 1
    return (common.clock() - t0) / n


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=82)
    p.add_argument("--head-dim", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=0.5, help="per timing")
    args = p.parse_args(argv)
    common._clock = common.CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = (args.batch_size, args.heads, args.seq, args.head_dim)
    record: dict = {"bench": "attention", "shape": shape, "env": common.environment(torch.device("cpu")), "cases": {}}
    rows = []
    for dtype in ("float32", "bfloat16"):
        dt = common.DTYPES[dtype]
        g = torch.Generator().manual_seed(args.seed)
        q, k, v = (torch.randn(*shape, generator=g).to(dt) for _ in range(3))
        qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
        grad_out = torch.randn(*shape, generator=g).to(dt)
        for mode in ("no-grad forward", "forward + backward"):
            times: dict[str, list[float]] = {name: [] for name in KERNELS}
            for _ in range(args.repeats):
                for name, fn in KERNELS.items():
                    if mode == "no-grad forward":
                        def call(fn=fn):
                            with torch.no_grad():
                                fn(q, k, v)
                    else:
                        def call(fn=fn):
                            fn(qg, kg, vg).backward(grad_out)
                    times[name].append(time_call(call, args.seconds))
            med = {name: statistics.median(t) for name, t in times.items()}
            with torch.set_grad_enabled(mode != "no-grad forward"):
                rule = chosen_kernel(qg, kg, vg) if mode != "no-grad forward" else chosen_kernel(q, k, v)
            record["cases"][f"{dtype}/{mode}"] = {"ms": {n: 1e3 * t for n, t in med.items()}, "rule": rule}
            fastest = min(med, key=med.get)
            rows.append([dtype, mode, f"{1e3 * med['sdpa']:.2f}", f"{1e3 * med['math']:.2f}", fastest, rule])
    common.print_table(f"attention {list(shape)}, threads {torch.get_num_threads()}, clock {args.clock}",
                       ["dtype", "case", "sdpa ms", "math ms", "fastest", "hrmzoo picks"], rows)
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
