"""Build the zoo model of an imported recipe and copy the mapped weights in."""

from __future__ import annotations

from typing import Any

import torch

from hrmzoo.persistence.checkpoint import load_weights
from hrmzoo.errors import CheckpointError, HrmzooError


def build_with_weights(recipe: dict[str, Any], tensors: dict[str, torch.Tensor | None], origin: Any):
    from hrmzoo.recipe.build import build_model

    missing = sorted(k for k, v in tensors.items() if v is None)
    if missing:
        original = {"init_z_H": "H_init", "init_z_L": "L_init", "init_y": "H_init", "init_z": "L_init"}
        raise CheckpointError(f"{origin}: missing key '{original.get(missing[0], missing[0])}'; the checkpoint is incomplete or of another model")
    try:
        model = build_model(recipe, seed=0)
    except HrmzooError as exc:
        raise CheckpointError(f"{origin}: the recipe read from the checkpoint does not build ({exc})") from None
    own = model.state_dict()
    # the original keeps its initial states in the forward dtype (bf16): upcast explicitly
    cast = {k: v.to(own[k].dtype) if k in own else v for k, v in tensors.items()}
    load_weights(model, cast, origin)
    return model
