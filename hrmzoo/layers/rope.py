"""1-D rotary position embedding over the flattened sequence.

timm's rotary classes assume 2-D image grids; HRM rotates by the flattened 1-D
position, which is a few lines of its own.
"""

from __future__ import annotations

import torch
from torch import nn

from hrmzoo.layers.fastpath import fused_backward_ok


class RotaryEmbedding1d(nn.Module):
    """Precomputed cos/sin tables for positions 0..seq_len-1 (non-persistent buffers).

    The rotate-half form `x * cos + rotate_half(x) * sin` is computed on the two
    halves of the head dimension, written straight into one output buffer:
    `out1 = x1 cos - x2 sin`, `out2 = x2 cos + x1 sin` (four half-size kernels; the
    former `roll`-based form spent most of its time in the `cat` that `roll` runs on
    the CPU). Its backward is the rotation by the opposite angle, so it has a
    hand-written gradient of the same four kernels. Tables are cached per dtype so
    bf16 autocast does not cast them on every call.
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
        # [S, head_dim / 2]: both halves of the rotate-half tables are the same
        self.register_buffer("cos_half", freqs.cos(), persistent=False)
        self.register_buffer("sin_half", freqs.sin(), persistent=False)
        self._cast: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos, self.sin

    def tables(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos_half, sin_half) [S, Dh/2] in `like`'s dtype and device, cast once and cached."""
        if like.dtype == self.cos_half.dtype:
            return self.cos_half, self.sin_half
        if torch.compiler.is_compiling():  # a compiled graph folds the cast itself
            return self.cos_half.to(like.dtype), self.sin_half.to(like.dtype)
        hit = self._cast.get(like.dtype)
        if hit is None:
            hit = self._cast[like.dtype] = (self.cos_half.to(like.dtype), self.sin_half.to(like.dtype))
        return hit

    def _apply(self, fn, recurse=True):
        self._cast = {}  # the buffers move or change dtype: cached casts are stale
        return super()._apply(fn, recurse)

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate `x` [..., S, Dh] by position (q and k may be stacked in front); any strides.

        Returns a new contiguous tensor of `x`'s shape.
        """
        cos, sin = self.tables(x)
        if torch.compiler.is_compiling():  # let the compiler fuse the plain formula
            return rotate_halves(x, cos, sin)
        return _RotateHalves.apply(x, cos, sin)

    def split_qkv(self, qkv: torch.Tensor, num_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v [B, H, S, Dh] from a fused projection [B, S, 3 * H * Dh], q and k rotated.

        q and k are read through a strided view and written once, rotated and contiguous,
        in the layout attention wants (no separate transpose copy); v stays a view, or is
        copied contiguous when autograd records (`_SplitRotateQkv`, whose backward then writes
        qkv's gradient in one buffer).
        """
        if qkv.requires_grad and torch.is_grad_enabled() and fused_backward_ok():
            # autograd would assemble qkv's gradient from zero-filled [3, B, H, S, Dh] buffers
            # (the select / slice / unbind backwards), added and copied; this writes it once
            return _SplitRotateQkv.apply(qkv, *self.tables(qkv), num_heads)
        heads = qkv.unflatten(-1, (3, num_heads, -1)).permute(2, 0, 3, 1, 4)  # [3, B, H, S, Dh] view
        q, k = self.rotate(heads[:2]).unbind(0)
        return q, k, heads[2]


def rotate_halves(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The rotate-half rotation on the halves of the last dimension: (x1 c - x2 s, x2 c + x1 s).

    `cos`, `sin`: [S, Dh/2]. Plain differentiable ops (the form the compiler fuses).
    """
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def _rotate_into(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    half = x.shape[-1] // 2
    if out is None:
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    x1, x2 = x[..., :half], x[..., half:]
    o1, o2 = out[..., :half], out[..., half:]
    torch.mul(x1, cos, out=o1)
    o1.addcmul_(x2, sin, value=-1)
    torch.mul(x2, cos, out=o2)
    o2.addcmul_(x1, sin)
    return out


class _RotateHalves(torch.autograd.Function):
    """`rotate_halves` in four kernels writing one buffer; the gradient is the inverse rotation."""

    @staticmethod
    def forward(x, cos, sin):
        return _rotate_into(x, cos, sin)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, cos, sin = inputs
        ctx.save_for_backward(cos, sin)

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        # the rotation is orthogonal: its transpose rotates by -angle
        return _rotate_into(grad, cos, -sin), None, None


class _SplitRotateQkv(torch.autograd.Function):
    """`split_qkv` with autograd: q, k rotated, v contiguous; qkv's gradient written into one buffer.

    Same forward values as the view-based split (the same rotation kernels); the backward applies
    the inverse rotation to q's and k's gradients straight into their slots of a [B, S, 3 * H * Dh]
    buffer and copies v's into its slot: the same values as autograd's, without its zero-filled
    buffers, their sum and the copy that makes the sum contiguous for the projection's backward.
    """

    @staticmethod
    def forward(ctx, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, num_heads: int):
        heads = qkv.unflatten(-1, (3, num_heads, -1)).permute(2, 0, 3, 1, 4)  # [3, B, H, S, Dh] view
        q, k = _rotate_into(heads[:2], cos, sin).unbind(0)
        ctx.save_for_backward(cos, sin)
        ctx.qkv_shape, ctx.qkv_dtype = qkv.shape, qkv.dtype
        return q, k, heads[2].contiguous()

    @staticmethod
    def backward(ctx, grad_q, grad_k, grad_v):
        cos, sin = ctx.saved_tensors
        like = next(g for g in (grad_q, grad_k, grad_v) if g is not None)
        B, H, S, Dh = like.shape
        out = torch.empty(ctx.qkv_shape, dtype=ctx.qkv_dtype, device=like.device)
        slots = out.view(B, S, 3, H, Dh).permute(2, 0, 3, 1, 4)  # [3, B, H, S, Dh] view of `out`
        for slot, grad in zip(slots[:2], (grad_q, grad_k)):
            if grad is None:
                slot.zero_()
            else:
                _rotate_into(grad, cos, -sin, out=slot)  # the inverse rotation
        if grad_v is None:
            slots[2].zero_()
        else:
            slots[2].copy_(grad_v)
        return out, None, None, None


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
