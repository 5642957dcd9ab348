"""An independent oracle for HRM: the forward pass re-stated from the paper
(arXiv 2506.21734) and the original code's semantics, as plain functions of a
weight dict, applied to a zoo model's weights in float64.

Nothing here imports hrmzoo's blocks, couplings, embeddings or heads: only the
weights are shared, under the original's key names, with the restatement in
tests/original_forward.py (which tests/test_original_forward.py also runs against
imported checkpoints). What it states, with the original's formulas:

- input: ``sqrt(D) * [puzzle rows ; token vectors]``; with learned positions
  ``sqrt(D) * (e + pos) / sqrt(2)`` (the scale covers the prefix too);
- block: ``h = h + injection``; per layer ``h = rms(h + attn(h)); h = rms(h + swiglu(h))``
  (post-norm, no gain, eps 1e-5), fused qkv laid out (q heads, k heads, v heads),
  rotate-half RoPE on q and k with fp32-computed tables, SwiGLU ``silu(gate) * up``
  with gate the first half of the packed projection;
- segment: H_cycles x L_cycles without gradient except the last L and the last H
  update (the 1-step gradient); L reads ``z_H + x``, H reads ``z_L``;
- outputs: ``lm_head(z_H)[:, P:]``; Q logits ``q_head(z_H[:, 0])`` (halt, continue).
"""

from __future__ import annotations

import pytest
import torch

from hrmzoo import build_model
from tests.original_forward import hrm_segment


def oracle_weights(model, cfg) -> dict[str, torch.Tensor]:
    """The zoo's weights under the original's names (the same tensors, so gradients land on them)."""
    sd = dict(model.named_parameters())
    w = {
        "embed_tokens.embedding_weight": sd["embedding.tokens.weight"],
        "lm_head.weight": sd["head.proj.weight"],
        "q_head.weight": sd["halting.head.weight"],
        "q_head.bias": sd["halting.head.bias"],
    }
    if "embedding.puzzle_emb" in sd:
        w["puzzle_emb.weights"] = sd["embedding.puzzle_emb"]
    if "embedding.positions" in sd:
        w["embed_pos.embedding_weight"] = sd["embedding.positions"]
    for level, block, n in (("L", "l_block", cfg["L_layers"]), ("H", "h_block", cfg["H_layers"])):
        for i in range(n):
            p, o = f"{block}.layers.{i}.", f"{level}_level.layers.{i}."
            w[o + "self_attn.qkv_proj.weight"] = sd[p + "attn.qkv.weight"]
            w[o + "self_attn.o_proj.weight"] = sd[p + "attn.proj.weight"]
            w[o + "mlp.gate_up_proj.weight"] = sd[p + "mlp.fc1.weight"]
            w[o + "mlp.down_proj.weight"] = sd[p + "mlp.fc2.weight"]
    return w


CASES = {
    "rope_one_prefix": dict(hidden=32, heads=4, L_layers=2, H_layers=1, H_cycles=2, L_cycles=3, pos="rope", puzzle_ndim=32),
    "learned_padded_prefix": dict(hidden=32, heads=2, L_layers=1, H_layers=2, H_cycles=3, L_cycles=2, pos="learned", puzzle_ndim=40),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_zoo_hrm_matches_the_functional_oracle_in_float64(case):
    c = dict(CASES[case])
    c["prefix"] = -(-c["puzzle_ndim"] // c["hidden"])
    model = build_model(
        "recipes/hrm_sudoku.yaml",
        [
            f"model.hidden_size={c['hidden']}", "model.seq_len=9", "model.num_puzzle_identifiers=3",
            f"model.puzzle_emb_ndim={c['puzzle_ndim']}", f"model.pos_encoding={c['pos']}",
            f"model.l_block.num_layers={c['L_layers']}", f"model.h_block.num_layers={c['H_layers']}",
            f"model.l_block.num_heads={c['heads']}", f"model.h_block.num_heads={c['heads']}",
            f"model.coupling.h_cycles={c['H_cycles']}", f"model.coupling.l_cycles={c['L_cycles']}",
        ],
        seed=0,
        dtype="float64",
    )
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # zero-initialised tables and Q head would hide mistakes
        model.embedding.puzzle_emb.normal_(0, 0.1, generator=gen)
        model.halting.head.weight.normal_(0, 0.1, generator=gen)
        model.halting.head.bias.normal_(0, 0.1, generator=gen)
    inputs = torch.randint(0, 11, (3, 9), generator=gen)
    pids = torch.tensor([2, 0, 1])
    z_H0 = torch.randn(3, 9 + c["prefix"], c["hidden"], dtype=torch.float64, generator=gen)
    z_L0 = torch.randn(3, 9 + c["prefix"], c["hidden"], dtype=torch.float64, generator=gen)
    r_logits = torch.randn(3, 9, 11, dtype=torch.float64, generator=gen)
    r_q = torch.randn(3, 2, dtype=torch.float64, generator=gen)

    out = model({"inputs": inputs, "puzzle_identifiers": pids}, {"z_H": z_H0, "z_L": z_L0})
    ((out.logits * r_logits).sum() + (out.halt_logits * r_q).sum()).backward()
    zoo_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)

    w = oracle_weights(model, c)
    z_H, z_L, logits, q_halt, q_cont = hrm_segment(w, c, inputs, pids, z_H0, z_L0)
    ((logits * r_logits).sum() + (torch.stack([q_halt, q_cont], -1) * r_q).sum()).backward()
    oracle_grads = {n: p.grad for n, p in model.named_parameters()}

    assert (out.logits - logits).abs().max() <= 1e-10
    assert (out.halt_logits - torch.stack([q_halt, q_cont], -1)).abs().max() <= 1e-10
    assert (out.state["z_H"] - z_H).abs().max() <= 1e-10 and (out.state["z_L"] - z_L).abs().max() <= 1e-10
    assert set(zoo_grads) == set(oracle_grads)
    for name, g in zoo_grads.items():
        assert oracle_grads[name] is not None, name
        assert (g - oracle_grads[name]).abs().max() <= 1e-10 * max(1.0, float(g.abs().max())), name
    # the 1-step gradient reaches every weight, the puzzle rows of the batch included
    assert all(g.abs().sum() > 0 for g in zoo_grads.values())
