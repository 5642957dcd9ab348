"""Shared plumbing of the benchmark scripts: arguments, model and batch set-up, timing, output.

Every script prints a human table and then one line `JSON: {...}` with the
same figures, so results can be collected by a machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from typing import Iterable

import torch

from hrmzoo import build_model
from hrmzoo.analysis import compare
from hrmzoo.recipe.build import resolve_device

# benchmarks/METHOD.md's "tiny config": HRM, hidden 128, 4 heads, 2+2 layers, H=L=2, Sudoku 9x9, Q-learning halting.
PRESETS: dict[str, tuple[str, list[str]]] = {
    "tiny": (
        "hrm_sudoku",
        [
            "model.hidden_size=128",
            "model.puzzle_emb_ndim=128",
            "model.l_block.num_layers=2",
            "model.l_block.num_heads=4",
            "model.h_block.num_layers=2",
            "model.h_block.num_heads=4",
        ],
    ),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def clock() -> float:
    """The benchmark clock: wall time, or this process's CPU time (`--clock cpu`)."""
    return _clock()


def add_reference_layers_arg(p: argparse.ArgumentParser, verb: str) -> None:
    """`--reference-layers`: A/B the layers' fast path against their reference path in one tree."""
    p.add_argument("--reference-layers", action="store_true",
                   help=f"{verb} the layers' reference path (hrmzoo.layers.fast_layers(False): no in-place no-grad work, autograd's own backwards)")


def base_parser(description: str, *, batch_size: int = 64, recipe: str = "hrm_sudoku") -> argparse.ArgumentParser:
    """Arguments every benchmark takes; `overrides` are recipe `key=value` strings."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--recipe", default=recipe, help="recipe path or shipped name")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named recipe + overrides (replaces --recipe)")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="bfloat16 = autocast, weights stay fp32")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compile", action="store_true", help="torch.compile the whole model, as train.compile=true does (training steps only)")
    p.add_argument("--compile-blocks", action="store_true", help="torch.compile only the L/H blocks in place (hrmzoo.blocks.compile_blocks)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="cpu: time by this process's CPU seconds (robust on a shared machine; use with --threads 1)")
    p.add_argument("--malloc", choices=["tuned", "default"], default="tuned",
                   help="tuned: keep freed memory mapped (glibc mallopt) so CPU activations do not page-fault on every allocation")
    p.add_argument("overrides", nargs="*", help="recipe key=value overrides")
    return p


def tune_cpu_allocator(keep_bytes: int = 1 << 30) -> bool:
    """The trainer's CPU allocator setting (`hrmzoo.train.host.tune_cpu_allocator`)."""
    from hrmzoo.train.host import tune_cpu_allocator as tune

    return tune(keep_bytes)


def setup(args) -> tuple[torch.nn.Module, torch.device]:
    """Seed, set threads and build the model the arguments describe (fp32 weights)."""
    global _clock
    torch.manual_seed(args.seed)
    _clock = CLOCKS[getattr(args, "clock", "wall")]
    if getattr(args, "malloc", "default") == "tuned":
        tune_cpu_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe, overrides = args.recipe, list(args.overrides)
    if getattr(args, "preset", None):
        recipe, preset = PRESETS[args.preset]
        overrides = [*preset, *overrides]
    device = resolve_device(args.device)
    if device.type == "cuda" and _clock is time.process_time:
        raise SystemExit("--clock cpu measures host CPU time; use --clock wall on CUDA")
    model = build_model(recipe, overrides, device=device, seed=args.seed)
    if getattr(args, "compile_blocks", False):
        from hrmzoo.blocks import compile_blocks

        compile_blocks(model)
    # the trainer's train.compile: the whole segment compiled, called through the wrapper
    # (kept out of the module tree: a submodule that wraps its parent would recurse)
    model.__dict__["bench_forward"] = torch.compile(model) if getattr(args, "compile", False) else None
    return model, device


def random_batch(model, batch_size: int, device, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """A batch of random puzzles of the model's shape (tokens 1..V-1, labels 2..V-1)."""
    cfg = model.cfg
    g = generator or torch.Generator().manual_seed(0)
    low_label = 2 if cfg.vocab_size > 2 else 0
    batch = {
        "inputs": torch.randint(1, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g),
        "labels": torch.randint(low_label, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g),
        "puzzle_identifiers": torch.zeros(batch_size, dtype=torch.long),
    }
    return {k: v.to(device) for k, v in batch.items()}


def autocast(device: torch.device, dtype: str):
    """bf16 autocast for `dtype == "bfloat16"`, else nothing."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    """Accumulates wall time of named phases (syncs the device at each edge)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.totals: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        sync(self.device)
        t0 = clock()
        try:
            yield
        finally:
            sync(self.device)
            self.totals[name] = self.totals.get(name, 0.0) + clock() - t0


def matmul_peak(device: torch.device, dtype: str, size: int, seconds: float = 1.0) -> float:
    """FLOP/s of a plain [size x size] @ [size x size] in `dtype`: the practical peak here."""
    dt = DTYPES[dtype]
    a = torch.randn(size, size, device=device).to(dt)
    b = torch.randn(size, size, device=device).to(dt)
    for _ in range(3):
        a @ b
    sync(device)
    n, t0 = 0, clock()
    while True:
        for _ in range(4):
            a @ b
        n += 4
        sync(device)
        if clock() - t0 >= seconds:
            break
    return 2.0 * size**3 * n / (clock() - t0)


def environment(device: torch.device) -> dict[str, object]:
    """Where a figure was measured."""
    env = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def fmt(value: float, unit: str = "") -> str:
    """3 significant figures with an SI prefix."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def print_table(title: str, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    header = [str(h) for h in header]
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print(title)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def emit_json(record: dict) -> None:
    """The machine-readable line every benchmark ends with."""
    print("JSON: " + json.dumps(record, sort_keys=True, default=str))


def make_optimizer(model, lr: float = 1e-4, weight_decay: float = 0.1) -> torch.optim.Optimizer:
    """AdamW over every parameter (the trainer's optimizer choice does not change the model's cost)."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))


def time_training(model, device: torch.device, dtype: str, batch_size: int, steps: int, warmup: int, *, seed: int = 0, between=None) -> dict:
    """Time `steps` training steps (`segment_step` + backward + optimizer step).

    The model forward (every call, the halting policy's extra forward included)
    and the backward are timed apart, so the rest of the step (data, halting
    bookkeeping, loss, optimizer, metrics) is the overhead outside the model.

    Args:
        between: called after every timed step, outside the timing (e.g. to
            sample the matmul peak next to each step on a noisy machine).

    Returns:
        seconds per step (mean and each), per phase, block applications of one step, losses.
    """
    from hrmzoo.analysis.flops import BlockCallCounter
    from hrmzoo.model.segment_loop import new_carry, segment_step

    model.train()
    g = torch.Generator().manual_seed(seed)
    pool = [random_batch(model, batch_size, device, g) for _ in range(4)]
    opt = make_optimizer(model)
    halt_gen = torch.Generator(device=device).manual_seed(seed)
    carry = new_carry(model, pool[0])
    timer = Timer(device)
    forward_time = [0.0]

    def pre(module, args):
        sync(device)
        forward_time.append(clock())

    def post(module, args, out):
        sync(device)
        forward_time[0] += clock() - forward_time.pop()

    forward_model = getattr(model, "bench_forward", None)
    if forward_model is None:
        forward_model = model
    handles = [forward_model.register_forward_pre_hook(pre), forward_model.register_forward_hook(post)]
    losses, step_times = [], []
    counter = None
    try:
        for i in range(warmup + steps):
            if i == warmup:
                timer.totals.clear()
                forward_time[0] = 0.0
            sync(device)
            t_start = clock()
            # count on the eager model (hooks would make a compiled one recompile)
            counting = forward_model is model and (i == warmup - 1 or (warmup == 0 and i == 0))
            ctx = BlockCallCounter(model, batch_size) if counting else contextlib.nullcontext()
            with ctx as maybe_counter:
                with timer("data"):
                    batch = pool[i % len(pool)]
                with timer("step_forward"), autocast(device, dtype):
                    carry, result = segment_step(forward_model, carry, batch, training=True, generator=halt_gen)
                with timer("backward"):
                    result.loss.backward()
                with timer("optimizer"):
                    opt.step()
                    opt.zero_grad(set_to_none=True)
            sync(device)
            if i >= warmup:
                step_times.append(clock() - t_start)
                if between is not None:
                    between()
            if counting:
                counter = maybe_counter
            losses.append(float(result.metrics["loss"]))
        total = sum(step_times)
    finally:
        for h in handles:
            h.remove()
    if counter is None:  # compiled: count one eager step apart (not applied to the weights)
        with BlockCallCounter(model, batch_size) as counter:
            _, result = segment_step(model, new_carry(model, pool[0]), pool[0], training=True,
                                     generator=torch.Generator(device=device).manual_seed(seed))
            result.loss.backward()
        opt.zero_grad(set_to_none=True)
    per = {k: v / steps for k, v in timer.totals.items()}
    model_time = (forward_time[0] + timer.totals["backward"]) / steps
    step = total / steps
    return {
        "step_s": step,
        "step_times": step_times,
        "phase_s": per,
        "model_forward_s": forward_time[0] / steps,
        "model_s": model_time,
        "overhead_frac": max(0.0, 1.0 - model_time / step),
        "calls": counter.calls,
        "losses": losses,
    }


def time_inference(model, device: torch.device, dtype: str, batch_size: int, repeats: int, *, seed: int = 0) -> dict:
    """Time full inference passes: every sample runs `max_segments` segments from the initial state."""
    model.eval()
    batch = random_batch(model, batch_size, device, torch.Generator().manual_seed(seed))
    segments = model.halting.max_segments

    def one_pass():
        state = None
        for _ in range(segments):
            out = model(batch, state)
            state = out.state
        return out

    with torch.inference_mode(), autocast(device, dtype):
        one_pass()  # warm-up
        sync(device)
        t0 = clock()
        for _ in range(repeats):
            one_pass()
        sync(device)
        elapsed = (clock() - t0) / repeats
    model.train()
    return {"pass_s": elapsed, "segments": segments}


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample std (ddof=1) over seeds; std None for a single value."""
    stats = compare.summarise(values)
    return stats["mean"], stats["std"]


def mean_std_cell(mean: float, std: float | None) -> str:
    """`mean ± std` to one decimal, or the mean alone when there is no spread."""
    return f"{mean:.1f} ± {std:.1f}" if std is not None else f"{mean:.1f}"
