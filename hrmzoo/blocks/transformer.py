"""HRM's block: non-causal post-norm transformer layers.

Each layer computes `h = norm(h + attn(h)); h = norm(h + swiglu(h))` with
RMSNorm without gain (in float32), no biases, fused QKV and fused gate/up
projections, and attention through `hrmzoo.layers.attention` (SDPA, or its plain
form where that is measured faster).

`local_conv: k` adds a third sublayer between the two, `h = norm(h + dwconv(h))`:
a depthwise k x k convolution over the token positions laid out as rows of
`grid_width` (a tom2 input is header rows above map rows, each `size` wide).
Attention can fetch any position but must learn geometry from positions; a
line of sight is a local rule repeated along the line, which a convolution
iterated by the recurrence computes directly (issue 27: no attention run
learned what an agent could see).
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from pydantic import Field, field_validator
from torch import nn

from hrmzoo.blocks.base import Block, BlockConfig, swiglu_inner
from hrmzoo.errors import RecipeError
from hrmzoo.layers import RmsNorm, RotaryEmbedding1d, SwiGLU, attention, lecun_init_, trunc_normal_init_
from hrmzoo.layers.fastpath import inplace_ok
from hrmzoo.registry import register


class TransformerBlockConfig(BlockConfig):
    """Post-norm transformer block.

    Attributes:
        num_heads: attention heads; hidden_size must divide by it.
        expansion: SwiGLU width factor before the 2/3 and round-to-256 rule.
        norm_eps: RMSNorm epsilon.
        local_conv: 0 (default: none) or the odd side k of a depthwise k x k convolution, a sublayer
            between attention and the SwiGLU, over the token positions laid out as rows of `grid_width`.
        grid_width: positions per row of that layout (a tom2 input: the map side); needed with `local_conv`.
    """

    num_heads: int = Field(8, gt=0)
    expansion: float = Field(4.0, gt=0)
    norm_eps: float = Field(1e-5, gt=0)
    local_conv: int = Field(0, ge=0)
    grid_width: Optional[int] = Field(None, ge=1)

    @field_validator("local_conv")
    @classmethod
    def _odd_or_zero(cls, v: int) -> int:
        if v and v % 2 == 0:
            raise ValueError("local_conv must be 0 or odd so that padding keeps the layout's size")
        return v


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


class LocalConv(nn.Module):
    """Depthwise k x k convolution over positions `num_prefix:` laid out as rows of `width`; zero at the prefix."""

    def __init__(self, hidden: int, k: int, width: int, num_prefix: int):
        super().__init__()
        self.width, self.num_prefix = width, num_prefix
        self.conv = nn.Conv2d(hidden, hidden, k, padding=k // 2, groups=hidden, bias=False)
        trunc_normal_init_(self.conv.weight, std=1.0 / math.sqrt(k * k))  # LeCun: fan_in of a depthwise kernel is k * k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, D = x.shape
        P = self.num_prefix
        grid = x[:, P:].reshape(B, -1, self.width, D).permute(0, 3, 1, 2)
        mixed = self.conv(grid).permute(0, 2, 3, 1).reshape(B, S - P, D)
        return F.pad(mixed, (0, 0, P, 0)) if P else mixed


class TransformerLayer(nn.Module):
    def __init__(self, hidden: int, cfg: TransformerBlockConfig, rope: RotaryEmbedding1d | None, local: Optional[tuple[int, int]] = None):
        """`local`: (grid_width, num_prefix) when `cfg.local_conv` adds the convolution sublayer."""
        super().__init__()
        self.attn = Attention(hidden, cfg.num_heads, rope)
        self.local = LocalConv(hidden, cfg.local_conv, *local) if cfg.local_conv else None
        self.norm_local = RmsNorm(hidden, eps=cfg.norm_eps) if cfg.local_conv else None
        self.mlp = SwiGLU(hidden, 2 * swiglu_inner(hidden, cfg.expansion), bias=False)  # timm's SwiGLUPacked, fewer passes
        self.norm1 = RmsNorm(hidden, eps=cfg.norm_eps)
        self.norm2 = RmsNorm(hidden, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if inplace_ok(x):
            # no autograd (HRM's no-gradient cycles): each residual sum and its norm reuse the
            # sublayer's fresh output buffer; the same values bit for bit
            h = self.norm1.add_into_(self.attn(x), x)
            if self.local is not None:
                h = self.norm_local.add_into_(self.local(h), h)
            return self.norm2.add_into_(self.mlp(h), h)
        x = self.norm1(x + self.attn(x))
        if self.local is not None:
            x = self.norm_local(x + self.local(x))
        return self.norm2(x + self.mlp(x))


@register("block", "transformer", config=TransformerBlockConfig, sizes=('hidden_size', 'seq_len', 'pos_encoding', 'rope_theta', 'num_prefix'))
class TransformerBlock(Block):
    """Post-norm transformer (attention + SwiGLU + RMSNorm), HRM's L- and H-block."""

    def __init__(self, cfg: TransformerBlockConfig, *, hidden_size: int, seq_len: int, pos_encoding: str = "none", rope_theta: float = 10000.0,
                 num_prefix: int = 0):
        """Args: `cfg`; `hidden_size` D; `seq_len` positions, prefix included (the RoPE table);
        `pos_encoding` (`rope` rotates queries and keys, anything else adds nothing here); `rope_theta`;
        `num_prefix` puzzle-embedding positions (outside the `local_conv` layout)."""
        super().__init__()
        D = hidden_size
        if D % cfg.num_heads:
            raise ValueError(f"hidden_size {D} is not divisible by num_heads {cfg.num_heads}")
        rope = None
        if pos_encoding == "rope":
            rope = RotaryEmbedding1d(D // cfg.num_heads, seq_len, rope_theta)
        local = None
        if cfg.local_conv:
            tokens = seq_len - num_prefix
            if cfg.grid_width is None or tokens % cfg.grid_width:
                raise RecipeError(f"block transformer: local_conv lays the {tokens} token positions out as rows of grid_width "
                                  f"({cfg.grid_width}), which must divide them; set grid_width (tom2: the map side, data.size)")
            local = (cfg.grid_width, num_prefix)
        self.hidden = D
        self.layers = nn.ModuleList(TransformerLayer(D, cfg, rope, local) for _ in range(cfg.num_layers))
        lecun_init_(self)  # the Linears; each convolution drew its own LeCun weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token: 2 x parameters + attention 2 x 2 x S x D, per layer."""
        per_layer = 4 * seq_len * self.hidden
        return sum(2 * sum(p.numel() for p in layer.parameters()) + per_layer for layer in self.layers)
