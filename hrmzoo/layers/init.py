"""Weight initialisation, matching the original HRM code."""

from __future__ import annotations

import torch
from timm.layers import lecun_normal_, trunc_normal_tf_
from torch import nn

# std of a standard normal truncated at +-2: timm's ``trunc_normal_tf_`` draws
# from that truncated normal and multiplies by ``std``, so its samples have
# std 0.8796 * std. HRM's ``trunc_normal_init_`` divides by this first.
_TRUNC2_STD = 0.87962566103423978


def trunc_normal_init_(tensor: torch.Tensor, std: float = 1.0) -> torch.Tensor:
    """HRM's truncated normal: samples with standard deviation exactly `std`,
    cut at +-2 of the untruncated scale (`std / 0.8796`); zeros when `std == 0`.

    The original (`models/common.py`) computes the corrected scale
    `std / sqrt(1 - 2 * 2 * pdf(2) / z)` with `z = erf(2 / sqrt 2)`, which is
    `std / 0.87962566`; timm's `trunc_normal_tf_` with that scale draws the
    same distribution (uniform -> erfinv -> scale -> clip).
    """
    if std == 0:
        with torch.no_grad():
            return tensor.zero_()
    return trunc_normal_tf_(tensor, std=std / _TRUNC2_STD, a=-2.0, b=2.0)


def lecun_init_(module: nn.Module) -> nn.Module:
    """Truncated LeCun normal for every Linear (std 1/sqrt(fan_in), cut at 2 sigma,
    std-corrected), zero biases: HRM's initialisation. timm's `lecun_normal_`
    applies the same 0.8796 correction as `trunc_normal_init_` (a test
    checks the resulting std)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            lecun_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
