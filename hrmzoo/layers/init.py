"""Weight initialisation."""

from __future__ import annotations

from torch import nn
from timm.layers import lecun_normal_


def lecun_init_(module: nn.Module) -> nn.Module:
    """Truncated LeCun normal for every Linear (std 1/sqrt(fan_in), cut at 2 sigma,
    std-corrected), zero biases: HRM's initialisation. timm's ``lecun_normal_`` is
    exactly this."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            lecun_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
