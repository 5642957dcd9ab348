"""An independent oracle for HRM: the forward pass re-stated from the paper
(arXiv 2506.21734) and the original code's semantics, as plain functions of a
weight dict, applied to a zoo model's weights in float64.

Nothing here imports hrmzoo's blocks, couplings, embeddings or heads: only the
weights are shared. What it states, with the original's formulas:

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

import math

import pytest
import torch
import torch.nn.functional as F

from hrmzoo import build_model

EPS = 1e-5


def rms(x):
    return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + EPS)


def rope_tables(head_dim, seq_len, theta):
    # computed in float32 as the original does, then used at the model's dtype
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().double(), emb.sin().double()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def attention(h, w_qkv, w_o, heads, cos_sin):
    B, S, D = h.shape
    d = D // heads
    qkv = (h @ w_qkv.T).view(B, S, 3 * heads, d)
    q, k, v = qkv[:, :, :heads], qkv[:, :, heads : 2 * heads], qkv[:, :, 2 * heads :]
    if cos_sin is not None:
        cos, sin = cos_sin
        q = q * cos.unsqueeze(-2) + rotate_half(q) * sin.unsqueeze(-2)
        k = k * cos.unsqueeze(-2) + rotate_half(k) * sin.unsqueeze(-2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
    return (att @ v).transpose(1, 2).reshape(B, S, D) @ w_o.T


def swiglu(h, w_gate_up, w_down):
    gate, up = (h @ w_gate_up.T).chunk(2, dim=-1)
    return (F.silu(gate) * up) @ w_down.T


def reasoning_module(w, level, layers, heads, h, injection, cos_sin):
    h = h + injection
    for i in range(layers):
        p = f"{level}.{i}."
        h = rms(h + attention(h, w[p + "qkv"], w[p + "o"], heads, cos_sin))
        h = rms(h + swiglu(h, w[p + "gate_up"], w[p + "down"]))
    return h


def hrm_segment(w, cfg, inputs, puzzle_ids, z_H, z_L):
    """One HRM segment from carried states: (new z_H, new z_L, logits, q_halt, q_continue)."""
    D, P = cfg["hidden"], cfg["prefix"]
    emb = w["embed_tokens"][inputs]
    if P:
        rows = w["puzzle_emb"][puzzle_ids]
        rows = F.pad(rows, (0, P * D - rows.shape[-1]))
        emb = torch.cat((rows.view(-1, P, D), emb), dim=-2)
    if cfg["pos"] == "learned":
        emb = (1 / math.sqrt(2)) * (emb + w["embed_pos"])
    x = math.sqrt(D) * emb
    cos_sin = rope_tables(D // cfg["heads"], x.shape[1], 10000.0) if cfg["pos"] == "rope" else None
    L = lambda z_L, ctx: reasoning_module(w, "L", cfg["L_layers"], cfg["heads"], z_L, ctx, cos_sin)  # noqa: E731
    H = lambda z_H, msg: reasoning_module(w, "H", cfg["H_layers"], cfg["heads"], z_H, msg, cos_sin)  # noqa: E731
    with torch.no_grad():
        for h_step in range(cfg["H_cycles"]):
            for l_step in range(cfg["L_cycles"]):
                if not (h_step == cfg["H_cycles"] - 1 and l_step == cfg["L_cycles"] - 1):
                    z_L = L(z_L, z_H + x)
            if h_step != cfg["H_cycles"] - 1:
                z_H = H(z_H, z_L)
    z_L = L(z_L, z_H + x)
    z_H = H(z_H, z_L)
    logits = (z_H @ w["lm_head"].T)[:, P:]
    q = z_H[:, 0] @ w["q_head_w"].T + w["q_head_b"]
    return z_H, z_L, logits, q[..., 0], q[..., 1]


def oracle_weights(model, cfg) -> dict[str, torch.Tensor]:
    """The zoo's weights under the oracle's names (the same tensors, so gradients land on them)."""
    sd = dict(model.named_parameters())
    w = {
        "embed_tokens": sd["embedding.tokens.weight"],
        "lm_head": sd["head.proj.weight"],
        "q_head_w": sd["halting.head.weight"],
        "q_head_b": sd["halting.head.bias"],
    }
    if "embedding.puzzle_emb" in sd:
        w["puzzle_emb"] = sd["embedding.puzzle_emb"]
    if "embedding.positions" in sd:
        w["embed_pos"] = sd["embedding.positions"]
    for level, block, n in (("L", "l_block", cfg["L_layers"]), ("H", "h_block", cfg["H_layers"])):
        for i in range(n):
            p = f"{block}.layers.{i}."
            w[f"{level}.{i}.qkv"] = sd[p + "attn.qkv.weight"]
            w[f"{level}.{i}.o"] = sd[p + "attn.proj.weight"]
            w[f"{level}.{i}.gate_up"] = sd[p + "mlp.fc1.weight"]
            w[f"{level}.{i}.down"] = sd[p + "mlp.fc2.weight"]
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
