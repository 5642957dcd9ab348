"""1-D rotary position embedding over the flattened sequence.

timm's rotary classes assume 2-D image grids; HRM rotates by the flattened 1-D
position, which is a few lines of its own.
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding1d(nn.Module):
    """Precomputed cos/sin tables for positions 0..seq_len-1 (non-persistent buffers)."""

    def __init__(self, head_dim: int, seq_len: int, theta: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)  # [S, head_dim]: rotate-half layout
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos, self.sin


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [B, H, S, Dh] by position; tables [S, Dh] are cast to x's dtype."""
    cos = cos.to(x.dtype)
    sin = sin.to(x.dtype)
    return x * cos + _rotate_half(x) * sin
