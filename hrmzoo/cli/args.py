"""Argument handling shared by the ``hrmzoo eval``, ``sweep`` and ``halting`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hrmzoo.errors import HrmzooError

COMMON_KEYS = ("ckpt", "data", "split", "batch_size", "limit", "device", "dtype", "out")


def int_list(named: dict[str, str], key: str, default: list[int]) -> list[int]:
    """``key=[1,2,4]`` (or ``key=4``) as a list of positive ints."""
    if key not in named:
        return default
    try:
        value = yaml.safe_load(named[key])
    except yaml.YAMLError:
        value = None
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise HrmzooError(f"{key}={named[key]}: give positive integers, e.g. {key}=[1,2,4,8]")
    return values


def positive_int(named: dict[str, str], key: str) -> int | None:
    if key not in named:
        return None
    try:
        value = int(named[key])
    except ValueError:
        raise HrmzooError(f"{key}={named[key]}: not an integer") from None
    if value <= 0:
        raise HrmzooError(f"{key}={value}: must be positive")
    return value


def resolve(named: dict[str, str], overrides: list[str], command: str) -> dict[str, Any]:
    """Model (loaded once, on its device), device, autocast dtype, data root and batch size for
    the commands that read a checkpoint (eval, sweep, halting)."""
    from hrmzoo.builder import resolve_device
    from hrmzoo.checkpoint import load_model
    from hrmzoo.train.data import check_compatible, prepare_dataset, split_metadata
    from hrmzoo.train.trainer import autocast_dtype

    if "ckpt" not in named:
        raise HrmzooError(f"no checkpoint given; run 'hrmzoo {command} ckpt=RUN_DIR' (a run directory or a .safetensors file)")
    ckpt = Path(named["ckpt"])
    model = load_model(ckpt, overrides)
    recipe = model.recipe
    device = resolve_device(named.get("device", recipe.train.device))
    dtype_name = named.get("dtype", recipe.train.dtype)
    if dtype_name not in ("auto", "float32", "bfloat16"):
        raise HrmzooError(f"dtype={dtype_name}: use auto, float32 or bfloat16")
    split = named.get("split", "test")
    root = Path(named["data"]) if "data" in named else prepare_dataset(recipe, recipe.train.data_cache)
    check_compatible(recipe.model, split_metadata(root, split), root)
    out = Path(named["out"]) if "out" in named else (ckpt if ckpt.is_dir() else ckpt.parent)
    return {
        "ckpt": ckpt,
        "model": model.to(device),
        "device": device,
        "autocast_dtype": autocast_dtype(dtype_name, device),
        "root": root,
        "split": split,
        "batch_size": positive_int(named, "batch_size") or recipe.train.eval_batch_size or recipe.train.batch_size,
        "limit": positive_int(named, "limit"),
        "out": out,
    }
