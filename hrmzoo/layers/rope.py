"""1-D rotary position embedding over the flattened sequence.

timm's rotary classes assume 2-D image grids; HRM rotates by the flattened 1-D
position, which is a few lines of its own.
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding1d(nn.Module):
    """Precomputed cos/sin tables for positions 0..seq_len-1 (non-persistent buffers).

    The rotate-half form `x * cos + rotate_half(x) * sin` is computed as
    `x * cos + roll(x, Dh/2) * sin_signed` where `sin_signed` carries the sign
    of the first half: one roll instead of a chunk, a negation and a concat.
    Tables are cached per dtype so bf16 autocast does not cast them on every call.
    """

    def __init__(self, head_dim: int, seq_len: int, theta: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head dimension, got {head_dim}")
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)  # [S, head_dim]: rotate-half layout
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        sign = torch.ones(head_dim)
        sign[: head_dim // 2] = -1
        self.register_buffer("sin_signed", emb.sin() * sign, persistent=False)
        self._cast: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos, self.sin

    def tables(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin_signed) in `like`'s dtype and device, cast once and cached."""
        if like.dtype == self.cos.dtype:
            return self.cos, self.sin_signed
        if torch.compiler.is_compiling():  # a compiled graph folds the cast itself
            return self.cos.to(like.dtype), self.sin_signed.to(like.dtype)
        hit = self._cast.get(like.dtype)
        if hit is None:
            hit = self._cast[like.dtype] = (self.cos.to(like.dtype), self.sin_signed.to(like.dtype))
        return hit

    def _apply(self, fn, recurse=True):
        self._cast = {}  # the buffers move or change dtype: cached casts are stale
        return super()._apply(fn, recurse)

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate `x` [..., S, Dh] by position (q and k may be stacked in front)."""
        cos, sin_signed = self.tables(x)
        return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), sin_signed)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x` [B, H, S, Dh] by position; tables [S, Dh] are cast to x's dtype.

    The reference form; `RotaryEmbedding1d.rotate` computes the same in fewer kernels.
    """
    cos = cos.to(x.dtype)
    sin = sin.to(x.dtype)
    return x * cos + _rotate_half(x) * sin
