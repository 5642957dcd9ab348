"""Non-causal softmax attention with the kernel chosen by measured speed.

`scaled_dot_product_attention` is the default. On the CPU, when autograd records a
reduced-precision call, its flash kernel's backward is slow at HRM's tiny head sizes
(head dim 32, 82 tokens): measured on one core, forward + backward of [64, 4, 82, 32]
in bf16 took 78 ms with SDPA and 21 ms with the plain `baddbmm` / `softmax` / `bmm`
form. In fp32 (16 vs 18 ms) and without autograd (fp32 4.5 vs 4.5 ms, bf16 5.8 vs
6.8 ms) SDPA is as fast or faster. So the CPU takes the plain form exactly for
bf16/fp16 calls that a backward will follow; `benchmarks/speed/bench_attention.py`
re-measures the cases.

A reduced-precision CPU call also takes the plain form whenever torch's kernel dispatch is
forced below what the CPU has (`ATEN_CPU_CAPABILITY=default` on an AVX-512 machine, as CI runs
part of the suite to stand in for another CPU): SDPA's flash kernel then fails with "pack_vnni2 is
only supported when avx512 is supported" (torch 2.14.1, a no-grad bf16 call of HRM's shapes),
because it reads the CPU's features, not the dispatch level.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Literal

import torch
import torch.nn.functional as F

Kernel = Literal["auto", "sdpa", "math"]
_forced: list[Kernel] = ["auto"]


@contextlib.contextmanager
def attention_kernel(kernel: Kernel) -> Iterator[None]:
    """Force `sdpa` or `math` for every `attention` call inside (`auto`: the measured rule)."""
    if kernel not in ("auto", "sdpa", "math"):
        raise ValueError(f"unknown attention kernel '{kernel}'; use auto, sdpa or math")
    _forced.append(kernel)
    try:
        yield
    finally:
        _forced.pop()


def chosen_kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Literal["sdpa", "math"]:
    """The kernel `attention` uses for these inputs."""
    forced = _forced[-1]
    if forced != "auto":
        return forced
    records = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    reduced = q.dtype in (torch.bfloat16, torch.float16)
    if q.device.type == "cpu" and reduced and (records or dispatch_below_cpu()):
        return "math"
    return "sdpa"


def dispatch_below_cpu() -> bool:
    """True when torch's CPU kernels were forced to the portable level (see the module docstring)."""
    return torch.backends.cpu.get_cpu_capability() == "DEFAULT"


def math_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(Dh)) v for [..., S, Dh] inputs, as batched matrix products.

    The softmax runs in (at least) float32 for reduced-precision inputs (as SDPA's kernels do) and
    its probabilities are cast back to the input dtype for the second product.
    """
    *lead, S, Dh = q.shape
    qf, kf, vf = (t.reshape(-1, t.shape[-2], t.shape[-1]) for t in (q, k, v))
    n, S_k = qf.shape[0], kf.shape[1]
    # beta=0: the input only gives the shape, so one kernel computes the scaled scores
    scores = torch.baddbmm(qf.new_empty(1, 1, 1).expand(n, S, S_k), qf, kf.transpose(1, 2), beta=0.0, alpha=1.0 / math.sqrt(Dh))
    probs = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32)).to(q.dtype)
    return torch.bmm(probs, vf).view(*lead, S, vf.shape[-1])


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Non-causal attention of [B, H, S, Dh] tensors, no mask, scale 1/sqrt(Dh)."""
    if chosen_kernel(q, k, v) == "math":
        return math_attention(q, k, v)
    return F.scaled_dot_product_attention(q, k, v)
