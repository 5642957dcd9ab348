"""Where one training step's time goes, by kind of work (torch.profiler, CPU).

Runs warm-up steps, then profiles `--steps` training steps (`segment_step` + backward +
optimizer step, as `bench_flops.py` times them) and sums the profiler's self time of
every ATen op into categories: GEMMs, the attention kernel, RMSNorm, SwiGLU's
elementwise work, RoPE and the QKV split, residual adds, the optimizer and the rest.
An op is placed by its name (GEMMs, SDPA), else by where it ran: in the forward, the
innermost module (hooks open a profiler range per RmsNorm, SwiGLU, Attention,
TransformerLayer and injection call); in the backward, the autograd node that ran it.
The profiler's clock is wall time, inflated by its own bookkeeping and, on a shared
machine, by waiting; so the table gives each category's share of the profiled self
time and that share of this process's CPU time per step (`--threads 1`).

With `--compile` (the whole model compiled, as `train.compile=true` does) module hooks
would break the graph, so ops are placed by name only: GEMMs, the attention kernel, and
the compiled graphs' own kernels (inductor's fused elementwise work: norms, SwiGLU,
RoPE, residuals), which the profiler shows as `## Call CompiledFxGraph ... ##`.

Examples:
    python benchmarks/speed/profile_step.py --preset tiny --batch-size 64 --threads 1
    python benchmarks/speed/profile_step.py --preset tiny --batch-size 64 --threads 1 --top 30
    python benchmarks/speed/profile_step.py --preset tiny --batch-size 64 --threads 1 --reference-layers
    python benchmarks/speed/profile_step.py --preset tiny --batch-size 64 --threads 1 --compile --warmup 2
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

import common  # noqa: E402

from hrmzoo.layers import fast_layers  # noqa: E402

GEMM = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation"}
SDPA = {"aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
        "aten::_softmax", "aten::_softmax_backward_data"}
COMPILED_GRAPH = "## Call CompiledFxGraph"  # a compiled graph's own kernels (its GEMMs and SDPA are separate ops)
# forward: the innermost module the op ran in; backward: the autograd node that ran it
SCOPES = [
    ("RMSNorm", ("RmsNorm", "RmsNormFunction", "PowBackward", "MeanBackward", "RsqrtBackward")),
    # the reference path's autograd multiplies: RMSNorm's x * r and SwiGLU's silu(a) * b alike
    ("RMSNorm / SwiGLU product backward (MulBackward0)", ("MulBackward0",)),
    ("SwiGLU elementwise (silu, product)", ("SwiGLU", "GluMlp", "SwiGLUProduct", "SiluBackward", "SplitBackward")),
    ("RoPE, QKV split, head layout copies", ("Attention", "_SplitRotateQkv", "_RotateHalves", "StackBackward", "SelectBackward",
                                             "SliceBackward", "UnbindBackward", "PermuteBackward", "UnsafeViewBackward")),
    ("residual adds (layers, injections)", ("TransformerLayer", "AddBackward", "Injection", "AddInjection")),
    ("gradient accumulation", ("AccumulateGrad",)),
]


def categorise(name: str, phase: str, scope: str) -> str:
    """The kind of work of one ATen op from its name, the step phase and its scope."""
    if phase == "optimizer":
        return "optimizer (AdamW step, zero_grad)"
    if name in GEMM:
        return "GEMMs (Linear, LM head, attention bmm)"
    if name in SDPA:
        return "attention kernel (SDPA)"
    if name.startswith(COMPILED_GRAPH):
        return "compiled graphs' fused kernels (norms, SwiGLU, RoPE, residuals)"
    if scope == "TransformerLayer" and name not in ("aten::add", "aten::add_"):
        return "RMSNorm"  # the in-place residual norm (`RmsNorm.add_into_`) runs in the layer's own scope
    for category, keys in SCOPES:
        if any(scope.startswith(k) for k in keys):
            return category
    if phase == "backward":
        return "other backward (loss, halting, embedding, views)"
    return "model outside the blocks (embedding, heads, loss, halting, carry)"


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2, help="profiled training steps")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--top", type=int, default=0, help="also print the N ops with the most self time")
    common.add_reference_layers_arg(p, "profile")
    args = p.parse_args(argv)
    with fast_layers(not args.reference_layers):
        return profile_run(args)


def profile_run(args) -> dict:
    if args.compile_blocks:
        raise SystemExit("profile_step.py profiles the eager step or the whole compiled model (--compile); drop --compile-blocks")
    model, device = common.setup(args)
    from hrmzoo.model.segment_loop import new_carry, segment_step

    cfg = model.cfg
    mlp = next(m for m in model.modules() if hasattr(m, "fc2"))
    inner = mlp.fc2.in_features
    head_dim = cfg.hidden_size // model.l_block.layers[0].attn.num_heads
    forward_model = model.bench_forward if getattr(model, "bench_forward", None) is not None else model
    scoped = ("RmsNorm", "SwiGLU", "Attention", "TransformerLayer")
    for m in model.modules() if not args.compile else ():  # hooks would break a compiled graph
        kind = type(m).__name__
        if kind in scoped or "Injection" in kind:
            m.register_forward_pre_hook(lambda mod, args, kind=kind: mod.__dict__.setdefault("_scope", []).append(
                record_function(f"scope:{kind}").__enter__()))
            m.register_forward_hook(lambda mod, args, out: mod.__dict__["_scope"].pop().__exit__(None, None, None))
    model.train()
    g = torch.Generator().manual_seed(args.seed)
    pool = [common.random_batch(model, args.batch_size, device, g) for _ in range(4)]
    opt = common.make_optimizer(model)
    halt_gen = torch.Generator(device=device).manual_seed(args.seed)
    carry = new_carry(model, pool[0])

    def step(i):
        nonlocal carry
        with record_function("phase:forward"), common.autocast(device, args.dtype):
            carry, res = segment_step(forward_model, carry, pool[i % 4], training=True, generator=halt_gen)
        with record_function("phase:backward"):
            res.loss.backward()
        with record_function("phase:optimizer"):
            opt.step()
            opt.zero_grad(set_to_none=True)

    for i in range(args.warmup):
        step(i)
    cpu0 = time.process_time()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.steps):
            step(args.warmup + i)
    cpu_s = (time.process_time() - cpu0) / args.steps

    # each op's phase and scope: the innermost enclosing range (one thread: the CPU autograd
    # engine runs the backward in the caller's thread, inside `phase:backward`)
    marks = [(e.time_range.start, e.time_range.end, e.name) for e in prof.events()
             if e.name.startswith(("phase:", "scope:", "autograd::engine::evaluate_function: "))]
    ops = [(e.time_range.start, e.name, e.self_cpu_time_total) for e in prof.events() if e.name.startswith(("aten::", COMPILED_GRAPH))]
    marks.sort(key=lambda m: (m[0], -m[1]))
    ops.sort()
    totals: dict[str, float] = collections.Counter()
    per_op: dict[tuple[str, str], float] = collections.Counter()
    open_marks: list[tuple[int, int, str]] = []  # a sweep over start times: the ranges enclosing the op
    j = 0
    for t, name, self_us in ops:
        while j < len(marks) and marks[j][0] <= t:
            open_marks.append(marks[j])
            j += 1
        open_marks = [m for m in open_marks if m[1] >= t]
        phase = next((n.split(":")[1] for _, _, n in reversed(open_marks) if n.startswith("phase:")), "other")
        scope = next((n.split(": ", 1)[1] if n.startswith("autograd") else n.split(":")[1]
                      for _, _, n in reversed(open_marks) if not n.startswith("phase:")), "")
        cat = categorise(name, phase, scope)
        totals[cat] += self_us
        per_op[(cat, f"{name} [{phase}: {scope}]")] += self_us
    all_us = sum(totals.values())
    steps = args.steps
    # the profiler's clock is wall time (inflated by its own bookkeeping and, on a shared
    # machine, by waiting): shares are of its self time, scaled to this process's CPU time
    rows = [[cat, f"{cpu_s * 1e3 * us / all_us:.1f}", f"{100 * us / all_us:.1f}%"] for cat, us in sorted(totals.items(), key=lambda kv: -kv[1])]
    rows.append(["total (CPU time of the profiled steps)", f"{cpu_s * 1e3:.1f}", "100%"])
    common.print_table(f"profile: {model.recipe.name}{' (' + args.preset + ')' if args.preset else ''}, batch {args.batch_size}, "
                       f"{args.dtype}, threads {torch.get_num_threads()}, {'reference' if args.reference_layers else 'fast'} layers"
                       f"{', compiled' if args.compile else ''}",
                       ["category", "CPU ms/step (share x step CPU time)", "share of profiled self time"], rows)
    if args.top:
        top = sorted(per_op.items(), key=lambda kv: -kv[1])[: args.top]
        common.print_table("top ops", ["category", "op [phase: scope]", "CPU ms/step"], [[c, o, f"{cpu_s * 1e3 * us / all_us:.1f}"] for (c, o), us in top])
    record = {"bench": "profile_step", "preset": args.preset, "batch_size": args.batch_size, "dtype": args.dtype,
              "compile": bool(args.compile), "reference_layers": bool(args.reference_layers), "cpu_ms_per_step": cpu_s * 1e3,
              "ms_per_step": {c: cpu_s * 1e3 * us / all_us for c, us in totals.items()},
              "share": {c: us / all_us for c, us in totals.items()}}
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
