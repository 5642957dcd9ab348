"""HRM's block: non-causal post-norm transformer layers.

Each layer computes `h = norm(h + attn(h)); h = norm(h + swiglu(h))` with
RMSNorm without gain (in float32), no biases, fused QKV and fused gate/up
projections, and attention through `hrmzoo.layers.attention` (SDPA, or its plain
form where that is measured faster).
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import rearrange
from pydantic import Field
from torch import nn

from hrmzoo.blocks.base import Block, BlockConfig, swiglu_inner
from hrmzoo.layers import RmsNorm, RotaryEmbedding1d, SwiGLU, attention, lecun_init_
from hrmzoo.layers.fastpath import inplace_ok
from hrmzoo.registry import register


class TransformerBlockConfig(BlockConfig):
    """Post-norm transformer block.

    Attributes:
        num_heads: attention heads; hidden_size must divide by it.
        expansion: SwiGLU width factor before the 2/3 and round-to-256 rule.
        norm_eps: RMSNorm epsilon.
    """

    num_heads: int = Field(8, gt=0)
    expansion: float = Field(4.0, gt=0)
    norm_eps: float = Field(1e-5, gt=0)


class Attention(nn.Module):
    """Multi-head self-attention, fused QKV, optional 1-D RoPE, no bias."""

    def __init__(self, hidden: int, num_heads: int, rope: RotaryEmbedding1d | None):
        super().__init__()
        if hidden % num_heads:
            raise ValueError(f"hidden_size {hidden} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
        self.proj = nn.Linear(hidden, hidden, bias=False)
        self.rope = rope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rope is not None:
            # the split and the rotation in one pass: q and k come out rotated, in [B, H, S, Dh]
            q, k, v = self.rope.split_qkv(self.qkv(x), self.num_heads)
        else:
            q, k, v = rearrange(self.qkv(x), "b s (three h d) -> three b h s d", three=3, h=self.num_heads).unbind(0)
        out = attention(q, k, v)  # the kernel measured fastest for this device, dtype and grad mode
        return self.proj(rearrange(out, "b h s d -> b s (h d)"))


class TransformerLayer(nn.Module):
    def __init__(self, hidden: int, cfg: TransformerBlockConfig, rope: RotaryEmbedding1d | None):
        super().__init__()
        self.attn = Attention(hidden, cfg.num_heads, rope)
        self.mlp = SwiGLU(hidden, 2 * swiglu_inner(hidden, cfg.expansion), bias=False)  # timm's SwiGLUPacked, fewer passes
        self.norm1 = RmsNorm(hidden, eps=cfg.norm_eps)
        self.norm2 = RmsNorm(hidden, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if inplace_ok(x):
            # no autograd (HRM's no-gradient cycles): each residual sum and its norm reuse the
            # sublayer's fresh output buffer; the same values bit for bit
            h = self.norm1.add_into_(self.attn(x), x)
            return self.norm2.add_into_(self.mlp(h), h)
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


@register("block", "transformer", config=TransformerBlockConfig, sizes=('hidden_size', 'seq_len', 'pos_encoding', 'rope_theta'))
class TransformerBlock(Block):
    """Post-norm transformer (attention + SwiGLU + RMSNorm), HRM's L- and H-block."""

    def __init__(self, cfg: TransformerBlockConfig, *, hidden_size: int, seq_len: int, pos_encoding: str = "none", rope_theta: float = 10000.0):
        """Args: `cfg`; `hidden_size` D; `seq_len` positions, prefix included (the RoPE table);
        `pos_encoding` (`rope` rotates queries and keys, anything else adds nothing here); `rope_theta`."""
        super().__init__()
        D = hidden_size
        if D % cfg.num_heads:
            raise ValueError(f"hidden_size {D} is not divisible by num_heads {cfg.num_heads}")
        rope = None
        if pos_encoding == "rope":
            rope = RotaryEmbedding1d(D // cfg.num_heads, seq_len, rope_theta)
        self.hidden = D
        self.layers = nn.ModuleList(TransformerLayer(D, cfg, rope) for _ in range(cfg.num_layers))
        lecun_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token: 2 x parameters + attention 2 x 2 x S x D, per layer."""
        per_layer = 4 * seq_len * self.hidden
        return sum(2 * sum(p.numel() for p in layer.parameters()) + per_layer for layer in self.layers)
