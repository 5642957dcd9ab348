"""Trainer state on disk: tensors in safetensors, scalars in JSON, never pickle.

Every save is one generation directory (`checkpoints/step-N`, see
`hrmzoo.persistence.generations`) holding:

- `model.safetensors`: the weights to evaluate (EMA weights when EMA is on)
  with the recipe in the metadata (`hrmzoo.persistence.checkpoint.save_model`);
- `trainer_state.safetensors`: optimizer moments, RNG states, the carry, EMA
  and raw weights;
- `trainer_state.json`: step, data position, optimizer scalars;
- `manifest.json`: the SHA-256 of each file, written last.

Resume takes the newest generation whose hashes verify. Run directories of the
older layout (the three files directly in the run directory) still resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from hrmzoo.persistence import generations as gens
from hrmzoo.common.atomic import FileTooLarge, read_small, write_text_atomic
from hrmzoo.persistence.checkpoint import atomic_save_tensors
from hrmzoo.errors import CheckpointError

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
MODEL_FILE = "model.safetensors"
STEP_KEY = "hrmzoo.step"
STATE_FORMAT = 1
STATE_JSON_LIMIT = 64 << 20


#: the one atomic writer (temp file, fsync, rename), under the name this module always exported
atomic_write_text = write_text_atomic


def optimizer_to_flat(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's per-parameter state into tensors and JSON scalars.

    Hyperparameters (`param_groups`) are not stored: they come from the recipe,
    so a resumed run may change them on purpose.
    """
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    sd = opt.state_dict()
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            name = f"{prefix}.{idx}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value
            else:
                scalars[name] = value
    scalars[f"{prefix}.#params"] = [len(g["params"]) for g in sd["param_groups"]]
    scalars[f"{prefix}.#tensors"] = sorted(tensors)  # so a deleted moment is noticed, not restarted from zero
    return tensors, scalars


def optimizer_from_flat(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], scalars: dict[str, Any], origin: Path) -> None:
    """Restore per-parameter state written by `optimizer_to_flat`."""
    sd = opt.state_dict()
    shape = [len(g["params"]) for g in sd["param_groups"]]
    if scalars.get(f"{prefix}.#params") != shape:
        raise CheckpointError(f"{origin}: optimizer '{prefix}' had parameter groups {scalars.get(f'{prefix}.#params')} but the model now has {shape}; the recipe changed the model or optimizer")
    listed = scalars.get(f"{prefix}.#tensors", [])
    missing = [name for name in listed if name not in tensors]
    if missing:
        raise CheckpointError(f"{origin}: optimizer '{prefix}' state lacks {len(missing)} tensor(s) such as '{missing[0]}'; the trainer state is incomplete")
    state: dict[int, dict[str, Any]] = {}
    for source in (tensors, scalars):
        for name, value in source.items():
            head, _, rest = name.partition(".")
            if head != prefix or rest.startswith("#"):
                continue
            idx, _, key = rest.partition(".")
            if not idx.isdigit():
                raise CheckpointError(f"{origin}: optimizer entry '{name}' is not '{prefix}.<index>.<name>'; the trainer state is damaged")
            state.setdefault(int(idx), {})[key] = value
    params = [p for g in opt.param_groups for p in g["params"]]
    for idx, entry in state.items():
        if idx >= len(params):
            raise CheckpointError(f"{origin}: optimizer '{prefix}' has state for parameter {idx} but the model has {len(params)}; the trainer state is from another recipe")
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != params[idx].shape:
                raise CheckpointError(f"{origin}: optimizer '{prefix}.{idx}.{key}' has shape {tuple(value.shape)} but its parameter {tuple(params[idx].shape)}; the trainer state is damaged or from another recipe")
    sd["state"] = state
    try:
        opt.load_state_dict(sd)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{origin}: optimizer '{prefix}' state does not fit ({str(exc).splitlines()[0]})") from None


def save_state_tensors(path: Path, step: int, tensors: dict[str, torch.Tensor]) -> None:
    """Write `trainer_state.safetensors`."""
    atomic_save_tensors(tensors, path, {STEP_KEY: str(step), "hrmzoo.state_format": str(STATE_FORMAT)})


def save_state_json(path: Path, step: int, scalars: dict[str, Any]) -> None:
    """Write `trainer_state.json`: it names the step every file must agree on."""
    body = {"format": STATE_FORMAT, "step": step, **scalars}
    atomic_write_text(path, json.dumps(body, indent=1, sort_keys=True, allow_nan=False))


def _file_step(path: Path) -> int:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable safetensors file ({first}); the file is corrupt or truncated") from None
    try:
        return int(meta[STEP_KEY])
    except (KeyError, ValueError):
        raise CheckpointError(f"{path}: no valid '{STEP_KEY}' in its metadata; not written by hrmzoo train") from None


def find_state(run_dir: Path) -> tuple[Path, str]:
    """The directory to resume from and a line saying which (newest verified generation).

    Falls back to the run directory itself for the older single-save layout.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found; pass resume=RUN_DIR of an earlier 'hrmzoo train'")
    if not gens.has_generations(run_dir):
        return run_dir, f"resuming from {run_dir} (single-save layout)"
    gen, _, skipped = gens.newest_verified(run_dir, (MODEL_FILE, STATE_TENSORS, STATE_JSON))
    note = f"resuming from {gen.path} (step {gen.step})"
    if skipped:
        note += f"; skipped {len(skipped)} newer generation(s): {skipped[0]}"
    return gen.path, note


def load_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and cross-check the trainer state in one directory (a generation, or an old run directory)."""
    run_dir = Path(run_dir)
    jpath = run_dir / STATE_JSON
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found; pass resume=RUN_DIR of an earlier 'hrmzoo train'")
    if not jpath.is_file():
        raise CheckpointError(f"{jpath}: missing; {run_dir} holds no trainer state to resume from (was a checkpoint ever written?)")
    try:
        scalars = json.loads(read_small(jpath, STATE_JSON_LIMIT, STATE_JSON).decode("utf-8"))
        step = int(scalars["step"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError, FileTooLarge):
        raise CheckpointError(f"{jpath}: not a valid trainer state JSON; the file is corrupt") from None
    if scalars.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{jpath}: trainer state format {scalars.get('format')} is not {STATE_FORMAT}; resume it with the hrmzoo version that wrote it")
    for name in (STATE_TENSORS, MODEL_FILE):
        path = run_dir / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; the run directory is incomplete")
        file_step = _file_step(path)
        if file_step != step:
            raise CheckpointError(f"{path}: written at step {file_step} but {STATE_JSON} says step {step}; the last save was interrupted, restore the files from one save")
    try:
        with safe_open(str(run_dir / STATE_TENSORS), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{run_dir / STATE_TENSORS}: unreadable ({str(exc).splitlines()[0]}); the file is corrupt") from None
    return tensors, scalars


def sub(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Entries under `prefix.` with the prefix removed."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}
