"""The per-user cache directory (`~/.cache/hrmzoo`) and what lives in it.

`HRMZOO_CACHE_DIR` overrides the location (tests point it at a temporary
directory); otherwise `$XDG_CACHE_HOME/hrmzoo`, else `~/.cache/hrmzoo`. It holds
machine-specific decisions and artefacts that are safe to delete at any time:

* `dtype_auto.json`: `train.dtype: auto`'s measured float32 / bfloat16 choice per
  machine and model (`hrmzoo.train.precision_probe`).
* `inductor/`: torch.compile's kernel and FX graph cache when `train.compile` is on,
  so the cold compile (minutes on a CPU) is paid once per machine and model, not per run.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HRMZOO_CACHE_DIR"


def cache_dir() -> Path:
    """The cache root (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hrmzoo"


def use_persistent_compile_cache() -> Path:
    """Point torch.compile's caches (inductor kernels, FX graphs, AOT autograd) at `cache_dir()/inductor`.

    An explicit `TORCHINDUCTOR_CACHE_DIR` in the environment wins. Inductor's default is
    `/tmp/torchinductor_<user>`, which a reboot or a fresh container empties. Returns the
    directory used.
    """
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    path = cache_dir() / "inductor"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    try:
        import torch._inductor.config as inductor_config

        inductor_config.fx_graph_cache = True  # on by default in recent torch; explicit for older ones
        if hasattr(inductor_config, "autograd_cache"):
            inductor_config.autograd_cache = True
    except ImportError:  # pragma: no cover - torch without inductor: compile falls back anyway
        pass
    return path
