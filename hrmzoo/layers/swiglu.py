"""SwiGLU MLP (timm's `SwiGLUPacked`: `fc2(silu(a) * b)` with `a, b = fc1(x).chunk(2)`), fewer temporaries.

The same module as timm's (same submodules built in the same order, so the same
parameter names, initial draws and values; a test compares the two), written here
rather than subclassed: `timm.layers` imports torchvision and torch's compiler,
seconds of start-up that `hrmzoo solve` would pay for two Linears. Only the
elementwise middle is computed differently:

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


class SwiGLU(nn.Module):
    """timm's `SwiGLUPacked(in_features, hidden_features, bias=...)` with the middle computed in
    fewer passes; `hidden_features` is fc1's width (twice the inner width), as there.

    The submodules are timm's `GluMlp`'s, created in its order (fc1, act, drop1, norm, fc2,
    drop2): the Linears draw their default initialisation from the global generator in that
    order, so a seed gives timm's values, and checkpoints keep timm's names."""

    def __init__(self, in_features: int, hidden_features: int, bias: bool = False):
        super().__init__()
        if hidden_features % 2:
            raise ValueError(f"SwiGLU: hidden_features {hidden_features} is fc1's width, two halves; it must be even")
        self.chunk_dim = -1
        self.gate_last = False  # silu on the first half, as SwiGLUPacked
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = nn.SiLU()
        self.drop1 = nn.Dropout(0.0)
        self.norm = nn.Identity()
        self.fc2 = nn.Linear(hidden_features // 2, in_features, bias=bias)
        self.drop2 = nn.Dropout(0.0)

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
