"""Optimizers and schedules: Adam-atan2, row-sparse sign-SGD, warmup + cosine/constant."""

from __future__ import annotations

import math

import pytest
import torch

from hrmzoo.recipe.train_config import OPTIMIZER_NAMES
from hrmzoo.train.optim import OPTIMIZERS, AdamAtan2, SignSGDRows
from hrmzoo.train.schedule import lr_factor


def reference_adam_atan2(p0, grads, lr, betas, wd):
    """Plain-Python Adam-atan2 on a list of floats: the CUDA ``adam-atan2`` package's rule,
    p <- p (1 - lr wd) - lr / (1 - b1^t) * atan2(m, sqrt(v) / sqrt(1 - b2^t))."""
    p, m, v = list(p0), [0.0] * len(p0), [0.0] * len(p0)
    b1, b2 = betas
    for t, g in enumerate(grads, start=1):
        for i in range(len(p)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            step = lr / (1 - b1**t)
            p[i] = p[i] * (1 - lr * wd) - step * math.atan2(m[i], math.sqrt(v[i]) / math.sqrt(1 - b2**t))
    return p


def test_adam_atan2_matches_formula():
    grads = [[0.5, -2.0, 0.0], [0.1, 3.0, 0.0], [-1.0, 0.2, 1e-30]]
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64))
    opt = AdamAtan2([p], lr=0.1, betas=(0.9, 0.95), weight_decay=0.5)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    want = reference_adam_atan2([1.0, -1.0, 0.5], grads, 0.1, (0.9, 0.95), 0.5)
    assert p.detach().tolist() == pytest.approx(want, abs=1e-12)


def test_adam_atan2_first_step_is_hrms_not_the_bias_corrected_ratio():
    # step 1 with betas (0.9, 0.95): HRM's kernel moves by lr/0.1 * atan2(0.1 g, |g|) = 0.997 lr;
    # lr * atan2(m_hat, sqrt(v_hat)) = lr * pi/4 would move by 0.785 lr
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = AdamAtan2([p], lr=1.0, betas=(0.9, 0.95))
    p.grad = torch.tensor([3.0], dtype=torch.float64)
    opt.step()
    assert float(-p) == pytest.approx(10 * math.atan(0.1), abs=1e-12)
    assert float(-p) == pytest.approx(0.99669, abs=1e-5)


def test_adam_atan2_is_scale_invariant_and_needs_no_eps():
    # atan2(m, sqrt(v)) is unchanged when every gradient is scaled, even by 1e-30
    a = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    oa, ob = AdamAtan2([a], lr=0.01), AdamAtan2([b], lr=0.01)
    g = torch.tensor([1.0, -0.5, 2.0, 0.0], dtype=torch.float64)
    for _ in range(3):
        a.grad, b.grad = g.clone(), g * 1e-30
        oa.step()
        ob.step()
    torch.testing.assert_close(a, b)
    assert a[3] == 0  # a zero gradient gives a zero update (atan2(0, 0) = 0)


def test_sign_sgd_touches_only_batch_rows():
    table = torch.nn.Parameter(torch.ones(5, 3))
    opt = SignSGDRows([table], lr=0.1, weight_decay=0.5)
    table.grad = torch.tensor([[1.0, -2.0, 0.0]] * 5)
    opt.step(torch.tensor([3, 1, 3]))
    decayed = 1 - 0.1 * 0.5
    for r in (1, 3):
        assert table[r].tolist() == pytest.approx([decayed - 0.1, decayed + 0.1, decayed])
    for r in (0, 2, 4):  # untouched rows keep their value: no step, no decay
        assert table[r].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_registered_optimizers_reduce_a_quadratic(name):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(8))
    opt = OPTIMIZERS[name]([w], 0.05, (0.9, 0.95), 0.0)
    start = float((w**2).sum().detach())
    for _ in range(50):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w**2).sum().detach()) < 0.1 * start


def test_schedules():
    assert lr_factor(0, 100, warmup=4) == 0.25
    assert lr_factor(3, 100, warmup=4) == 1.0
    assert lr_factor(50, 100, warmup=4) == 1.0
    assert lr_factor(4, 100, warmup=4, kind="cosine") == pytest.approx(1.0)
    assert lr_factor(52, 100, warmup=4, kind="cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, warmup=4, kind="cosine", min_ratio=0.1) == pytest.approx(0.1)
    values = [lr_factor(s, 100, 10, "cosine") for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_unknown_optimizer_is_a_recipe_error():
    from hrmzoo import load_recipe
    from hrmzoo.errors import RecipeError

    with pytest.raises(RecipeError, match="unknown optimizer 'sgdd'.*adam_atan2"):
        load_recipe("tiny_sudoku4", ["train.optimizer=sgdd"])


def test_recipe_optimizer_names_match_the_factories():
    """The recipe validates `train.optimizer` against its own list; the trainer must build each."""
    assert tuple(OPTIMIZERS) == OPTIMIZER_NAMES
