"""Model checkpoints in safetensors, with the recipe (JSON) in the metadata.

Never pickle: weights are safetensors; the recipe and versions are strings in
the file's metadata, so a checkpoint alone rebuilds its model.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

import hrmzoo
from hrmzoo.persistence import generations as gens
from hrmzoo.common.atomic import write_atomic
from hrmzoo.errors import CheckpointError, HrmzooError
from hrmzoo.persistence.formats import FORMAT, migrate_weights

RECIPE_KEY = "hrmzoo.recipe"
FORMAT_KEY = "hrmzoo.format"
MODEL_FILE = "model.safetensors"
PRETRAINED_PREFIX = "pretrained:"  # `load_model("pretrained:cpu_sudoku9")`: hrmzoo.persistence.hub's shipped weights


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """Write a safetensors file through a temp file, fsync and a rename (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}

    def write(tmp: Path) -> None:
        try:
            save_file(flat, str(tmp), metadata=metadata)
        except SafetensorError as exc:  # a write that failed in the OS (disk full, file-size limit) is an OSError again
            code = re.search(r"os error (\d+)", str(exc))
            if code is None:
                raise
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from None

    return write_atomic(path, write)


def save_model(model, path: str | Path, extra_metadata: dict[str, str] | None = None) -> Path:
    """Save weights + recipe + versions to `path` (.safetensors)."""
    if model.recipe is None:
        raise CheckpointError("model has no recipe attached; build it with hrmzoo.build_model")
    meta = {
        FORMAT_KEY: str(FORMAT),
        RECIPE_KEY: json.dumps(model.recipe.to_dict()),
        "hrmzoo.version": hrmzoo.__version__,
        "torch.version": torch.__version__,
    }
    meta.update(extra_metadata or {})
    return atomic_save_tensors(dict(model.state_dict()), path, meta)


def model_file(path: str | Path) -> Path:
    """The model file a checkpoint argument names, verified against its generation's manifest.

    Accepts `pretrained:NAME` (weights shipped in the package, `hrmzoo.persistence.hub`), a `.safetensors` file, a generation directory (`checkpoints/step-N`),
    a run directory (its newest verified generation) or a run directory of the
    older single-file layout (`RUN/model.safetensors`).
    """
    if isinstance(path, str) and path.startswith(PRETRAINED_PREFIX):  # the weights shipped in the package
        from hrmzoo.persistence.hub import weights_path

        return weights_path(path)
    path = Path(path)
    try:
        if path.is_dir() and gens.has_generations(path):
            gen, _, skipped = gens.newest_verified(path, (MODEL_FILE,))
            note = gens.older_than_newest(path, gen, skipped)
            if note:  # say so: the user asked for the run, and gets an older step of it
                print(f"hrmzoo: note: {note}", file=sys.stderr)
            return gen.path / MODEL_FILE
        if path.is_dir() and (path / gens.MANIFEST).is_file():
            return gens.verify_file(path, MODEL_FILE)
        if path.is_dir():
            path = path / MODEL_FILE
        elif path.name == MODEL_FILE and (path.parent / gens.MANIFEST).is_file():
            return gens.verify_file(path.parent, MODEL_FILE)
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint not found; pass a .safetensors file or a run directory of 'hrmzoo train'")
    except CheckpointError:
        raise
    except (OSError, ValueError) as exc:  # unreadable directory, a null byte in the name
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc})") from None
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint, or a one-line CheckpointError."""
    path = model_file(path)
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


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], Path]:
    """A checkpoint's tensors migrated to the current format, for loading into a model built
    elsewhere (a warm start), and the model file they came from; a one-line CheckpointError."""
    path = model_file(path)
    tensors, meta = read_checkpoint(path)
    return migrate_weights(tensors, meta.get(FORMAT_KEY), embedded_recipe(meta, path), path), path


def embedded_recipe(meta: dict[str, str], origin: Any) -> dict:
    """The resolved recipe a checkpoint carries. It must be self-contained: an
    `extends` key would make loading read another file, so it is refused."""
    try:
        recipe_dict = json.loads(meta[RECIPE_KEY])
    except json.JSONDecodeError:
        raise CheckpointError(f"{origin}: the recipe in the metadata is not valid JSON; the file is corrupt") from None
    if not isinstance(recipe_dict, dict):
        raise CheckpointError(f"{origin}: the recipe in the metadata is not a mapping; the file is corrupt")
    if "extends" in recipe_dict:
        raise CheckpointError(f"{origin}: the embedded recipe has 'extends'; a checkpoint's recipe must be resolved, so this file was not written by hrmzoo")
    return recipe_dict


def load_model(path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, device=None, allow_cast: bool = False) -> Any:
    """Rebuild the model a checkpoint describes and load its weights (exactly).

    Overrides may change inference settings (e.g. `model.halting.eval_mode=adaptive`)
    but not shapes: a mismatch is a CheckpointError. A tensor whose dtype differs
    from the parameter's is an error too, unless `allow_cast`.
    """
    from hrmzoo.persistence.hub import is_shipped
    from hrmzoo.recipe import load_recipe
    from hrmzoo.recipe.build import build_model

    tensors, meta = read_checkpoint(path)
    recipe_dict = embedded_recipe(meta, path)
    try:
        recipe = load_recipe(recipe_dict, overrides)
        # a forged recipe must not allocate terabytes: counted first on the meta device. Not for the
        # package's own weights as shipped (files of the install, trusted as its code; their counts are
        # on their cards): torch's meta kernels import its compiler, seconds of `hrmzoo solve`'s start
        if overrides or not is_shipped(path):
            from hrmzoo.model.parameter_count import check_parameters

            check_parameters(recipe.model, f"{path}: its recipe")
        model = build_model(recipe)
    except HrmzooError as exc:
        raise CheckpointError(f"{path}: its recipe no longer builds ({exc})") from None
    tensors = migrate_weights(tensors, meta.get(FORMAT_KEY), recipe_dict, path)
    load_weights(model, tensors, path, allow_cast=allow_cast)
    if getattr(model.halting.cfg, "eval_halt_threshold", None) == "auto":  # the value the run fitted when it trained
        from hrmzoo.halting.threshold import apply_fitted_threshold, fitted_dir

        apply_fitted_threshold(model, fitted_dir(model_file(path)))
    return model.to(device) if device is not None else model


def load_weights(model, tensors: dict[str, torch.Tensor], origin: Any = "<weights>", *, allow_cast: bool = False) -> None:
    """Copy tensors into the model; every key and shape (and dtype, unless `allow_cast`) must match."""
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
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{origin}: '{k}' holds NaN or infinite values; these weights are unusable (resume from an earlier checkpoint)")
        if own[k].dtype != v.dtype and not allow_cast:
            raise CheckpointError(f"{origin}: '{k}' is {v.dtype} in the file but {own[k].dtype} in the model; loading would not be exact (pass allow_cast=True to convert)")
    model.load_state_dict(tensors, strict=True)


def pretrained(name: str, overrides: list[str] | tuple[str, ...] = (), *, device: Any = None):
    """The shipped model `name`, loaded (weights exact; overrides may change inference settings).

    Args:
        name: a shipped model (`hrmzoo.persistence.hub.available()`); also `hrmzoo.pretrained`, e.g. `"cpu_sudoku9"`.
        overrides: `key=value` inference overrides, e.g. `["model.halting.eval_mode=adaptive"]`.
        device: where to put it (default CPU).

    Returns:
        The ReasoningModel in eval mode, `model.recipe` set.
    """
    from hrmzoo.persistence.hub import weights_path

    model = load_model(weights_path(name), overrides, device=device)
    return model.eval()
