"""`build_model`: recipe (path, name, dict or Recipe) -> ReasoningModel."""

from __future__ import annotations

from typing import Any

import torch

from hrmzoo.errors import RecipeError
from hrmzoo.model import ReasoningModel
from hrmzoo.recipe import load_recipe

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


def resolve_device(name: str | torch.device | None) -> torch.device:
    """`auto`/None -> CUDA when present, else CPU."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise RecipeError(f"unknown device '{name}'; use cpu, cuda, cuda:N or auto") from None
    if device.type not in ("cpu", "cuda", "meta"):
        raise RecipeError(f"device '{name}' is not supported here; use cpu, cuda, cuda:N or auto")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"device '{name}' asked for but CUDA is not available here; use device=cpu or device=auto")
    return device


def resolve_dtype(name: str | torch.dtype | None) -> torch.dtype | None:
    if name is None or isinstance(name, torch.dtype):
        return name
    if name == "auto":
        return None
    if name not in _DTYPES:
        raise RecipeError(f"unknown dtype '{name}'; use one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def build_model(source: Any, overrides: list[str] | tuple[str, ...] = (), *, device=None, dtype=None, seed: int | None = None) -> ReasoningModel:
    """Build a model from a recipe.

    Args:
        source: a recipe path, a shipped recipe name, a dict, or a Recipe.
        overrides: `key=value` strings (Hydra-like; see `hrmzoo.recipe.overrides`).
        device: where to put the weights (default CPU; `"auto"` picks CUDA if present).
        dtype: parameter dtype (default float32; use autocast for bf16 training).
        seed: seeds the initialisation (default: the recipe's `train.seed`). The same
            seed gives the same weights to every component two recipes share, whatever
            optional components (controller, halting head) either adds.

    Returns:
        The ReasoningModel, with `model.recipe` set to the validated recipe.

    Examples:
        >>> from hrmzoo import build_model
        >>> model = build_model("tiny_sudoku4")
        >>> model.num_parameters() > 0
        True
    """
    recipe = load_recipe(source, overrides)
    gen_seed = recipe.train.seed if seed is None else seed
    try:
        # each component seeds its own generator from (seed, its name): see hrmzoo.common.seeding
        model = ReasoningModel(recipe.model, seed=gen_seed)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"recipe '{recipe.name}': cannot build model: {exc}") from None
    model.recipe = recipe
    target = torch.device("cpu") if device is None else resolve_device(device)
    return model.to(device=target, dtype=resolve_dtype(dtype))
