"""Reading an original checkpoint and mapping its keys to the zoo's.

The original trainers save `model.state_dict()` of the loss head wrapping the
model, often `torch.compile`d, so keys look like
`_orig_mod.model.inner.H_level.layers.0.self_attn.qkv_proj.weight`. The zoo's
modules compute the same functions with the same weight layouts (fused qkv as
q heads | k heads | v heads, gate|up packed, post-norm RMSNorm without gain,
the whole input embedding scaled by sqrt(D)), so the mapping renames keys and
never changes values.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from hrmzoo.errors import CheckpointError

PREFIXES = ("_orig_mod.", "model.", "inner.")
# buffers the original keeps outside its weights: recomputed or per-batch, never mapped
IGNORED = re.compile(r"^(rotary_emb\.(cos|sin)_cached|puzzle_emb\.local_(weights|ids))$")

FIXED_KEYS = {
    "embed_tokens.embedding_weight": "embedding.tokens.weight",
    "embed_pos.embedding_weight": "embedding.positions",
    "puzzle_emb.weights": "embedding.puzzle_emb",
    "lm_head.weight": "head.proj.weight",
    "q_head.weight": "halting.head.weight",
    "q_head.bias": "halting.head.bias",
}
LAYER_PARTS = {
    "self_attn.qkv_proj.weight": "attn.qkv.weight",
    "self_attn.o_proj.weight": "attn.proj.weight",
    "mlp.gate_up_proj.weight": "mlp.fc1.weight",
    "mlp.down_proj.weight": "mlp.fc2.weight",
    "mlp_t.gate_up_proj.weight": "token_mlp.fc1.weight",
    "mlp_t.down_proj.weight": "token_mlp.fc2.weight",
}
MIXER_PARTS = {"mlp.gate_up_proj.weight": "channel_mlp.fc1.weight", "mlp.down_proj.weight": "channel_mlp.fc2.weight"}
LAYER_KEY = re.compile(r"^(?P<level>[HL])_level\.layers\.(?P<i>\d+)\.(?P<part>.+)$")


def load_original(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an original checkpoint, prefixes stripped.

    `.safetensors` files are read directly; anything else with
    `torch.load(weights_only=True)`, which refuses pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; pass the original's checkpoint file (e.g. checkpoints/<run>/step_N)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(path))
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for foreign or damaged files
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"{path}: not a readable state dict ({first}); pass the file the original trainer saved with torch.save(model.state_dict())") from None
    if isinstance(raw, dict) and "model" in raw and isinstance(raw["model"], dict) and not any(isinstance(v, torch.Tensor) for v in raw.values()):
        raw = raw["model"]
    if not isinstance(raw, dict) or not raw or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in raw.items()):
        raise CheckpointError(f"{path}: expected a state dict (names -> tensors), found {type(raw).__name__}; not an HRM/TRM checkpoint")
    out = {}
    for key, value in raw.items():
        short = strip_prefixes(key)
        if short in out:
            raise CheckpointError(f"{path}: keys '{key}' and another both map to '{short}'; the file mixes two models")
        out[short] = value
    return out


def strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p):], True
    return key


def map_keys(tensors: dict[str, torch.Tensor], *, levels: dict[str, str], mixer: bool, origin: Any) -> dict[str, torch.Tensor]:
    """Original key -> zoo key for every tensor; an unknown key is a one-line error.

    Args:
        tensors: original tensors with prefixes stripped.
        levels: original level -> zoo block (HRM: {"L": "l_block", "H": "h_block"}; TRM: {"L": "l_block"}).
        mixer: the blocks are MLP mixers (TRM's `mlp_t`): `mlp` is the channel MLP.
        origin: file name for messages.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        if IGNORED.match(key):
            continue
        target = FIXED_KEYS.get(key)
        if target is None:
            m = LAYER_KEY.match(key)
            parts = {**LAYER_PARTS, **MIXER_PARTS} if mixer else LAYER_PARTS
            if m and m["level"] in levels and m["part"] in parts:
                target = f"{levels[m['level']]}.layers.{m['i']}.{parts[m['part']]}"
            elif key in ("H_init", "L_init"):
                target = key
            else:
                raise CheckpointError(f"{origin}: unknown key '{key}'; not a checkpoint of this original model (keys look like 'inner.L_level.layers.0.self_attn.qkv_proj.weight')")
        out[target] = value
    return out


def layer_count(tensors: dict[str, torch.Tensor], level: str) -> int:
    idx = [int(m["i"]) for k in tensors if (m := LAYER_KEY.match(k)) and m["level"] == level]
    return max(idx) + 1 if idx else 0


def require(tensors: dict[str, torch.Tensor], key: str, origin: Any) -> torch.Tensor:
    if key not in tensors:
        raise CheckpointError(f"{origin}: missing key '{key}'; the checkpoint is incomplete or of another model")
    return tensors[key]


def to_original_state_dict(model, prefix: str = "model.inner.") -> dict[str, torch.Tensor]:
    """The zoo model's weights under the original code's names (the inverse of the import).

    HRM models map to `hrm_act_v1` keys, recursive (TRM) models to `trm` keys;
    a one-logit `trm` halting head is written as the original's two-logit Q head
    with a zero continue row.
    """
    coupling = model.cfg.coupling.type
    if coupling not in ("hierarchical", "recursive"):
        raise CheckpointError(f"coupling '{coupling}' has no counterpart in the original HRM/TRM code")
    inverse_fixed = {v: k for k, v in FIXED_KEYS.items()}
    blocks = {"l_block": "L", "h_block": "H"}
    init = {"init_z_H": "H_init", "init_z_L": "L_init", "init_y": "H_init", "init_z": "L_init"}
    mixer = model.cfg.l_block.type == "mlp_mixer"
    parts = {v: k for k, v in {**LAYER_PARTS, **(MIXER_PARTS if mixer else {})}.items()}
    out = {}
    for key, value in model.state_dict().items():
        if key in init:
            name = init[key]
        elif key in inverse_fixed:
            name = inverse_fixed[key]
        else:
            block, _, i, part = key.split(".", 3)
            name = f"{blocks[block]}_level.layers.{i}.{parts[part]}"
        out[prefix + name] = value.detach().clone()
    q_w, q_b = prefix + "q_head.weight", prefix + "q_head.bias"
    if q_w in out and out[q_w].shape[0] == 1:
        out[q_w] = torch.cat([out[q_w], torch.zeros_like(out[q_w])])
        out[q_b] = torch.cat([out[q_b], torch.full_like(out[q_b], -5.0)])
    return out
