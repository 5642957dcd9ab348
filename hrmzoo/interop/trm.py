"""Import a checkpoint of the original TRM (SamsungSAILMontreal/TinyRecursiveModels).

Mapped: `recursive_reasoning.trm` (TinyRecursiveReasoningModel_ACTV1) with
attention layers or `mlp_t` (token MLP) layers (an `mlp_mixer` block with
`token_norm: sequence`, TRM's normalisation), with `no_ACT_continue`
true (one halt logit: the zoo's `trm` halting) or false (halt/continue
Q-learning). Not mapped: the `trm_hier6`, `trm_singlez` and HRM-style
variants of that repository (other state layouts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrmzoo.errors import CheckpointError
from hrmzoo.interop.arch import expansion_of, loss_of, needed, read_arch, seq_len_of
from hrmzoo.interop.state_dict import layer_count, load_original, map_keys, require
from hrmzoo.interop.weights import build_with_weights


def trm_recipe(tensors: dict, arch: dict[str, Any], origin: Any) -> dict[str, Any]:
    vocab, D = require(tensors, "embed_tokens.embedding_weight", origin).shape
    if layer_count(tensors, "H"):
        raise CheckpointError(f"{origin}: has 'H_level' layers; TRM shares one L_level network (import it with 'hrmzoo import hrm')")
    layers = layer_count(tensors, "L")
    if layers == 0:
        raise CheckpointError(f"{origin}: no 'L_level.layers.*' keys; not a TRM checkpoint")
    table = tensors.get("puzzle_emb.weights")
    ndim = table.shape[1] if table is not None else 0
    prefix = (int(arch.get("puzzle_emb_len", 16)) or -(-ndim // D)) if ndim else 0
    positions = tensors.get("embed_pos.embedding_weight")
    seq_len = seq_len_of(arch, positions, prefix, origin)
    gate_up = require(tensors, "L_level.layers.0.mlp.gate_up_proj.weight", origin)
    token = tensors.get("L_level.layers.0.mlp_t.gate_up_proj.weight")
    eps = float(arch.get("rms_norm_eps", 1e-5))
    if token is not None:
        # TRM's mlp_t normalises the token-mixing residual while transposed, over the sequence
        block = {"type": "mlp_mixer", "num_layers": layers, "expansion": expansion_of(gate_up, D),
                 "token_expansion": expansion_of(token, seq_len + prefix), "norm_eps": eps, "token_norm": "sequence"}
    else:
        block = {"type": "transformer", "num_layers": layers, "num_heads": int(needed(arch, "num_heads", origin, "8")),
                 "expansion": expansion_of(gate_up, D), "norm_eps": eps}
    one_logit = bool(arch.get("no_ACT_continue", True))
    return {
        "name": "trm_imported",
        "description": f"imported from the original TRM checkpoint {origin}",
        "model": {
            "hidden_size": D,
            "vocab_size": vocab,
            "seq_len": seq_len,
            "num_puzzle_identifiers": table.shape[0] if table is not None else int(arch.get("num_puzzle_identifiers", 1)),
            "puzzle_emb_ndim": ndim,
            "prefix_len": prefix,
            "pos_encoding": "learned" if positions is not None else ("rope" if arch.get("pos_encodings", "rope") == "rope" else "none"),
            "rope_theta": float(arch.get("rope_theta", 10000.0)),
            "l_block": block,
            "injection": {"type": "add"},
            "coupling": {"type": "recursive", "t_cycles": int(needed(arch, "H_cycles", origin, "3")),
                         "n_cycles": int(needed(arch, "L_cycles", origin, "6"))},
            "gradient": {"type": "last_cycle"},
            "halting": {"type": "trm" if one_logit else "q_learning",
                        "max_segments": int(arch.get("halt_max_steps", 16)),
                        "exploration_prob": float(arch.get("halt_exploration_prob", 0.1))},
            "head": {"type": "lm", "loss": loss_of(arch, origin)},
        },
    }


def import_trm(checkpoint: str | Path, config: str | Path | dict | None = None, overrides: dict[str, Any] | None = None):
    """Load an original TRM checkpoint as a zoo model (`recursive` coupling, one shared block).

    Arguments as for `hrmzoo.interop.import_hrm`; TRM's y is the zoo's `y`
    (its z_H) and its z the zoo's `z` (its z_L).
    """
    origin = Path(checkpoint).name
    raw = load_original(checkpoint)
    arch = {**read_arch(config), **(overrides or {})}
    mixer = any(".mlp_t." in k for k in raw)
    mapped = map_keys(raw, levels={"L": "l_block"}, mixer=mixer, origin=origin)
    recipe = trm_recipe(raw, arch, origin)
    mapped["init_y"] = mapped.pop("H_init", None)
    mapped["init_z"] = mapped.pop("L_init", None)
    if recipe["model"]["halting"]["type"] == "trm" and "halting.head.weight" in mapped:
        # no_ACT_continue: the original's continue row is never read
        mapped["halting.head.weight"] = mapped["halting.head.weight"][:1]
        mapped["halting.head.bias"] = mapped["halting.head.bias"][:1]
    return build_with_weights(recipe, mapped, origin)
