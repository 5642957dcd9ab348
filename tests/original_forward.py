"""The original HRM and TRM forward passes, re-stated as plain torch functions of a state
dict in the originals' own key layout (`L_level.layers.0.self_attn.qkv_proj.weight`, ...).

Written from the originals' code (sapientinc/HRM `models/hrm/hrm_act_v1.py`, `models/layers.py`;
SamsungSAILMontreal/TinyRecursiveModels `models/recursive_reasoning/trm.py`, `models/layers.py`),
restated rather than copied, and importing nothing of hrmzoo: the zoo's import is tested against
it (tests/test_original_forward.py), and the zoo's HRM modules through the same functions
(tests/test_hrm_oracle.py). Everything runs at the weights' dtype (float64 in the tests); the
originals' casts to their forward dtype are left out, the arithmetic is theirs:

- input: token rows, then (with a puzzle table) the puzzle row zero-padded to P x D and put in
  front as P prefix positions; with learned positions `(e + pos) / sqrt 2` (the original writes
  0.707106781 and multiplies at its float32/bfloat16 forward dtype, where that literal is
  1/sqrt 2 exactly); then everything times sqrt(D);
- block: post-norm, no gain, eps 1e-5: `h = rms(h + mix(h)); h = rms(h + swiglu(h))` where
  mix is attention (fused qkv laid out q heads | k heads | v heads, rotate-half RoPE on q and k
  with tables computed in float32, no mask) or, for TRM's `mlp_t`, a SwiGLU over the sequence:
  transpose to (B, D, S), `rms(h + swiglu_t(h))` normalised over the sequence axis while still
  transposed, transpose back;
- reasoning module: `h = h + injection`, then its layers;
- HRM segment: H_cycles x L_cycles updates, all without gradient but the last L and the last H
  (L reads z_H + x, H reads z_L); TRM segment: H_cycles rounds of L_cycles latent updates
  z_L <- net(z_L, z_H + x) and one answer update z_H <- net(z_H, z_L) with the one shared
  network, all rounds but the last without gradient;
- outputs: `lm_head(z_H)[:, P:]`; Q logits `q_head(z_H[:, 0])` (halt, continue); the carried
  states are z_H and z_L after the segment; a halted sample restarts from H_init / L_init.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


def inner_width(width: int, expansion: float) -> int:
    """The originals' SwiGLU inner width: round(expansion * width * 2/3) up to a multiple of 256."""
    return -(-round(expansion * width * 2 / 3) // 256) * 256


def block(w, prefix, h, heads, cos_sin):
    """One post-norm layer `prefix` (e.g. `L_level.layers.0.`): attention, or TRM's mlp_t."""
    if prefix + "mlp_t.gate_up_proj.weight" in w:
        t = h.transpose(1, 2)
        t = rms(t + swiglu(t, w[prefix + "mlp_t.gate_up_proj.weight"], w[prefix + "mlp_t.down_proj.weight"]))
        h = t.transpose(1, 2)
    else:
        h = rms(h + attention(h, w[prefix + "self_attn.qkv_proj.weight"], w[prefix + "self_attn.o_proj.weight"], heads, cos_sin))
    return rms(h + swiglu(h, w[prefix + "mlp.gate_up_proj.weight"], w[prefix + "mlp.down_proj.weight"]))


def reasoning_module(w, level, layers, heads, h, injection, cos_sin):
    h = h + injection
    for i in range(layers):
        h = block(w, f"{level}_level.layers.{i}.", h, heads, cos_sin)
    return h


def input_embeddings(w, cfg, inputs, puzzle_ids):
    D, P = cfg["hidden"], cfg["prefix"]
    emb = w["embed_tokens.embedding_weight"][inputs]
    if "puzzle_emb.weights" in w:
        rows = w["puzzle_emb.weights"][puzzle_ids]
        rows = F.pad(rows, (0, P * D - rows.shape[-1]))
        emb = torch.cat((rows.view(-1, P, D), emb), dim=-2)
    if cfg["pos"] == "learned":
        emb = (1 / math.sqrt(2)) * (emb + w["embed_pos.embedding_weight"])
    return math.sqrt(D) * emb


def _rope(cfg, seq):
    return rope_tables(cfg["hidden"] // cfg["heads"], seq, cfg.get("rope_theta", 10000.0)) if cfg["pos"] == "rope" else None


def _outputs(w, z_H, P):
    logits = (z_H @ w["lm_head.weight"].T)[:, P:]
    q = z_H[:, 0] @ w["q_head.weight"].T + w["q_head.bias"]
    return logits, q


def initial_carry(w, batch_size, seq):
    """A halted sample's states: H_init and L_init broadcast over the positions."""
    shape = (batch_size, seq, w["H_init"].shape[-1])
    return w["H_init"].expand(shape), w["L_init"].expand(shape)


def hrm_segment(w, cfg, inputs, puzzle_ids, z_H, z_L):
    """One HRM segment from carried states: (new z_H, new z_L, logits, q_halt, q_continue)."""
    x = input_embeddings(w, cfg, inputs, puzzle_ids)
    cos_sin = _rope(cfg, x.shape[1])
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
    logits, q = _outputs(w, z_H, cfg["prefix"])
    return z_H, z_L, logits, q[..., 0], q[..., 1]


def trm_segment(w, cfg, inputs, puzzle_ids, z_H, z_L):
    """One TRM segment (one shared L_level network): (new z_H, new z_L, logits, q_halt, q_continue)."""
    x = input_embeddings(w, cfg, inputs, puzzle_ids)
    cos_sin = _rope(cfg, x.shape[1])
    net = lambda h, inj: reasoning_module(w, "L", cfg["L_layers"], cfg["heads"], h, inj, cos_sin)  # noqa: E731
    with torch.no_grad():
        for _ in range(cfg["H_cycles"] - 1):
            for _ in range(cfg["L_cycles"]):
                z_L = net(z_L, z_H + x)
            z_H = net(z_H, z_L)
    for _ in range(cfg["L_cycles"]):
        z_L = net(z_L, z_H + x)
    z_H = net(z_H, z_L)
    logits, q = _outputs(w, z_H, cfg["prefix"])
    return z_H, z_L, logits, q[..., 0], q[..., 1]


def random_original_state_dict(cfg, gen, dtype=torch.float32):
    """Random weights in the original's key layout and shapes (from its constructors), with
    non-zero puzzle rows and Q head so that no part of the computation hides; float32 as the
    original saves them (so float64 copies of them are exact)."""
    D, P, S, V = cfg["hidden"], cfg["prefix"], cfg["seq_len"], cfg["vocab"]
    expansion = cfg.get("expansion", 4.0)

    def normal(*shape, std):
        return (std * torch.randn(*shape, generator=gen, dtype=torch.float64)).to(dtype)

    def linear(out_f, in_f):
        return normal(out_f, in_f, std=in_f**-0.5)

    w = {"embed_tokens.embedding_weight": normal(V, D, std=D**-0.5), "lm_head.weight": linear(V, D),
         "q_head.weight": normal(2, D, std=0.1), "q_head.bias": normal(2, std=0.5),
         "H_init": normal(D, std=1.0), "L_init": normal(D, std=1.0)}
    if cfg.get("puzzle_ndim"):
        w["puzzle_emb.weights"] = normal(cfg["num_puzzles"], cfg["puzzle_ndim"], std=0.5)
    if cfg["pos"] == "learned":
        w["embed_pos.embedding_weight"] = normal(S + P, D, std=D**-0.5)
    inner = inner_width(D, expansion)
    for level in ("L",) if cfg.get("trm") else ("L", "H"):  # TRM: one shared L_level network
        for i in range(cfg[f"{level}_layers"]):
            p = f"{level}_level.layers.{i}."
            if cfg.get("mlp_t"):
                token_inner = inner_width(S + P, expansion)
                w[p + "mlp_t.gate_up_proj.weight"] = linear(2 * token_inner, S + P)
                w[p + "mlp_t.down_proj.weight"] = linear(S + P, token_inner)
            else:
                w[p + "self_attn.qkv_proj.weight"] = linear(3 * D, D)
                w[p + "self_attn.o_proj.weight"] = linear(D, D)
            w[p + "mlp.gate_up_proj.weight"] = linear(2 * inner, D)
            w[p + "mlp.down_proj.weight"] = linear(D, inner)
    return w
