"""SwiGLU MLP (timm's `SwiGLUPacked`: `fc2(silu(a) * b)` with `a, b = fc1(x).chunk(2)`), fewer temporaries.

The same module as timm's (same parameters, names, initialisation and values); only
the elementwise middle is computed differently:

- without autograd (HRM's no-gradient cycles: most of a training step's forward work),
  `silu` and the product run in place in `fc1`'s output and `fc2` reads the first half
  through its stride: two [N, inner] buffers fewer per call, same values bit for bit;
- with autograd, one function computes `silu(a) * b` and its backward writes both
  halves' gradients straight into one [N, 2 * inner] buffer, where autograd's `chunk`
  would concatenate two separate ones; same formulas (`g * b` through `silu`'s backward,
  `g * silu(a)`), so the same values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers.mlp import GluMlp
from torch import nn

from hrmzoo.layers.fastpath import fused_backward_ok, inplace_ok


def plain_swiglu(h: torch.Tensor) -> torch.Tensor:
    """silu(a) * b for `a, b = h.chunk(2, -1)`: the reference formula (timm's)."""
    a, b = h.chunk(2, dim=-1)
    return F.silu(a) * b


class SwiGLUProduct(torch.autograd.Function):
    """silu(a) * b on the halves of `h` [..., 2 * inner], gradient written into one buffer."""

    @staticmethod
    def forward(ctx, h):
        a, b = h.chunk(2, dim=-1)
        act = F.silu(a)
        ctx.save_for_backward(a, b, act)
        return act * b

    @staticmethod
    def backward(ctx, grad):
        a, b, act = ctx.saved_tensors
        inner = a.shape[-1]
        out = torch.empty(*grad.shape[:-1], 2 * inner, dtype=a.dtype, device=grad.device)
        # autograd's formulas for mul and silu, in its order: d/da = silu'(a) (g b), d/db = g silu(a)
        torch.ops.aten.silu_backward.grad_input(grad * b, a, grad_input=out[..., :inner])
        torch.mul(grad, act, out=out[..., inner:])
        return out


class SwiGLU(GluMlp):
    """timm's `SwiGLUPacked(in_features, hidden_features, bias=...)` with the middle computed in
    fewer passes; `hidden_features` is fc1's width (twice the inner width), as there."""

    def __init__(self, in_features: int, hidden_features: int, bias: bool = False):
        super().__init__(in_features, hidden_features, act_layer=nn.SiLU, bias=bias, gate_last=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        if torch.compiler.is_compiling() or self.drop1.p or not isinstance(self.norm, nn.Identity):
            mid = plain_swiglu(h)  # the compiler fuses the plain formula itself
        elif inplace_ok(h):
            a, b = h.chunk(2, dim=-1)
            mid = F.silu(a, inplace=True).mul_(b)  # in fc1's buffer; fc2 reads it with its stride
        elif h.requires_grad and torch.is_grad_enabled() and fused_backward_ok():
            mid = SwiGLUProduct.apply(h)
        else:
            mid = plain_swiglu(h)
        return self.drop2(self.fc2(self.norm(self.drop1(mid))))
