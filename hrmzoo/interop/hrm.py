"""Import a checkpoint of the original HRM (sapientinc/HRM, `hrm_act_v1`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrmzoo.errors import CheckpointError
from hrmzoo.interop.arch import expansion_of, loss_of, needed, read_arch, seq_len_of
from hrmzoo.interop.state_dict import layer_count, load_original, map_keys, require
from hrmzoo.interop.weights import build_with_weights


def hrm_recipe(tensors: dict, arch: dict[str, Any], origin: Any) -> dict[str, Any]:
    """The zoo recipe of an original HRM, sizes from the weights and the rest from `arch`."""
    vocab, D = require(tensors, "embed_tokens.embedding_weight", origin).shape
    if "hidden_size" in arch and int(arch["hidden_size"]) != D:
        raise CheckpointError(f"{origin}: config hidden_size {arch['hidden_size']} but the weights have {D}; config and checkpoint are from different runs")
    table = tensors.get("puzzle_emb.weights")
    ndim = table.shape[1] if table is not None else 0
    prefix = -(-ndim // D)
    positions = tensors.get("embed_pos.embedding_weight")
    heads = int(needed(arch, "num_heads", origin, "8"))
    blocks = {}
    for level in ("L", "H"):
        layers = layer_count(tensors, level)
        if layers == 0:
            raise CheckpointError(f"{origin}: no '{level}_level.layers.*' keys; not an HRM checkpoint")
        if f"{level}_layers" in arch and int(arch[f"{level}_layers"]) != layers:
            raise CheckpointError(f"{origin}: config {level}_layers {arch[f'{level}_layers']} but the weights have {layers}")
        gate_up = require(tensors, f"{level}_level.layers.0.mlp.gate_up_proj.weight", origin)
        blocks[level] = {
            "type": "transformer", "num_layers": layers, "num_heads": heads,
            "expansion": expansion_of(gate_up, D), "norm_eps": float(arch.get("rms_norm_eps", 1e-5)),
        }
    return {
        "name": "hrm_imported",
        "description": f"imported from the original HRM checkpoint {origin}",
        "model": {
            "hidden_size": D,
            "vocab_size": vocab,
            "seq_len": seq_len_of(arch, positions, prefix, origin),
            "num_puzzle_identifiers": table.shape[0] if table is not None else int(arch.get("num_puzzle_identifiers", 1)),
            "puzzle_emb_ndim": ndim,
            "pos_encoding": "learned" if positions is not None else "rope",
            "rope_theta": float(arch.get("rope_theta", 10000.0)),
            "l_block": blocks["L"],
            "h_block": blocks["H"],
            "injection": {"type": "add"},
            "coupling": {
                "type": "hierarchical", "order": "L_then_H",
                "h_cycles": int(needed(arch, "H_cycles", origin, "2")),
                "l_cycles": int(needed(arch, "L_cycles", origin, "2")),
            },
            "gradient": {"type": "one_step"},
            "halting": {
                "type": "q_learning",
                "max_segments": int(arch.get("halt_max_steps", 16)),
                "exploration_prob": float(arch.get("halt_exploration_prob", 0.1)),
            },
            "head": {"type": "lm", "loss": loss_of(arch, origin)},
        },
    }


def import_hrm(checkpoint: str | Path, config: str | Path | dict | None = None, overrides: dict[str, Any] | None = None):
    """Load an original HRM checkpoint as a zoo model (same outputs for the same inputs).

    Args:
        checkpoint: the file the original trainer wrote (a torch state dict; keys may
            start with `_orig_mod.`, `model.`, `inner.`), or a .safetensors file.
        config: its `all_config.yaml` (or the arch dict): cycles, heads, halting.
        overrides: arch fields to set or replace, by the original's names
            (`H_cycles`, `num_heads`, `seq_len` ...).

    Returns:
        A ReasoningModel with `model.recipe` set, weights copied exactly.
    """
    origin = Path(checkpoint).name
    raw = load_original(checkpoint)
    arch = {**read_arch(config), **(overrides or {})}
    mapped = map_keys(raw, levels={"L": "l_block", "H": "h_block"}, mixer=False, origin=origin)
    recipe = hrm_recipe(raw, arch, origin)
    mapped["init_z_H"] = mapped.pop("H_init", None)
    mapped["init_z_L"] = mapped.pop("L_init", None)
    return build_with_weights(recipe, mapped, origin)
