"""Injections: how a context (input, the other level's state) enters an update.

An injection maps (state z, context c) -> the block's input. HRM adds them.
Each level with its own block gets its own injection instance. An injection is
built as `Injection(cfg, hidden_size=D)` (see `hrmzoo.model.wiring`).
"""

from __future__ import annotations

import torch
from torch import nn

from hrmzoo.layers import lecun_init_
from hrmzoo.registry import ComponentConfig, register


class InjectionConfig(ComponentConfig):
    """Injections have no shared fields."""


class Injection(nn.Module):
    """Base: `forward(z, context) -> block input`, shapes [B, S, D]."""

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The block's input from the state being updated `z` and what it hears `context`, all [B, S, D]."""
        raise NotImplementedError


@register("injection", "add", config=InjectionConfig, sizes=())
class AddInjection(Injection):
    """z + context (HRM): no parameters."""

    def __init__(self, cfg=None):
        super().__init__()

    def forward(self, z, context):
        return z + context


@register("injection", "gated", config=InjectionConfig, sizes=('hidden_size',))
class GatedInjection(Injection):
    """z + sigmoid(W [z; c]) * c: a learned per-channel gate on the context (0.5 at init)."""

    def __init__(self, cfg, *, hidden_size: int):
        super().__init__()
        D = hidden_size
        self.gate = nn.Linear(2 * D, D, bias=True)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, z, context):
        return z + torch.sigmoid(self.gate(torch.cat([z, context], dim=-1))) * context


@register("injection", "film", config=InjectionConfig, sizes=('hidden_size',))
class FiLMInjection(Injection):
    """FiLM: z * (1 + gamma(c)) + beta(c); gamma starts at zero so z passes unscaled."""

    def __init__(self, cfg, *, hidden_size: int):
        super().__init__()
        D = hidden_size
        self.beta = lecun_init_(nn.Linear(D, D, bias=False))
        self.gamma = nn.Linear(D, D, bias=False)
        nn.init.zeros_(self.gamma.weight)

    def forward(self, z, context):
        return z * (1 + self.gamma(context)) + self.beta(context)


@register("injection", "concat", config=InjectionConfig, sizes=('hidden_size',))
class ConcatInjection(Injection):
    """W [z; c]: concatenate and project back to D."""

    def __init__(self, cfg, *, hidden_size: int):
        super().__init__()
        D = hidden_size
        self.proj = lecun_init_(nn.Linear(2 * D, D, bias=False))

    def forward(self, z, context):
        return self.proj(torch.cat([z, context], dim=-1))
