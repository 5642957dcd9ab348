"""Initialisation matches the original HRM's ``trunc_normal_init_`` (models/common.py), to float32
rounding, and is the same bits on every CPU kernel (issue 25)."""

from __future__ import annotations

import math

import pytest
import torch

from hrmzoo import build_model
from hrmzoo.layers import lecun_init_, trunc_normal_init_


def original_trunc_normal(shape, std, gen, lower=-2.0, upper=2.0):
    """The original's formula, restated: uniform in [erf(l/sqrt2), erf(u/sqrt2)], erfinv,
    times sqrt(2) * comp_std, clipped at [l, u] * comp_std, where comp_std corrects the
    std lost to the truncation: std / sqrt(1 - (u pdf(u) - l pdf(l)) / z - ((pdf(u) - pdf(l)) / z)^2)."""
    sqrt2 = math.sqrt(2)
    a, b = math.erf(lower / sqrt2), math.erf(upper / sqrt2)
    z = (b - a) / 2
    c = (2 * math.pi) ** -0.5
    pdf_u, pdf_l = c * math.exp(-0.5 * lower**2), c * math.exp(-0.5 * upper**2)
    comp_std = std / math.sqrt(1 - (upper * pdf_u - lower * pdf_l) / z - ((pdf_u - pdf_l) / z) ** 2)
    t = torch.empty(shape).uniform_(a, b, generator=gen)
    return t.erfinv_().mul_(sqrt2 * comp_std).clip_(lower * comp_std, upper * comp_std)


def test_trunc_normal_init_is_the_originals():
    torch.manual_seed(0)
    ours = trunc_normal_init_(torch.empty(4096, 8), std=0.5)
    want = original_trunc_normal((4096, 8), 0.5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours, want, rtol=1e-6, atol=1e-6)
    assert abs(float(ours.std()) - 0.5) < 0.01  # the std asked for, not 0.88 of it


def test_timm_trunc_normal_tf_alone_would_start_at_088_of_the_std():
    from timm.layers import trunc_normal_tf_

    x = trunc_normal_tf_(torch.empty(200_000), std=1.0)
    assert abs(float(x.std()) - 0.8796) < 0.01


def test_states_embeddings_and_linears_start_at_the_originals_std():
    model = build_model("hrm_sudoku", ["model.hidden_size=256", "model.pos_encoding=learned"], seed=0)
    D = 256
    assert abs(float(torch.cat([model.init_z_H, model.init_z_L]).std()) - 1.0) < 0.07
    assert abs(float(model.embedding.tokens.weight.detach().std()) * math.sqrt(D) - 1.0) < 0.1
    assert abs(float(model.embedding.positions.detach().std()) * math.sqrt(D) - 1.0) < 0.02
    lin = lecun_init_(torch.nn.Linear(1024, 1024))
    assert abs(float(lin.weight.detach().std()) * math.sqrt(1024) - 1.0) < 0.01


_DIGESTS = """
import hashlib, json, torch
from hrmzoo import build_model
from hrmzoo.layers import trunc_normal_init_
def d(t):
    return hashlib.sha256(t.detach().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
torch.manual_seed(0)
out = {"capability": torch.backends.cpu.get_cpu_capability(), "trunc_normal": d(trunc_normal_init_(torch.empty(512, 256), std=0.3))}
for recipe in ("tiny_sudoku4", "trm_sudoku"):
    out.update({f"{recipe}:{k}": d(v) for k, v in build_model(recipe, ["model.hidden_size=64"], seed=7).state_dict().items()})
print(json.dumps(out))
"""


def test_the_same_seed_gives_the_same_weights_on_every_cpu_kernel():
    """Issue 25: torch's float32 erfinv (and its uniform, fused multiply-add or not) round
    differently per CPU kernel, so the weights were not the same on another CPU. Each
    kernel this CPU can run is forced with ATEN_CPU_CAPABILITY in its own process."""
    import json
    import os
    import subprocess
    import sys

    native = torch.backends.cpu.get_cpu_capability()
    kernels = ["default", native.lower()] + (["avx2"] if native == "AVX512" else [])
    runs = {}
    for kernel in dict.fromkeys(kernels):
        env = {**os.environ, "ATEN_CPU_CAPABILITY": kernel}
        proc = subprocess.run([sys.executable, "-c", _DIGESTS], env=env, capture_output=True, text=True, timeout=300, check=True)
        digests = json.loads(proc.stdout.strip().splitlines()[-1])
        if digests.pop("capability").lower() == kernel:  # a kernel this torch cannot force is left out
            runs[kernel] = digests
    assert "default" in runs, "ATEN_CPU_CAPABILITY=default was not honoured"
    if len(runs) == 1:
        pytest.skip(f"this CPU runs only torch's default kernel ({native}): nothing to compare")
    reference = runs.pop("default")
    for kernel, digests in runs.items():
        differing = sorted(k for k in reference if digests[k] != reference[k])
        assert not differing, f"{kernel} vs default: {differing}"
