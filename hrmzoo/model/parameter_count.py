"""A recipe's parameter count, taken before anything is allocated.

Beside `hrmzoo.common.limits` (the bounds, which know no model) because counting
needs the model: the model is built on the meta device, so a forged recipe that
asks for terabytes costs nothing to refuse.
"""

from __future__ import annotations

import os
import warnings

import torch

from hrmzoo.common import limits
from hrmzoo.model import ReasoningModel


def meta_model(model_cfg) -> ReasoningModel | None:
    """The recipe's model built on the meta device (shapes, no memory), quietly and without touching
    the global RNG; None when the recipe does not build (the real build then says why)."""
    try:
        # quietly: the real build warns (an untrained parameter group, a controller acting nowhere) once;
        # any fixed seed: only shapes are read, and seed=None would draw one from torch's global
        # generator, so a training run would leave it changed (its checkpoints save it)
        with torch.random.fork_rng(devices=[]), torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ReasoningModel(model_cfg, seed=0)
    except (ValueError, TypeError, RuntimeError, NotImplementedError):
        return None


def check_parameters(model_cfg, what: str = "the model", *, model: ReasoningModel | None = None) -> int:
    """Count a recipe's parameters without allocating them (built on the meta device, or `model`,
    that meta build, when the caller has it) and check the count against the `parameters` limit;
    returns the count."""
    model = model if model is not None else meta_model(model_cfg)
    if model is None:
        return -1  # the real build reports what is wrong with the recipe
    count = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    limits.check("parameters", count, f"{what}: parameters and buffers")
    return count


# ---------------------------------------------------------------- memory and time before allocation

#: bytes per float32 parameter while training: weights 4 + gradient 4 + two Adam moments 8 + one
#: parameter-sized temporary of the optimizer step 4
TRAIN_BYTES_PER_PARAM = 20
#: floats kept per state element by one gradient-carrying layer application (inputs, the MLP's
#: expanded hidden, norms, residuals): a generous round figure, so the estimate errs high
SAVED_FLOATS_PER_LAYER = 12


def available_memory(device: torch.device) -> tuple[int, str]:
    """Bytes this process can still allocate on `device`, and where that number comes from.

    CPU: the smallest of MemAvailable (/proc/meminfo), the cgroup's memory.max less its
    usage, and the address-space limit (ulimit -v) less what the process maps now.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"free memory of {device}"
    found: list[tuple[int, str]] = []
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f.read(1 << 16).decode().splitlines():
                if line.startswith("MemAvailable:"):
                    found.append((int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"))
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", "rb") as f:
            cap = f.read(64).decode().strip()
        if cap != "max":
            with open("/sys/fs/cgroup/memory.current", "rb") as f:
                used = int(f.read(64).decode().strip())
            found.append((int(cap) - used, "the cgroup's memory.max"))
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", "rb") as f:
                mapped = int(f.read(256).split()[0]) * resource.getpagesize()
            found.append((soft - mapped, "the address-space limit (ulimit -v)"))
    except (OSError, ValueError, ImportError):
        pass
    if not found:
        return 1 << 62, "no memory figure on this system"
    return min(found)


def _measured_flops(device: torch.device, rows: int, hidden: int) -> float:
    """FLOP/s of a matmul shaped like the model's, on this device and thread count (an upper
    bound of what a whole step reaches, so a time estimate from it errs low)."""
    if device.type != "cpu":
        return 1e15  # accelerators: no estimate worth refusing on
    import time

    rows, hidden = max(64, min(rows, 4096)), max(32, min(hidden, 1024))
    gen = torch.Generator().manual_seed(0)  # not the global generator: the run's RNG state must not depend on this probe
    a, b = torch.randn(rows, hidden, generator=gen), torch.randn(hidden, 2 * hidden, generator=gen)
    a @ b  # first call: allocation and kernel selection
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 0.05:
        a @ b
        n += 1
    return 2.0 * rows * hidden * 2 * hidden * n / (time.perf_counter() - start)


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_training_fits(recipe, device: torch.device, world: int = 1, what: str = "the recipe", *,
                        model: ReasoningModel | None = None) -> dict[str, float]:
    """Estimate a training run's memory and the time of one step before anything is allocated,
    and refuse, in one line naming the estimate and the limit, what cannot fit or finish.

    Memory: parameters x 20 bytes (weights, gradients, Adam's two moments, the step's temporary; EMA adds 4) plus the
    carry (every state, old and new) and the activations kept by the gradient-carrying updates,
    against `available_memory` (raise with HRMZOO_LIMIT_MEMORY_BYTES). Time: the FLOPs of one
    step (every update forward, the gradient-carrying ones twice more backward) at the FLOP/s a
    model-shaped matmul reaches here, against HRMZOO_LIMIT_STEP_SECONDS (default 120 s).
    Returns the figures (bytes, seconds). `model`: the recipe's meta build (`meta_model`), when the
    caller has it.
    """
    cfg = recipe.model
    model = model if model is not None else meta_model(cfg)
    if model is None:
        return {}  # the real build reports what is wrong with the recipe
    try:
        updates, grad_updates = model.updates_per_segment()
    except (ValueError, TypeError, RuntimeError, NotImplementedError):
        return {}
    params = sum(p.numel() for p in model.parameters())
    batch = max(1, recipe.train.batch_size // max(1, world))
    S, D = cfg.total_seq_len, cfg.hidden_size
    state = batch * S * D * 4
    layers = max((getattr(getattr(level.block, "cfg", None), "num_layers", 1) or 1) for level in model.level_networks().values())
    per_param = TRAIN_BYTES_PER_PARAM + (4 if recipe.train.ema_decay is not None else 0)
    memory = params * per_param + 2 * len(model.coupling.state_keys) * state + grad_updates * layers * SAVED_FLOATS_PER_LAYER * state
    have, source = available_memory(device)
    override = os.environ.get("HRMZOO_LIMIT_MEMORY_BYTES")
    if override is not None:
        have, source = limits.limit("memory_bytes"), "HRMZOO_LIMIT_MEMORY_BYTES"
    if memory > have:
        raise limits.LimitError(
            f"{what}: training needs about {_gib(memory)} ({params:,} parameters x {per_param} bytes, carry and activations of batch "
            f"{batch} x {S} x {D}) but {_gib(have)} is available ({source}); lower model.hidden_size or train.batch_size, "
            f"or set HRMZOO_LIMIT_MEMORY_BYTES if you know better")
    block_params = {name: sum(p.numel() for p in level.block.parameters()) for name, level in model.level_networks().items()}
    # 2 FLOPs per parameter and token forward; the gradient-carrying updates twice more backward
    flops = sum(2.0 * block_params.get(tag, 0) * batch * S * (3 if grad else 1) for cyc in model.gradient_schedule() for tag, grad in cyc)
    flops += 6.0 * D * cfg.vocab_size * batch * cfg.seq_len
    rate = _measured_flops(device, batch * S, D)
    seconds = flops / rate
    cap = limits.limit("step_seconds")
    if seconds > cap:
        raise limits.LimitError(
            f"{what}: one training step is estimated at {seconds:.0f} s ({updates:,} updates per segment on batch {batch}, "
            f"{flops:.1e} FLOPs at {rate:.1e} FLOP/s measured here), above the limit of {cap} s per step; lower the cycles or "
            f"train.batch_size, or set HRMZOO_LIMIT_STEP_SECONDS to raise it if you mean it")
    return {"memory_bytes": memory, "available_bytes": have, "step_seconds": seconds}
