"""The switch for the layers' CPU fast path: in-place work without autograd, fused backwards.

Every piece of the fast path computes the values of the plain formulas (tests compare them);
`fast_layers(False)` turns it off so that tests and benchmarks can run the reference path.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

_enabled: list[bool] = [True]


@contextlib.contextmanager
def fast_layers(enabled: bool) -> Iterator[None]:
    """Use (default) or bypass the fast path for every layer call inside."""
    _enabled.append(bool(enabled))
    try:
        yield
    finally:
        _enabled.pop()


def fused_backward_ok() -> bool:
    """Whether layers may use their hand-written backward functions (eager only: a compiled
    graph fuses the plain formulas itself)."""
    return _enabled[-1] and not torch.compiler.is_compiling()


def inplace_ok(x: torch.Tensor) -> bool:
    """Whether a layer may overwrite its own fresh intermediates for `x`: no autograd recording,
    no autocast (which would change the dtypes of out-of-place results), not being compiled."""
    if not _enabled[-1] or torch.is_grad_enabled() or torch.compiler.is_compiling():
        return False
    if x.device.type not in ("cpu", "cuda"):  # meta-device shape checks and other backends: the plain path
        return False
    return not torch.is_autocast_enabled(x.device.type)
