"""Model checkpoints in safetensors, with the recipe (JSON) in the metadata.

Never pickle: weights are safetensors; the recipe and versions are strings in
the file's metadata, so a checkpoint alone rebuilds its model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

import hrmzoo
from hrmzoo.errors import CheckpointError, HrmzooError
from hrmzoo.migrations import CURRENT_FORMAT, migrate_weights

RECIPE_KEY = "hrmzoo.recipe"
FORMAT_KEY = "hrmzoo.format"
FORMAT = CURRENT_FORMAT


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """Write a safetensors file through a temp file and a rename (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def save_model(model, path: str | Path, extra_metadata: dict[str, str] | None = None) -> Path:
    """Save weights + recipe + versions to ``path`` (.safetensors)."""
    if model.recipe is None:
        raise CheckpointError("model has no recipe attached; build it with hrmzoo.build_model")
    meta = {
        FORMAT_KEY: FORMAT,
        RECIPE_KEY: json.dumps(model.recipe.to_dict()),
        "hrmzoo.version": hrmzoo.__version__,
        "torch.version": torch.__version__,
    }
    meta.update(extra_metadata or {})
    return atomic_save_tensors(dict(model.state_dict()), path, meta)


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint, or a one-line CheckpointError."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; pass a .safetensors file or a run directory holding model.safetensors")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({first}); the file is corrupt or truncated") from None
    if RECIPE_KEY not in meta:
        raise CheckpointError(f"{path}: no '{RECIPE_KEY}' in the metadata; not an hrmzoo checkpoint")
    return tensors, meta


def load_model(path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, device=None) -> Any:
    """Rebuild the model a checkpoint describes and load its weights (exactly).

    Overrides may change inference settings (e.g. ``model.halting.eval_mode=adaptive``)
    but not shapes: a mismatch is a CheckpointError.
    """
    from hrmzoo.builder import build_model

    tensors, meta = read_checkpoint(path)
    try:
        recipe_dict = json.loads(meta[RECIPE_KEY])
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: the recipe in the metadata is not valid JSON; the file is corrupt") from None
    try:
        model = build_model(recipe_dict, overrides)
    except HrmzooError as exc:
        raise CheckpointError(f"{path}: its recipe no longer builds ({exc})") from None
    tensors = migrate_weights(tensors, meta.get(FORMAT_KEY), recipe_dict)
    load_weights(model, tensors, path)
    return model.to(device) if device is not None else model


def load_weights(model, tensors: dict[str, torch.Tensor], origin: Any = "<weights>") -> None:
    """Copy tensors into the model; every key and shape must match."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
        raise CheckpointError(f"{origin}: weights do not match the recipe's model ({'; '.join(parts)})")
    for k, v in tensors.items():
        if own[k].shape != v.shape:
            raise CheckpointError(f"{origin}: '{k}' has shape {tuple(v.shape)} in the file but {tuple(own[k].shape)} in the model; the recipe was changed")
    model.load_state_dict(tensors, strict=True)
