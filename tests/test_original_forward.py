"""`hrmzoo import hrm` / `import trm` compute the originals' function: checkpoints in the
originals' layout, with random weights shaped by the originals' constructors, are imported and
run in float64 beside the independent restatement of the originals' forward in
tests/original_forward.py; logits, halting logits and the carried states agree to 1e-10 over
two segments (the first from H_init / L_init, the second from the carried states)."""

from __future__ import annotations

import pytest
import torch
import yaml

from hrmzoo import build_model
from hrmzoo.interop import import_hrm, import_trm
from tests.original_forward import hrm_segment, initial_carry, random_original_state_dict, trm_segment

PREFIX = "_orig_mod.model.inner."
TOL = 1e-10

CASES = {
    "hrm_rope": dict(kind="hrm", hidden=32, heads=4, L_layers=1, H_layers=2, H_cycles=2, L_cycles=3, pos="rope",
                     puzzle_ndim=32, num_puzzles=3, seq_len=9, vocab=11),
    "hrm_learned_padded_prefix": dict(kind="hrm", hidden=32, heads=2, L_layers=2, H_layers=1, H_cycles=3, L_cycles=2,
                                      pos="learned", puzzle_ndim=40, num_puzzles=3, seq_len=9, vocab=11),
    "trm_attention": dict(kind="trm", trm=True, hidden=32, heads=4, L_layers=2, H_cycles=3, L_cycles=2, pos="rope",
                          puzzle_ndim=32, num_puzzles=3, prefix=2, seq_len=9, vocab=11),
    "trm_mlp_t": dict(kind="trm", trm=True, mlp_t=True, hidden=32, heads=4, L_layers=2, H_cycles=3, L_cycles=2,
                      pos="none", puzzle_ndim=32, num_puzzles=3, prefix=4, seq_len=9, vocab=11),
    # TRM's Sudoku setting: mlp_t, learned positions, one halt logit (no_ACT_continue)
    "trm_mlp_t_learned_one_logit": dict(kind="trm", trm=True, mlp_t=True, one_logit=True, hidden=32, heads=4, L_layers=1,
                                        H_cycles=2, L_cycles=3, pos="learned", puzzle_ndim=48, num_puzzles=3, prefix=2,
                                        seq_len=9, vocab=11),
}


def _config(case: dict) -> dict:
    c = dict(case)
    c.setdefault("prefix", -(-c["puzzle_ndim"] // c["hidden"]))
    return c


def _arch(c: dict) -> dict:
    arch = {"H_cycles": c["H_cycles"], "L_cycles": c["L_cycles"], "L_layers": c["L_layers"], "hidden_size": c["hidden"],
            "num_heads": c["heads"], "expansion": 4, "puzzle_emb_ndim": c["puzzle_ndim"], "pos_encodings": c["pos"],
            "halt_max_steps": 4, "halt_exploration_prob": 0.1,
            "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}}
    if c["kind"] == "hrm":
        arch.update(name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", H_layers=c["H_layers"])
    else:  # no_ACT_continue false: both Q logits are read, as HRM's; true: the halt logit only
        arch.update(name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", H_layers=0,
                    mlp_t=bool(c.get("mlp_t")), puzzle_emb_len=c["prefix"], no_ACT_continue=bool(c.get("one_logit")))
    return arch


def imported_and_original(name: str, tmp_path):
    c = _config(CASES[name])
    weights = random_original_state_dict(c, torch.Generator().manual_seed(5))
    torch.save({PREFIX + k: v for k, v in weights.items()}, tmp_path / "step_10")
    (tmp_path / "all_config.yaml").write_text(yaml.safe_dump({"arch": _arch(c)}))
    load = import_hrm if c["kind"] == "hrm" else import_trm
    model = load(tmp_path / "step_10", tmp_path / "all_config.yaml", {"seq_len": c["seq_len"]}).double()
    return model, {k: v.double() for k, v in weights.items()}, c


def _batch(c: dict, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"inputs": torch.randint(0, c["vocab"], (3, c["seq_len"]), generator=g), "puzzle_identifiers": torch.tensor([2, 0, 1])}


def worst_disagreement(model, w, c) -> dict[str, float]:
    """Two segments of the zoo model and of the restatement: the largest |difference| of each output."""
    segment = hrm_segment if c["kind"] == "hrm" else trm_segment
    y_key, z_key = ("z_H", "z_L") if c["kind"] == "hrm" else ("y", "z")
    z_H, z_L = initial_carry(w, 3, c["seq_len"] + c["prefix"])
    state, worst = None, {}
    for seed in (0, 1):
        batch = _batch(c, seed)
        with torch.no_grad():
            out = model(batch, state)
            z_H, z_L, logits, q_halt, q_continue = segment(w, c, batch["inputs"], batch["puzzle_identifiers"], z_H, z_L)
        state = out.state
        q = q_halt[..., None] if c.get("one_logit") else torch.stack([q_halt, q_continue], -1)
        for what, got, want in (("logits", out.logits, logits), ("halt logits", out.halt_logits, q),
                                (y_key, state[y_key], z_H), (z_key, state[z_key], z_L)):
            assert got.shape == want.shape, what
            worst[what] = max(worst.get(what, 0.0), float((got - want).abs().max()))
    return worst


@pytest.mark.parametrize("name", list(CASES))
def test_the_imported_model_computes_the_originals_forward_in_float64(name, tmp_path):
    model, w, c = imported_and_original(name, tmp_path)
    assert next(model.parameters()).dtype == torch.float64
    worst = worst_disagreement(model, w, c)
    assert all(v <= TOL for v in worst.values()), worst


def test_trm_mlp_t_is_normalised_over_the_sequence_not_the_hidden_axis(tmp_path):
    """The same imported weights in the zoo's hidden-axis form are another function:
    the restatement tells the two apart, by far more than the tolerance."""
    model, w, c = imported_and_original("trm_mlp_t", tmp_path)
    assert model.cfg.l_block.token_norm == "sequence"
    hidden = build_model(model.recipe.model_dump(), ["model.l_block.token_norm=hidden"], dtype="float64")
    hidden.load_state_dict(model.state_dict())
    assert worst_disagreement(hidden, w, c)["logits"] > 1e-2
