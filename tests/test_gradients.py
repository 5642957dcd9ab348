"""Gradient estimators: agreement with references, memory, and the implicit (DEQ) gradient.

- The implicit gradient equals the gradient of backprop through a long unrolled
  run on contractive maps built from the real blocks and couplings, and passes
  ``torch.autograd.gradcheck`` in float64.
- The masked estimators (one_step, last_cycle, k_step, bptt) give identical
  forward values; with one L and one H update they give identical gradients;
  bptt equals a hand-unrolled reference that calls the blocks directly.
- Memory saved for backward: flat in the number of cycles for one_step and
  implicit, linear for bptt.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from hrmzoo import build_model, registry
from hrmzoo.controllers.base import ControlContext
from hrmzoo.errors import RecipeError
from hrmzoo.couplings.base import Level
from hrmzoo.gradients import ImplicitGradient, MaskedEstimator, SolverNotConvergedWarning
from hrmzoo.injections import AddInjection
from tests.test_solvers import COUPLINGS, contractive_model, one_thread, random_inputs  # noqa: F401  (fixture)

MASKED = [n for n in registry.REGISTRIES["gradient"].names() if issubclass(registry.get("gradient", n).cls, MaskedEstimator)]
CYCLE_FIELD = {"hierarchical": "h_cycles", "recursive": "t_cycles", "flat": "cycles"}
IMPLICIT = {"type": "implicit", "solver": {"type": "anderson", "tol": 1e-6, "max_iter": 300}}


def loss_and_grads(model, batch):
    """(logits, state, {name: grad}) of the mean sequence loss of one segment."""
    model.zero_grad(set_to_none=True)
    out = model(batch)
    model.head.loss(out.logits, batch["labels"]).mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


def flat(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([grads[k].flatten() for k in sorted(grads)])


# ---------------------------------------------------------------- implicit vs unrolled

@given(
    coupling=st.sampled_from(sorted(COUPLINGS)),
    scale=st.floats(0.05, 0.3),
    seed=st.integers(0, 2**16),
    batch_size=st.integers(1, 3),
)
def test_implicit_matches_backprop_through_a_long_unroll(coupling, scale, seed, batch_size):
    implicit = contractive_model(coupling, scale, seed, gradient=IMPLICIT)
    unrolled = contractive_model(coupling, scale, seed, gradient={"type": "bptt"}, **{CYCLE_FIELD[coupling]: 80})
    unrolled.load_state_dict(implicit.state_dict())
    batch = random_inputs(implicit, batch_size, seed)
    out_i, g_i = loss_and_grads(implicit, batch)
    out_u, g_u = loss_and_grads(unrolled, batch)
    assert bool(out_i.diagnostics["solver_converged"])
    assert implicit.gradient.last_adjoint is not None and implicit.gradient.last_adjoint.converged
    assert torch.allclose(out_i.logits, out_u.logits, atol=1e-4)
    assert set(g_i) == set(g_u)
    a, b = flat(g_i), flat(g_u)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=0)
    assert cos > 0.99, float(cos)
    # measured ~1e-6..1e-4 in float32; the Jacobian-free gradient (no adjoint solve) is 0.2..0.8 off
    assert (a - b).norm() / b.norm() < 1e-3
    # the blocks' gradient alone (the part the adjoint solve shapes) agrees too
    blocks = [k for k in g_u if k.startswith(("l_block", "h_block"))]
    a, b = flat({k: g_i[k] for k in blocks}), flat({k: g_u[k] for k in blocks})
    assert (a - b).norm() / b.norm() < 1e-3


class TanhNet(nn.Module):
    """z -> tanh(z W^T + c): a small float64 block whose weight is a gradcheck input."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.weight, self.bias = weight, bias

    def forward(self, z):
        return torch.tanh(z @ self.weight.T + self.bias)


@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
@pytest.mark.parametrize("solver", ["fixed_point", "anderson"])
def test_implicit_gradcheck_float64(coupling, solver):
    """IFT gradient vs finite differences, through the real coupling code."""
    torch.manual_seed(0)
    B, S, D = 2, 2, 3
    kind = registry.get("coupling", coupling)
    coup = kind.cls(kind.config())
    cfg = registry.get("gradient", "implicit").config(
        solver={"type": solver, "tol": 1e-13, "max_iter": 400}
    )
    estimator = ImplicitGradient(cfg)
    x = torch.randn(B, S, D, dtype=torch.float64, requires_grad=True)
    w_l = (0.3 * torch.randn(D, D, dtype=torch.float64) / D**0.5).requires_grad_()
    w_h = (0.3 * torch.randn(D, D, dtype=torch.float64) / D**0.5).requires_grad_()
    bias = torch.randn(D, dtype=torch.float64)
    state0 = {k: torch.randn(B, S, D, dtype=torch.float64) for k in coup.state_keys}

    def segment(x, w_l, w_h):
        levels = {"L": Level(TanhNet(w_l, bias), AddInjection()), "H": Level(TanhNet(w_h, -bias), AddInjection())}
        state, diag = estimator(coup.cycles(levels, x, ControlContext()), dict(state0))
        assert bool(diag["solver_converged"])
        return state[coup.output_key]

    assert torch.autograd.gradcheck(segment, (x, w_l, w_h), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_implicit_diagnostics_and_non_convergence_is_flagged():
    model = contractive_model("hierarchical", 1.0, 0, gradient={"type": "implicit", "solver": {"type": "anderson", "tol": 1e-6, "max_iter": 3},
                                                                      "backward_solver": {"type": "anderson", "tol": 1e-6, "max_iter": 2}})
    batch = random_inputs(model, 2, 0)
    with pytest.warns(SolverNotConvergedWarning, match="forward solve stopped"):
        out = model(batch)
    d = out.diagnostics
    assert d["residual"].shape == (2,) and d["solver_residual"].shape == (2,)
    assert not bool(d["solver_converged"])
    assert d["solver_trace"].shape == (3,) and int(d["solver_iterations"]) == 3
    assert float(d["solver_residual"].max()) > 1e-6
    with pytest.warns(SolverNotConvergedWarning, match="adjoint solve stopped"):
        model.head.loss(out.logits, batch["labels"]).mean().backward()
    assert not model.gradient.last_adjoint.converged and len(model.gradient.last_adjoint.trace) == 2


def test_implicit_evaluation_builds_no_graph():
    model = contractive_model("flat", 0.2, 0, gradient=IMPLICIT)
    with torch.no_grad():
        out = model(random_inputs(model, 2, 0))
    assert not out.logits.requires_grad and bool(out.diagnostics["solver_converged"])


@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
@pytest.mark.parametrize("name", registry.REGISTRIES["gradient"].names())
def test_every_estimator_with_every_coupling(name, coupling):
    gradient = IMPLICIT if name == "implicit" else {"type": name}
    model = contractive_model(coupling, 0.2, 0, gradient=gradient)
    batch = random_inputs(model, 2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SolverNotConvergedWarning)
        out, grads = loss_and_grads(model, batch)
    assert out.diagnostics["residual"].shape == (2,)
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for k, g in grads.items() if k.startswith("l_block"))
    mask = [g for cyc in model.gradient_schedule() for _, g in cyc]
    assert len(mask) == sum(len(c) for c in model.coupling.schedule()) and any(mask)


# ---------------------------------------------------------------- masked estimators

@given(
    coupling=st.sampled_from(sorted(COUPLINGS)),
    seed=st.integers(0, 2**16),
    cycles=st.integers(1, 3),
    inner=st.integers(1, 3),
)
def test_masked_estimators_give_identical_forward_values(coupling, seed, cycles, inner):
    inner_field = {"hierarchical": "l_cycles", "recursive": "n_cycles", "flat": "steps"}[coupling]
    fields = {CYCLE_FIELD[coupling]: cycles, inner_field: inner}
    ref = None
    for name in MASKED:
        model = contractive_model(coupling, 1.0, seed, gradient={"type": name}, **fields)
        out = model(random_inputs(model, 2, seed))
        if ref is None:
            ref = out
        assert torch.equal(out.logits, ref.logits), name
        assert all(torch.equal(out.state[k], ref.state[k]) for k in out.state), name
        assert torch.equal(out.diagnostics["residual"], ref.diagnostics["residual"]), name


@given(seed=st.integers(0, 2**16), order=st.sampled_from(["L_then_H", "H_then_L"]), batch_size=st.integers(1, 3))
def test_one_L_and_one_H_update_give_identical_gradients(seed, order, batch_size):
    if order == "H_then_L":  # H L: the output (H) is computed before L reads x; refused at build
        with pytest.raises(RecipeError, match="never depends on the input"):
            contractive_model("hierarchical", 1.0, seed, l_cycles=1, h_cycles=1, order=order)
        return
    grads = {}
    for name in ("one_step", "last_cycle", "bptt"):
        model = contractive_model("hierarchical", 1.0, seed, gradient={"type": name}, l_cycles=1, h_cycles=1, order=order)
        _, grads[name] = loss_and_grads(model, random_inputs(model, batch_size, seed))
    for name in ("last_cycle", "bptt"):
        assert grads[name].keys() == grads["one_step"].keys()
        assert all(torch.equal(grads[name][k], grads["one_step"][k]) for k in grads[name]), name


def hand_unrolled_logits(model, batch):
    """The segment written out with the model's blocks and injections, no coupling or estimator."""
    cfg = model.cfg.coupling
    x = model.embedding(batch["inputs"])
    s = model.initial_state(x.shape[0])
    if cfg.type == "hierarchical":
        zH, zL = s["z_H"], s["z_L"]
        for _ in range(cfg.h_cycles):
            if cfg.order == "H_then_L":
                zH = model.h_block(model.h_injection(zH, zL))
            for _ in range(cfg.l_cycles):
                zL = model.l_block(model.l_injection(zL, zH + x))
            if cfg.order == "L_then_H":
                zH = model.h_block(model.h_injection(zH, zL))
        return model.head(zH)
    y, z = s["y"], s["z"]  # recursive: one shared network
    for _ in range(cfg.t_cycles):
        for _ in range(cfg.n_cycles):
            z = model.l_block(model.l_injection(z, y + x))
        y = model.l_block(model.l_injection(y, z))
    return model.head(y)


@given(
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["L_then_H", "H_then_L", "recursive"]),
    outer=st.integers(1, 3),
    inner=st.integers(1, 3),
)
def test_bptt_equals_a_hand_unrolled_reference(seed, kind, outer, inner):
    if kind == "recursive":
        model = contractive_model("recursive", 1.0, seed, gradient={"type": "bptt"}, t_cycles=outer, n_cycles=inner)
    elif kind == "H_then_L" and outer == 1:  # H L...L: the output never reads x; refused at build
        with pytest.raises(RecipeError, match="never depends on the input"):
            contractive_model("hierarchical", 1.0, seed, gradient={"type": "bptt"}, order=kind, h_cycles=outer, l_cycles=inner)
        return
    else:
        model = contractive_model("hierarchical", 1.0, seed, gradient={"type": "bptt"}, order=kind, h_cycles=outer, l_cycles=inner)
    batch = random_inputs(model, 2, seed)
    out, grads = loss_and_grads(model, batch)
    model.zero_grad(set_to_none=True)
    logits = hand_unrolled_logits(model, batch)
    model.head.loss(logits, batch["labels"]).mean().backward()
    assert torch.equal(logits, out.logits)
    for name, p in model.named_parameters():
        if name in grads:
            assert torch.allclose(p.grad, grads[name], rtol=1e-5, atol=1e-7), name


# ---------------------------------------------------------------- memory

def saved_for_backward(model, batch) -> tuple[int, int]:
    """(tensors, bytes) packed for backward by one segment's forward and loss."""
    count, size = 0, 0

    def pack(t):
        nonlocal count, size
        count += 1
        size += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(batch)
        model.head.loss(out.logits, batch["labels"]).mean()
    return count, size


@pytest.mark.parametrize("coupling", ["hierarchical", "recursive"])
def test_saved_tensors_flat_for_one_step_and_implicit_linear_for_bptt(coupling):
    counts = {}
    for name in ("one_step", "implicit", "bptt"):
        gradient = IMPLICIT if name == "implicit" else {"type": name}
        counts[name] = []
        for cycles in (1, 2, 4, 16):
            model = contractive_model(coupling, 0.2, 0, gradient=gradient, **{CYCLE_FIELD[coupling]: cycles})
            counts[name].append(saved_for_backward(model, random_inputs(model, 2, 0)))
    for name in ("one_step", "implicit"):
        assert len(set(counts[name])) == 1, (name, counts[name])  # same tensors and bytes at 1..16 cycles
    for i in (0, 1):  # tensors, bytes
        seen = [c[i] for c in counts["bptt"]]
        steps = [b - a for a, b in zip(seen, seen[1:])]
        # 1 -> 2 -> 4 -> 16 cycles adds 1, 2, 12 cycles' worth: linear growth
        assert steps[0] > 0 and steps[1] == 2 * steps[0] and steps[2] == 12 * steps[0], seen
    assert counts["bptt"][0][0] >= counts["one_step"][0][0]


# ---------------------------------------------------------------- implicit + in-cycle losses

def _framing_model():
    """A contractive float64 HRM with a quaternion controller whose heads act (random last layers)."""
    recipe = {
        "name": "implicit_framing",
        "model": {
            "hidden_size": 16, "vocab_size": 5, "seq_len": 6,
            "l_block": {"type": "transformer", "num_layers": 1, "num_heads": 2, "expansion": 2.0},
            "h_block": {"type": "transformer", "num_layers": 1, "num_heads": 2, "expansion": 2.0},
            "coupling": {"type": "hierarchical", "l_cycles": 2, "h_cycles": 2},
            "gradient": {"type": "implicit", "solver": {"type": "anderson", "tol": 1e-12, "max_iter": 400}},
            "controller": {"type": "quaternion", "num_task_families": 3, "head_width": 8, "framing_weight": 1.0},
        },
    }
    model = build_model(recipe, seed=0).double()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("l_block", "h_block")):
                p.mul_(0.2)
            if name.startswith("controller") and not p.any():
                p.copy_(0.02 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def _framing_loss(model, batch):
    return model(batch).aux_losses["framing"]


@pytest.mark.parametrize("reread", [True, False])
def test_implicit_framing_loss_gradient_matches_finite_differences(reread, monkeypatch):
    """A loss read inside the cycle gets the IFT term through z*; without it (the old
    behaviour: only the direct gradient) finite differences disagree."""
    if not reread:
        monkeypatch.setattr(ImplicitGradient, "_reread_losses", staticmethod(lambda F, z_out, ctl: None))
    model = _framing_model()
    gen = torch.Generator().manual_seed(4)
    batch = {"inputs": torch.randint(0, 5, (3, 6), generator=gen), "task_id": torch.tensor([0, 2, 1])}
    params = dict(model.named_parameters())
    direction = {n: torch.randn(p.shape, generator=gen, dtype=p.dtype) for n, p in params.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", SolverNotConvergedWarning)
        model.zero_grad(set_to_none=True)
        _framing_loss(model, batch).backward()
        analytic = sum((p.grad * direction[n]).sum() for n, p in params.items() if p.grad is not None)
        eps = 1e-5
        with torch.no_grad():
            values = []
            for sign in (1, -1):
                for n, p in params.items():
                    p.add_(sign * eps * direction[n])
                values.append(_framing_loss(model, batch))
                for n, p in params.items():
                    p.sub_(sign * eps * direction[n])
    numeric = (values[0] - values[1]) / (2 * eps)
    rel = abs(float(analytic) - float(numeric)) / abs(float(numeric))
    if reread:
        assert rel < 1e-3
    else:
        assert rel > 1e-2  # the direct term alone is measurably wrong


@pytest.mark.parametrize("grad", [True, False])
def test_implicit_trace_records_only_the_application_at_the_fixed_point(grad):
    """The controller's activity trace holds one entry per hook call of the cycle applied at
    z* (HRM's L L H: 2 at l_step, 1 at h_step), not the solver's iterates; evaluation
    averages every entry into the activity table."""
    model = _framing_model()
    gen = torch.Generator().manual_seed(5)
    batch = {"inputs": torch.randint(0, 5, (2, 6), generator=gen), "task_id": torch.tensor([0, 2])}
    with torch.set_grad_enabled(grad):
        out = model(batch)
    assert int(out.diagnostics["solver_iterations"]) > 2  # the solve itself called the hooks many times
    trace = out.diagnostics["trace"]
    assert trace and {name.split("/")[1] for name in trace} == {"l_context", "l_step", "h_message", "h_step"}
    per_cycle = {"l_context": 2, "l_step": 2, "h_message": 1, "h_step": 1}
    assert {name: len(values) for name, values in trace.items()} == {name: per_cycle[name.split("/")[1]] for name in trace}
