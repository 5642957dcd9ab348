"""`train.dtype: auto` on a CPU: float32 or bfloat16 autocast, chosen by measuring this machine.

Whether bf16 pays on a CPU depends on the chip (AMX or AVX-512 BF16 make its
matmuls faster than fp32; without them it is emulated and slower) and on the
model (small matmuls are dominated by overheads either way). So the trainer times
a few training steps (forward, loss, backward; no optimizer step) of the actual
model at the actual batch in both dtypes, on a copy of the model with the random
state saved and restored, so the run itself is unchanged, and picks the faster;
bf16 must be at least `MIN_GAIN` faster to be chosen (fp32 is the safer numerics).

The choice is cached in `hrmzoo.common.user_cache.cache_dir()/dtype_auto.json`, keyed by
the machine (CPU model, its fp32/bf16 instruction flags, torch version, threads)
and the recipe (the resolved model config and batch size): later runs of the same
recipe on the same machine reuse it without measuring. Delete the file to measure
again. `HRMZOO_DTYPE_AUTO=float32` (or `bfloat16`) fixes the answer without measuring
(the test suite pins float32 so its results do not depend on the machine).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from hrmzoo.common.atomic import write_text_atomic
from hrmzoo.common.user_cache import cache_dir

#: bf16 is chosen only when its step is at least this fraction faster than fp32's.
MIN_GAIN = 0.05
#: Timed rounds (one step per dtype each, interleaved) and untimed warm-up steps per dtype.
ROUNDS, WARMUP = 3, 1
#: Stop timing further rounds once this many seconds went into the probe (big models on a CPU).
BUDGET_S = 20.0
CACHE_FILE = "dtype_auto.json"
#: Environment override: `float32` or `bfloat16` fixes auto's answer; unset or `measure` measures.
FORCE_ENV = "HRMZOO_DTYPE_AUTO"
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


@dataclass
class DtypeChoice:
    """What `choose_cpu_dtype` decided and on what evidence."""

    dtype: str                 # "float32" or "bfloat16"
    float32_ms: float
    bfloat16_ms: float
    cached: bool
    cache_file: str | None
    forced: bool = False

    @property
    def autocast(self) -> torch.dtype | None:
        return torch.bfloat16 if self.dtype == "bfloat16" else None

    def describe(self) -> str:
        if self.forced:
            return f"train.dtype auto: {self.dtype} ({FORCE_ENV}={self.dtype}; not measured)"
        how = f"cached in {self.cache_file}" if self.cached else "measured now" + (f", cached in {self.cache_file}" if self.cache_file else "")
        verdict = "bfloat16 autocast" if self.dtype == "bfloat16" else "float32"
        return (f"train.dtype auto: {verdict} (a training step took {self.float32_ms:.1f} ms in float32, "
                f"{self.bfloat16_ms:.1f} ms in bfloat16; {how})")


def machine_description() -> dict[str, Any]:
    """What decides bf16's speed on this CPU: model name, relevant flags, torch version, threads."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("", platform.machine(), platform.processor()):
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: the name and torch's own view of the CPU stand in
        pass
    return {"cpu": name, "flags": [f for f in CPU_FLAGS if f in flags], "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def cache_key(machine: dict[str, Any], model_cfg: Any, batch_size: int) -> str:
    """Hash of the machine description, the resolved model config and the batch size."""
    model_json = model_cfg.model_dump_json() if hasattr(model_cfg, "model_dump_json") else json.dumps(model_cfg, sort_keys=True, default=str)
    blob = json.dumps({"machine": machine, "model": json.loads(model_json), "batch_size": batch_size}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # missing or damaged: measure again, rewrite it
        return {}


def _write_cache(path: Path, entries: dict[str, Any]) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the one atomic writer (temp file, fsync, rename): a concurrent run sees the old file or the new one
        write_text_atomic(path, json.dumps(entries, indent=1, sort_keys=True))
        return True
    except OSError:
        return False


def _clock() -> float:
    # one thread: this thread's CPU time (robust on a shared machine); several: wall time
    return time.thread_time() if torch.get_num_threads() == 1 else time.perf_counter()


def time_steps(model, batch: dict[str, torch.Tensor], *, rounds: int = ROUNDS, warmup: int = WARMUP,
               budget_s: float = BUDGET_S) -> dict[str, float]:
    """Fastest training step (forward + loss + backward) per dtype, in seconds, on a copy of `model`.

    Rounds alternate the dtypes so a burst of load on a shared machine hits both; the
    minimum over rounds is the least disturbed figure. Torch's random state is restored.
    """
    from hrmzoo.model.segment_loop import new_carry, segment_step

    probe = copy.deepcopy(model).train()
    best = {"float32": float("inf"), "bfloat16": float("inf")}
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        gen = torch.Generator().manual_seed(0)
        carries = {d: new_carry(probe, batch) for d in best}
        for i in range(warmup + rounds):
            for name in best:
                amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bfloat16")
                t = _clock()
                with amp:
                    carries[name], result = segment_step(probe, carries[name], batch, training=True, generator=gen)
                result.loss.backward()
                took = _clock() - t
                probe.zero_grad(set_to_none=True)
                if i >= warmup:
                    best[name] = min(best[name], took)
            if i >= warmup and time.perf_counter() - start > budget_s:
                break
    return best


def choose_cpu_dtype(model, batch: dict[str, torch.Tensor], model_cfg: Any, batch_size: int, *,
                     cache_path: str | os.PathLike[str] | None = None) -> DtypeChoice:
    """float32 or bfloat16 autocast for training `model` on this CPU: cached, else measured (and cached).

    Args:
        model: the built model (not modified).
        batch: a training batch at the run's batch size (inputs, labels, puzzle_identifiers).
        model_cfg: the resolved model config (part of the cache key).
        batch_size: the run's batch size (part of the cache key).
        cache_path: the cache file (default `cache_dir()/dtype_auto.json`).
    """
    forced = os.environ.get(FORCE_ENV, "measure").strip().lower()
    if forced in ("float32", "bfloat16"):
        return DtypeChoice(forced, float("nan"), float("nan"), False, None, forced=True)
    if forced not in ("", "measure"):
        from hrmzoo.errors import HrmzooError

        raise HrmzooError(f"{FORCE_ENV}={forced}: use float32, bfloat16 or measure (or unset it)")
    path = Path(cache_path) if cache_path is not None else cache_dir() / CACHE_FILE
    machine = machine_description()
    key = cache_key(machine, model_cfg, batch_size)
    entries = _read_cache(path)
    hit = entries.get(key)
    if isinstance(hit, dict) and hit.get("dtype") in ("float32", "bfloat16"):
        try:
            return DtypeChoice(hit["dtype"], float(hit["float32_ms"]), float(hit["bfloat16_ms"]), True, str(path))
        except (KeyError, TypeError, ValueError):
            pass  # a damaged entry: measure again
    secs = time_steps(model, batch)
    fp32_ms, bf16_ms = 1e3 * secs["float32"], 1e3 * secs["bfloat16"]
    dtype = "bfloat16" if bf16_ms < (1.0 - MIN_GAIN) * fp32_ms else "float32"
    choice = DtypeChoice(dtype, fp32_ms, bf16_ms, False, None)
    entries[key] = {**{k: v for k, v in asdict(choice).items() if k in ("dtype", "float32_ms", "bfloat16_ms")},
                    "machine": machine, "batch_size": batch_size, "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if _write_cache(path, entries):
        choice.cache_file = str(path)
    return choice
