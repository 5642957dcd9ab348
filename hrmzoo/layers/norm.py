"""RMSNorm without gain, computed in float32 whatever the input dtype."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hrmzoo.layers.fastpath import fused_backward_ok


def _rms_scale(x: torch.Tensor, eps: float) -> torch.Tensor:
    """rsqrt(mean(x^2) + eps) over the last dimension, as `F.rms_norm`'s CPU composite computes it."""
    return x.pow(2).mean(-1, keepdim=True).add_(eps).rsqrt_()


class RmsNormFunction(torch.autograd.Function):
    """`F.rms_norm` over the last dimension for float32/float64 inputs, with a backward in one buffer.

    The forward is the composite's arithmetic (same values bit for bit). Autograd's backward of
    that composite runs about ten full-size kernels (pow, mean, rsqrt and mul each differentiated);
    this one computes the same derivative, `dx = r (g - y mean(g y))` with `y = x r`, in four
    passes over one buffer; it differs from autograd's only by float32 rounding (tests).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, eps: float) -> torch.Tensor:
        scale = _rms_scale(x, eps)
        y = x * scale
        ctx.save_for_backward(y, scale)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, scale = ctx.saved_tensors
        buf = grad * y
        mean = buf.mean(-1, keepdim=True)
        torch.mul(y, mean, out=buf)
        torch.sub(grad, buf, out=buf)
        return buf.mul_(scale), None


class RmsNorm(nn.Module):
    """HRM's RMSNorm: `x / sqrt(mean(x^2) + eps)`, no learned gain.

    `F.rms_norm` accumulates in float32 for reduced-precision inputs and
    returns the input dtype, which is what timm's `RmsNormFp32` computes with
    two explicit casts (on the CPU, torch 2.14 runs it as its composite
    `x * rsqrt(mean(x^2) + eps)`: five kernels, which `add_into_` runs in place).
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.shape = (dim,)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and x.dtype in (torch.float32, torch.float64) and torch.is_grad_enabled() and fused_backward_ok():
            return RmsNormFunction.apply(x, self.eps)
        return F.rms_norm(x, self.shape, eps=self.eps)

    def add_into_(self, out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """`norm(residual + out)` written into `out` (a fresh buffer the caller owns); no autograd.

        The same values as `self(residual + out)` bit for bit: float addition is commutative, and
        the normalisation is the composite `F.rms_norm` runs on the CPU (`x * rsqrt(mean(x^2) + eps)`,
        in float32 for reduced-precision inputs), computed in place: no [B, S, D] temporaries.
        Only without autograd and autocast and for matching dtypes (`inplace_ok`).
        """
        if out.dtype != residual.dtype:
            return self(residual + out)
        out.add_(residual)
        upcast = out if out.dtype in (torch.float32, torch.float64) else out.float()
        scale = _rms_scale(upcast, self.eps)
        if upcast is out:
            return out.mul_(scale)
        return out.copy_(upcast.mul_(scale))  # rounded once, as F.rms_norm's `type_as`

    def extra_repr(self) -> str:
        return f"{self.shape[0]}, eps={self.eps}"
