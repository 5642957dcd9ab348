"""Fixed-point solvers on deliberately contractive cycle maps built from the real model code.

A tiny model is built with ``build_model`` from a dict recipe; its block weights
are scaled down so that one cycle of the coupling (the map the implicit
estimator solves) contracts. Plain iteration and Anderson acceleration must
then agree on the fixed point, and Anderson must not need more cycles.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hrmzoo import build_model
from hrmzoo.errors import RecipeError
from hrmzoo.gradients.implicit import _Packing
from hrmzoo.solvers import make_solver, relative_residual


@pytest.fixture(autouse=True)
def one_thread():
    """These maps are tiny: on a shared 2-core machine a second thread only adds contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

COUPLINGS = {
    "hierarchical": {"type": "hierarchical", "l_cycles": 2, "h_cycles": 2},
    "recursive": {"type": "recursive", "n_cycles": 2, "t_cycles": 2},
    "flat": {"type": "flat", "cycles": 2, "steps": 2},
}


def contractive_model(coupling: str, scale: float, seed: int, gradient: dict | None = None, **coupling_fields):
    """A tiny model (hidden 16, 6 tokens) whose block weights are multiplied by ``scale``.

    Post-norm blocks end in an RMSNorm whose Jacobian shrinks with the size of
    its input, so with small weights (scale <= 0.3) one cycle contracts.
    ``scale=1`` leaves the model as initialised.
    """
    block = {"type": "transformer", "num_layers": 1, "num_heads": 2, "expansion": 2.0}
    recipe = {
        "name": "contractive",
        "model": {
            "hidden_size": 16,
            "vocab_size": 5,
            "seq_len": 6,
            "l_block": block,
            "h_block": block if coupling == "hierarchical" else None,
            "coupling": {**COUPLINGS[coupling], **coupling_fields},
            "gradient": gradient or {"type": "bptt"},
        },
    }
    model = build_model(recipe, seed=seed)
    with torch.no_grad():
        for net in (model.l_block, model.h_block):
            for p in net.parameters() if net is not None else ():
                p.mul_(scale)
    return model


def random_inputs(model, batch_size: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    return {
        "inputs": torch.randint(0, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g),
        "labels": torch.randint(0, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g),
    }


def cycle_map(model, batch):
    """(F, z0): the model's last cycle as a map on the packed state, and the packed initial state."""
    x = model.embedding(batch["inputs"])
    ctl = model.controller.context(batch, x)
    cycle = model.coupling.cycles(model.level_networks(), x, ctl)[-1]
    state = model.initial_state(batch["inputs"].shape[0])
    packing = _Packing(state)

    def F(z):
        s = packing.unpack(z)
        for update in cycle:
            s = update(s)
        return packing.pack(s)

    return F, packing.pack(state)


settings_space = dict(
    coupling=st.sampled_from(sorted(COUPLINGS)),
    scale=st.floats(0.05, 0.3),
    seed=st.integers(0, 2**16),
    batch_size=st.integers(1, 3),
)


@given(**settings_space)
def test_plain_and_anderson_reach_the_same_fixed_point(coupling, scale, seed, batch_size):
    model = contractive_model(coupling, scale, seed)
    with torch.no_grad():
        F, z0 = cycle_map(model, random_inputs(model, batch_size, seed))
        plain = make_solver("fixed_point", tol=1e-5, max_iter=400)(F, z0)
        anderson = make_solver("anderson", tol=1e-5, max_iter=400)(F, z0)
        assert plain.converged and anderson.converged, (plain.criterion, anderson.criterion)
        assert anderson.iterations <= plain.iterations
        # both answers really are fixed points, and the same one
        for res in (plain, anderson):
            assert float(relative_residual(F(res.z), res.z).max()) < 1e-5
            assert torch.allclose(res.residual, relative_residual(F(res.z), res.z))
        gap = (plain.z - anderson.z).norm(dim=1) / plain.z.norm(dim=1)
        assert float(gap.max()) < 1e-3
    # plain iteration on a contraction: the residual falls at every cycle (float32 slack)
    trace = plain.trace
    assert all(b <= a * 1.02 for a, b in zip(trace, trace[1:])), trace
    assert trace[-1] < 1e-3 * trace[0]
    assert anderson.trace[-1] < 1e-3 * anderson.trace[0]
    assert len(plain.trace) == plain.iterations and len(anderson.trace) == anderson.iterations


@given(seed=st.integers(0, 2**16), n=st.integers(2, 24), batch_size=st.integers(1, 3))
def test_solvers_on_a_linear_contraction(seed, n, batch_size):
    """z = A z + b, A symmetric with eigenvalues in [-0.95, 0.95]: solution (I - A)^-1 b, in float64."""
    g = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(batch_size, n, n, generator=g, dtype=torch.float64)).Q
    eig = torch.rand(batch_size, n, generator=g, dtype=torch.float64) * 1.9 - 0.95
    eig[:, 0] = 0.95  # at least one slow mode, so plain iteration needs ~300 steps
    A = Q @ torch.diag_embed(eig) @ Q.transpose(1, 2)
    b = torch.randn(batch_size, n, generator=g, dtype=torch.float64)
    exact = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - A, b)

    def f(z):
        return torch.einsum("bij,bj->bi", A, z) + b

    plain = make_solver("fixed_point", tol=1e-8, max_iter=2000)(f, torch.zeros_like(b))
    anderson = make_solver("anderson", tol=1e-8, max_iter=2000, memory=n + 1, regularization=0.0)(f, torch.zeros_like(b))
    for res in (plain, anderson):
        assert res.converged
        assert torch.allclose(res.z, exact, rtol=1e-5, atol=1e-6)
    assert plain.iterations > 200
    # full-memory Anderson on a linear map behaves like GMRES: about n + 1 evaluations in
    # exact arithmetic; the squared condition number of the normal equations costs a few more
    assert anderson.iterations <= n + 5


def test_non_convergence_is_reported_not_hidden():
    def f(z):  # f(z) >= z + 1 everywhere: there is no fixed point to find
        return z + 2.0 + torch.sin(z)

    for name in ("fixed_point", "anderson"):
        res = make_solver(name, tol=1e-6, max_iter=7)(f, torch.ones(2, 3))
        assert not res.converged
        assert res.iterations == 7 and len(res.trace) == 7
        assert res.criterion > 1e-2 and res.residual.shape == (2,)
        assert res.criterion == min(res.trace)  # the best iterate is returned, with its residual


def test_global_norm_and_damping():
    def f(z):
        return 0.5 * z + torch.tensor([[1.0], [100.0]])

    z0 = torch.zeros(2, 1)
    per = make_solver("fixed_point", tol=1e-6, max_iter=200)(f, z0)
    glob = make_solver("fixed_point", tol=1e-6, max_iter=200, norm="global")(f, z0)
    damped = make_solver("fixed_point", tol=1e-6, max_iter=200, damping=0.5)(f, z0)
    for res in (per, glob, damped):
        assert res.converged
        assert torch.allclose(res.z, torch.tensor([[2.0], [200.0]]), rtol=1e-5)
    assert damped.iterations > per.iterations  # half steps contract at 0.75 instead of 0.5


def test_already_solved_samples_do_not_break_anderson():
    def f(z):  # sample 0 starts at its fixed point (0), sample 1 does not
        return 0.5 * z * torch.tensor([[0.0], [1.0]]) + torch.tensor([[0.0], [1.0]])

    res = make_solver("anderson", tol=1e-8, max_iter=50)(f, torch.zeros(2, 4))
    assert res.converged and torch.isfinite(res.z).all()
    assert torch.allclose(res.z[1], torch.full((4,), 2.0))


def test_unknown_solver_is_a_recipe_error():
    with pytest.raises(RecipeError, match="unknown solver 'andersen'.*did you mean 'anderson'"):
        build_model({"model": {"hidden_size": 16, "l_block": {"type": "transformer", "num_heads": 2},
                               "gradient": {"type": "implicit", "solver": {"type": "andersen"}}}})
    with pytest.raises(RecipeError, match="memry"):
        build_model({"model": {"hidden_size": 16, "l_block": {"type": "transformer", "num_heads": 2},
                               "gradient": {"type": "implicit", "solver": {"type": "anderson", "memry": 3}}}})
    with pytest.raises(RecipeError, match="a solver is a mapping with its type"):
        build_model({"model": {"hidden_size": 16, "l_block": {"type": "transformer", "num_heads": 2},
                               "gradient": {"type": "implicit", "solver": {"tol": 1e-3}}}})


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_unknown_solver_in_the_old_form_is_a_recipe_error():
    with pytest.raises(RecipeError, match="unknown solver 'andersen'.*did you mean 'anderson'"):
        build_model({"model": {"hidden_size": 16, "l_block": {"type": "transformer", "num_heads": 2},
                               "gradient": {"type": "implicit", "solver": "andersen"}}})
    with pytest.raises(RecipeError, match="memry"):
        build_model({"model": {"hidden_size": 16, "l_block": {"type": "transformer", "num_heads": 2},
                               "gradient": {"type": "implicit", "solver_options": {"memry": 3}}}})
