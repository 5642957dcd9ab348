"""A local block for square grids: a k x k convolution over the cells, then a channel SwiGLU.

Mazes are solved by local rules iterated (dead-end filling leaves the path), and
recurrent convolutional nets learn them and extrapolate with more iterations
(Schwarzschild et al. 2021, "Deep Thinking"; Bansal et al. 2022). The HRM/TRM
recurrence supplies the iterations; this block supplies the locality that a
token-mixing MLP or attention has to learn. The S positions are the cells of a
side x side grid in row-major order (`hrmzoo.data.maze`'s layout). Each layer is
post-norm, like the zoo's other blocks:

    x = norm(x + conv(x));  x = norm(x + swiglu(x))

with `conv` either a full k x k convolution (`conv: full`) or a depthwise k x k
convolution followed by a pointwise (1 x 1) one (`conv: separable`); no biases.
Zero padding keeps the grid's size, so the border is visible to every cell
next to it and no position encoding is needed.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from hrmzoo.blocks.base import Block, BlockConfig, swiglu_inner
from hrmzoo.errors import RecipeError
from hrmzoo.layers import RmsNorm, SwiGLU, lecun_init_
from hrmzoo.layers.init import float32_lecun_normal_
from hrmzoo.registry import register


class ConvBlockConfig(BlockConfig):
    """Convolutional block over a square grid of positions.

    Attributes:
        kernel_size: side of the square convolution kernel (odd, so padding keeps the grid).
        conv: `full` (a k x k convolution over all channels) or `separable` (depthwise
            k x k, then a 1 x 1 convolution over channels).
        expansion: channel SwiGLU width factor: the inner width is `expansion * D * 2/3`
            rounded up to a multiple of `mlp_multiple` (HRM's rule with 256).
        mlp_multiple: the multiple the SwiGLU width is rounded up to. HRM's 256 suits
            large hidden sizes; at D = 64 on one CPU thread it makes the SwiGLU 3x the cost
            of the 3x3 convolution (35 vs 11 ms forward and backward, batch 32 of 15x15),
            so a small CPU recipe rounds to 8 instead.
        norm_eps: RMSNorm epsilon.
    """

    num_layers: int = 2
    kernel_size: int = Field(3, ge=1)
    conv: Literal["full", "separable"] = "full"
    expansion: float = Field(4.0, gt=0)
    mlp_multiple: int = Field(256, ge=1)
    norm_eps: float = Field(1e-5, gt=0)

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding keeps the grid's size (got {v})")
        return v


def grid_side(seq_len: int, num_prefix: int) -> int:
    """The side of the square grid the block lays `seq_len` positions on.

    Raises:
        RecipeError: a puzzle-embedding prefix (no cell to put it in), or a
            non-square number of positions.
    """
    if num_prefix:
        raise RecipeError(
            f"model.puzzle_emb_ndim: block 'conv' lays the positions on a square grid and has no cell for the "
            f"{num_prefix} puzzle-embedding prefix position(s); set model.puzzle_emb_ndim: 0"
        )
    side = math.isqrt(seq_len)
    if side * side != seq_len:
        raise RecipeError(f"model.seq_len: block 'conv' needs a square grid of positions, and {seq_len} is not a square")
    return side


class ConvLayer(nn.Module):
    def __init__(self, hidden: int, cfg: ConvBlockConfig):
        super().__init__()
        pad = cfg.kernel_size // 2
        if cfg.conv == "full":
            self.conv = nn.Conv2d(hidden, hidden, cfg.kernel_size, padding=pad, bias=False)
        else:
            self.conv = nn.Sequential(nn.Conv2d(hidden, hidden, cfg.kernel_size, padding=pad, groups=hidden, bias=False),
                                      nn.Conv2d(hidden, hidden, 1, bias=False))
        self.mlp = SwiGLU(hidden, 2 * swiglu_inner(hidden, cfg.expansion, cfg.mlp_multiple), bias=False)
        self.norm1 = RmsNorm(hidden, eps=cfg.norm_eps)
        self.norm2 = RmsNorm(hidden, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor, side: int) -> torch.Tensor:
        B, S, D = x.shape
        # [B, S, D] viewed as an NCHW tensor in channels-last memory: no copy in, and
        # the CPU convolution kernels take channels-last directly
        grid = x.reshape(B, side, side, D).permute(0, 3, 1, 2)
        mixed = self.conv(grid).permute(0, 2, 3, 1).reshape(B, S, D)
        x = self.norm1(x + mixed)
        return self.norm2(x + self.mlp(x))


@register("block", "conv", config=ConvBlockConfig, sizes=('hidden_size', 'seq_len', 'num_prefix'))
class ConvBlock(Block):
    """k x k convolution over a square grid of cells, then a channel SwiGLU (post-norm): a local block for mazes."""

    def __init__(self, cfg: ConvBlockConfig, *, hidden_size: int, seq_len: int, num_prefix: int = 0):
        """Args: `cfg`; `hidden_size` D; `seq_len` positions, prefix included (a square number);
        `num_prefix` puzzle-embedding positions (must be 0: the grid has no cell for them)."""
        super().__init__()
        self.side = grid_side(seq_len, num_prefix)
        self.hidden = hidden_size
        self.layers = nn.ModuleList(ConvLayer(hidden_size, cfg) for _ in range(cfg.num_layers))
        lecun_init_(self)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                float32_lecun_normal_(m.weight)  # timm's lecun_normal_: std 1/sqrt(fan_in), fan_in = in_channels/groups x k x k, as the Linears

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, self.side)
        return x

    def flops_per_token(self, seq_len: int) -> float:
        """Forward FLOPs per token: 2 x parameters per layer (each convolution weight is
        applied once per output cell; the zero padding at the border is counted as work)."""
        return sum(2 * sum(p.numel() for p in layer.parameters()) for layer in self.layers)
