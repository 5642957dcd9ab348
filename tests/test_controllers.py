"""Controllers: identity at initialisation, where the first gradient lands, traces and errors."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hrmzoo import build_model, registry
from hrmzoo.cli.build_cmd import describe
from hrmzoo.controllers import ControllerError
from hrmzoo.loop import new_carry, segment_step
from tests.helpers import random_batch

# an explicit small backbone, so these tests do not depend on how tiny_sudoku4 is configured
BACKBONE = [
    "model.hidden_size=32",
    "model.seq_len=16",
    "model.vocab_size=6",
    "model.pos_encoding=rope",
    "model.l_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}",
    "model.h_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}",
    "model.halting={type: q_learning, max_segments: 4}",
]


def tiny_model(*overrides: str, seed: int = 0):
    return build_model("tiny_sudoku4", [*BACKBONE, *overrides], seed=seed)

COUPLINGS = {
    "hierarchical": ["model.coupling={type: hierarchical, h_cycles: 2, l_cycles: 2}"],
    "recursive": ["model.coupling={type: recursive, t_cycles: 2, n_cycles: 2}", "~model.h_block"],
    "flat": ["model.coupling={type: flat, cycles: 2, steps: 2}", "~model.h_block"],
}
QUAT = "model.controller={type: quaternion, num_task_families: 3, head_width: 8}"


def pair(coupling: str, controller: str, seed: int, *extra: str):
    """(model without controller, same model with it), all shared weights equal."""
    base = tiny_model(*COUPLINGS[coupling], *extra, seed=seed)
    ctl = tiny_model(*COUPLINGS[coupling], *extra, controller, seed=seed)
    missing, unexpected = ctl.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("controller.") for k in missing)
    return base, ctl


def with_tasks(batch, num_tasks: int, seed: int):
    g = torch.Generator().manual_seed(seed + 1)
    return {**batch, "task_id": torch.randint(0, num_tasks, (batch["inputs"].shape[0],), generator=g)}


@given(
    seed=st.integers(0, 2**16),
    coupling=st.sampled_from(sorted(COUPLINGS)),
    hidden=st.sampled_from([16, 32]),
    batch_size=st.integers(1, 3),
    perspective=st.sampled_from(["given", "inferred"]),
)
def test_quaternion_is_identity_at_init(seed, coupling, hidden, batch_size, perspective):
    controller = f"model.controller={{type: quaternion, num_task_families: 3, head_width: 8, perspective: {perspective}}}"
    base, ctl = pair(coupling, controller, seed, f"model.hidden_size={hidden}")
    batch = with_tasks(random_batch(base, batch_size, seed), 3, seed)
    s_base = s_ctl = None
    for _ in range(2):  # two segments: the carried state must agree too
        a, b = base(batch, s_base), ctl(batch, s_ctl)
        assert torch.equal(a.logits, b.logits)
        assert (a.halt_logits is None) == (b.halt_logits is None)
        if a.halt_logits is not None:
            assert torch.equal(a.halt_logits, b.halt_logits)
        for key in a.state:
            assert torch.equal(a.state[key], b.state[key])
        s_base, s_ctl = a.state, b.state
    # every head ran, and at init every head is exactly at the identity
    points = {"FF": "l_step", "FE": "l_context", "SF": "h_message", "SE": "h_step"}
    expected = ["FF", "FE"] if coupling == "flat" else list(points)
    assert sorted(b.diagnostics["trace"]) == sorted(f"{h}/{points[h]}" for h in expected)
    assert all(float(v) == 0.0 for vals in b.diagnostics["trace"].values() for v in vals)


@given(seed=st.integers(0, 2**16), point=st.sampled_from(["l_context", "l_step", "h_message", "h_step"]))
def test_film_is_identity_at_init(seed, point):
    base, ctl = pair("hierarchical", f"model.controller={{type: film, point: {point}, num_task_families: 2, head_width: 8}}", seed)
    batch = with_tasks(random_batch(base, 2, seed), 2, seed)
    assert torch.equal(base(batch).logits, ctl(batch).logits)



@pytest.mark.parametrize("coupling", ["hierarchical", "recursive"])
def test_first_gradient_reaches_every_head(coupling):
    """Step 1: only the zero-initialised last layers (and the framing classifier) get gradient;
    after one optimizer step the earlier layers and the perspective table do too."""
    base, model = pair(coupling, QUAT, seed=3)
    batch = with_tasks(random_batch(model, 4, seed=3), 3, seed=3)
    opt = torch.optim.Adam(model.controller.parameters(), lr=1e-2)

    carry, res = segment_step(model, new_carry(model, batch), batch, training=True)
    assert "framing" in res.output.aux_losses and float(res.output.aux_losses["framing"].detach()) > 0
    res.loss.backward()
    for name, head in model.controller.heads.items():
        assert head.out.weight.grad.abs().sum() > 0, f"{name}: zero-init last layer got no gradient"
        assert head.out.bias.grad.abs().sum() > 0, name
        # through a zero weight nothing flows back: true at step 1, by construction
        assert head.inp.weight.grad is None or head.inp.weight.grad.abs().sum() == 0, name
    assert model.controller.table.weight.grad is None or model.controller.table.weight.grad.abs().sum() == 0
    assert model.controller.framing.weight.grad.abs().sum() > 0

    opt.step()
    opt.zero_grad()
    _, res = segment_step(model, new_carry(model, batch), batch, training=True)
    res.loss.backward()
    for name, head in model.controller.heads.items():
        assert head.inp.weight.grad.abs().sum() > 0, f"{name}: hidden layer still without gradient after one step"
    assert model.controller.table.weight.grad.abs().sum() > 0
    trace = res.output.diagnostics["trace"]
    assert all(float(v) > 0 for vals in trace.values() for v in vals)
    # the controller now changes the model's outputs
    assert not torch.equal(res.output.logits, base(batch).logits)


def test_trace_has_one_entry_per_step():
    _, model = pair("hierarchical", QUAT, 0, "model.coupling.h_cycles=3", "model.coupling.l_cycles=2")
    out = model(random_batch(model, 2))
    trace = out.diagnostics["trace"]
    assert len(trace["FF/l_step"]) == len(trace["FE/l_context"]) == 6  # 3 cycles x 2 L steps
    assert len(trace["SF/h_message"]) == len(trace["SE/h_step"]) == 3
    assert all(v.dim() == 0 and not v.requires_grad for vals in trace.values() for v in vals)


def test_missing_task_id_means_family_zero():
    _, model = pair("hierarchical", QUAT, seed=1)
    with torch.no_grad():  # make the controller active so the perspective matters
        for p in model.controller.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = random_batch(model, 2)
    zero = model({**batch, "task_id": torch.zeros(2, dtype=torch.long)})
    two = model({**batch, "task_id": torch.full((2,), 2)})
    plain = model(batch)
    assert torch.equal(plain.logits, zero.logits)
    assert not torch.equal(plain.logits, two.logits)


def test_task_id_out_of_range_is_a_user_error():
    _, model = pair("hierarchical", QUAT, seed=0)
    batch = with_tasks(random_batch(model, 2), 3, 0)
    batch["task_id"] = torch.tensor([0, 5])
    with pytest.raises(ControllerError, match="num_task_families") as exc:
        model(batch)
    assert "\n" not in str(exc.value)


def test_heads_subset_and_describe():
    model = tiny_model("model.controller={type: quaternion, heads: [SE, FF], num_task_families: 2}")
    assert list(model.controller.heads) == ["FF", "SE"]
    assert model.controller.hook_points == ("l_step", "h_step")
    with pytest.raises(Exception, match="at most once"):
        tiny_model("model.controller={type: quaternion, heads: [SE, SE]}")


def test_build_prints_four_heads():
    model = tiny_model(QUAT)
    text = describe(model)
    counts = model.controller.head_parameters()
    for name, point in [("FF", "l_step"), ("FE", "l_context"), ("SF", "h_message"), ("SE", "h_step")]:
        line = next(row for row in text.splitlines() if row.strip().startswith(name + " "))
        assert f"@{point}" in line and f"{counts[name]:,} params" in line
    assert sum(counts.values()) + 3 * 8 + model.controller.framing.weight.numel() + 3 == sum(
        p.numel() for p in model.controller.parameters()
    )


def test_every_registered_controller_builds_and_runs():
    for name in registry.list_components("controller")["controller"]:
        model = tiny_model(f"model.controller.type={name}")
        out = model(random_batch(model, 2))
        assert out.logits.shape[:2] == (2, model.cfg.seq_len)


def test_old_heads_module_still_imports_with_a_deprecation_warning():
    import importlib
    import sys

    from hrmzoo.controllers import modulation

    sys.modules.pop("hrmzoo.controllers.heads", None)
    with pytest.warns(DeprecationWarning, match="hrmzoo.controllers.modulation"):
        old = importlib.import_module("hrmzoo.controllers.heads")
    assert old.HeadController is modulation.HeadController and old.HeadSpec is modulation.HeadSpec


# ---------------------------------------------------------------- bounded modulation (modulation_bound)
BOUNDED_QUAT = "model.controller={type: quaternion, num_task_families: 3, head_width: 8, modulation_bound: 0.5}"


def blow_up_heads(model, scale: float = 100.0) -> None:
    """Push every head's last layer far from zero, as a long run at a high lr can."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for head in model.controller.heads.values():
            head.out.weight.copy_(scale * torch.randn(head.out.weight.shape, generator=g))
            head.out.bias.copy_(scale * torch.randn(head.out.bias.shape, generator=g))


@given(seed=st.integers(0, 2**16), bound=st.sampled_from([0.05, 0.5, 2.0]), kind=st.sampled_from(["film", "gate"]))
def test_bounded_head_stays_within_its_bound(seed, bound, kind):
    from hrmzoo.controllers.modulation import HeadSpec, ModulationHead

    head = ModulationHead(HeadSpec("X", "q", "h_step", kind, False, ""), in_dim=12, hidden_size=6, width=8, bound=bound)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.out.weight.copy_(1e3 * torch.randn(head.out.weight.shape, generator=g))
    pooled = 1e3 * torch.randn(5, 12, generator=g)
    mod = head.modulation(pooled, None).detach()
    assert bool((mod.abs() <= torch.tensor(bound)).all())  # the bound as the model's float32 holds it
    assert float(mod.abs().max()) > 0.9 * bound  # saturated, not zeroed
    # film: a state is scaled by at most 1 + bound and shifted by at most bound per channel
    value, old = torch.randn(5, 7, 6, generator=g), torch.randn(5, 7, 6, generator=g)
    out = head.apply(value, old, mod).detach()
    limit = (1 + bound) * value.abs() + bound if kind == "film" else value.abs() + bound * (value - old).abs()
    assert bool((out.abs() <= limit + 1e-5).all())


def test_bounded_controller_keeps_every_trace_within_the_bound():
    _, model = pair("hierarchical", BOUNDED_QUAT, seed=2)
    blow_up_heads(model)
    out = model(with_tasks(random_batch(model, 3, seed=2), 3, seed=2))
    trace = out.diagnostics["trace"]
    assert sorted(trace) == ["FE/l_context", "FF/l_step", "SE/h_step", "SF/h_message"]
    assert all(0.1 < float(v) <= 0.5 for vals in trace.values() for v in vals)
    # the same blown-up heads without the bound modulate by orders of magnitude more
    _, free = pair("hierarchical", QUAT, seed=2)
    blow_up_heads(free)
    free_trace = free(with_tasks(random_batch(free, 3, seed=2), 3, seed=2)).diagnostics["trace"]
    assert min(float(v) for vals in free_trace.values() for v in vals) > 10.0


@given(seed=st.integers(0, 2**16), coupling=st.sampled_from(sorted(COUPLINGS)))
def test_bounded_controller_is_identity_at_init(seed, coupling):
    base, ctl = pair(coupling, BOUNDED_QUAT, seed)
    batch = with_tasks(random_batch(base, 2, seed), 3, seed)
    a, b = base(batch), ctl(batch)
    assert torch.equal(a.logits, b.logits)
    for key in a.state:
        assert torch.equal(a.state[key], b.state[key])


def test_bound_leaves_small_modulations_alone():
    """b * tanh(r / b) has slope 1 at 0: near the identity bounded and unbounded heads agree."""
    _, free = pair("hierarchical", QUAT, seed=4)
    _, bounded = pair("hierarchical", BOUNDED_QUAT, seed=4)
    with torch.no_grad():
        for p in free.controller.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    bounded.load_state_dict(free.state_dict())
    batch = with_tasks(random_batch(free, 2, seed=4), 3, seed=4)
    a, b = free(batch), bounded(batch)
    assert not torch.equal(a.logits, b.logits)  # the bound is applied ...
    assert torch.allclose(a.logits, b.logits, atol=1e-4)  # ... and is invisible this close to the identity


def assert_every_head_learns(controller: str, seed: int):
    """Two optimizer steps: the heads' last layer gets gradient at once; their first layer after one
    step, past the zero-initialised last layer (as without a bound). Returns the model and its batch."""
    _, model = pair("hierarchical", controller, seed=seed)
    batch = with_tasks(random_batch(model, 4, seed=seed), 3, seed=seed)
    opt = torch.optim.Adam(model.controller.parameters(), lr=1e-2)
    for step in range(2):
        opt.zero_grad()
        _, res = segment_step(model, new_carry(model, batch), batch, training=True)
        res.loss.backward()
        for name, head in model.controller.heads.items():
            assert head.out.weight.grad.abs().sum() > 0, (step, name)
            if step == 1:
                assert head.inp.weight.grad.abs().sum() > 0, name
        opt.step()
    return model, batch


@pytest.mark.parametrize("controller", [BOUNDED_QUAT, "model.controller={type: film, point: h_step, num_task_families: 3, head_width: 8, modulation_bound: 0.5}"])
def test_gradient_reaches_a_bounded_controller(controller):
    model, batch = assert_every_head_learns(controller, seed=5)
    # and even when saturated (tanh' small but not zero) the heads still learn
    blow_up_heads(model, scale=3.0)
    model.zero_grad()
    _, res = segment_step(model, new_carry(model, batch), batch, training=True)
    res.loss.backward()
    assert all(h.out.weight.grad.abs().sum() > 0 for h in model.controller.heads.values())


def test_bound_is_validated_and_described():
    with pytest.raises(Exception, match="modulation_bound"):
        tiny_model("model.controller={type: quaternion, modulation_bound: 0}")
    assert tiny_model(QUAT).controller.modulation_bound is None  # default: unbounded, as before
    text = describe(tiny_model(BOUNDED_QUAT))
    assert "modulation bound: every gamma, beta, delta = 0.5 * tanh(raw / 0.5)" in text


# ---------------------------------------------------------------- RMS-preserving film heads (preserve_rms)
RMS_QUAT = "model.controller={type: quaternion, num_task_families: 3, head_width: 8, modulation_bound: 0.5, preserve_rms: true}"


@given(seed=st.integers(0, 2**16), coupling=st.sampled_from(sorted(COUPLINGS)))
def test_rms_preserving_controller_is_identity_at_init(seed, coupling):
    base, ctl = pair(coupling, RMS_QUAT, seed)
    batch = with_tasks(random_batch(base, 2, seed), 3, seed)
    s_base = s_ctl = None
    for _ in range(2):
        a, b = base(batch, s_base), ctl(batch, s_ctl)
        assert torch.equal(a.logits, b.logits)
        for key in a.state:
            assert torch.equal(a.state[key], b.state[key])
        s_base, s_ctl = a.state, b.state


@given(seed=st.integers(0, 2**16), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_rms_preserving_film_keeps_the_scale_of_what_it_modulates(seed, scale):
    from hrmzoo.controllers.modulation import HeadSpec, ModulationHead

    head = ModulationHead(HeadSpec("X", "q", "h_step", "film", False, ""), in_dim=4, hidden_size=6, width=8, preserve_rms=True)
    g = torch.Generator().manual_seed(seed)
    value = scale * torch.randn(3, 5, 6, generator=g, dtype=torch.float64)
    mod = 10.0 * torch.randn(3, 12, generator=g, dtype=torch.float64)  # an unbounded head far from the identity
    out = head.apply(value, None, mod)
    rms = lambda t: t.pow(2).mean(-1).sqrt()  # noqa: E731
    assert torch.allclose(rms(out), rms(value), rtol=1e-9)
    assert not torch.allclose(out, value)  # it still modulates: channels re-weighted and shifted
    zero = head.apply(torch.zeros(1, 2, 6, dtype=torch.float64), None, mod[:1])
    assert bool(torch.isfinite(zero).all())  # an all-zero row stays finite


def test_rms_preserving_heads_cannot_grow_the_state():
    """The collapse on the tom grids: unbounded SE/SF grew H's state tenfold; with preserve_rms it keeps its RMS."""
    free, bounded = pair("hierarchical", QUAT, seed=6)[1], pair("hierarchical", RMS_QUAT, seed=6)[1]
    base = pair("hierarchical", QUAT, seed=6)[0]
    for model in (free, bounded):
        blow_up_heads(model, scale=3.0)
    batch = with_tasks(random_batch(base, 3, seed=6), 3, seed=6)
    rms = lambda m: float(m(batch).state["z_H"].pow(2).mean().sqrt())  # noqa: E731
    assert rms(free) > 3 * rms(base)
    assert rms(bounded) == pytest.approx(rms(base), rel=0.05)
    assert not torch.equal(bounded(batch).logits, base(batch).logits)


def test_rms_preserving_controller_still_learns():
    model, _ = assert_every_head_learns(RMS_QUAT, seed=7)
    assert "film heads keep the RMS" in describe(model)


# ---------------------------------------------------------------- modulation penalty (modulation_penalty)
PENALTY_QUAT = "model.controller={type: quaternion, num_task_families: 3, head_width: 8, preserve_rms: true, modulation_penalty: 2.0}"


def test_modulation_penalty_is_the_weighted_mean_square_and_trains_the_heads_down():
    _, model = pair("hierarchical", PENALTY_QUAT, seed=3)
    batch = with_tasks(random_batch(model, 3, seed=3), 3, seed=3)
    assert float(model(batch).aux_losses["modulation"]) == 0.0  # identity at init: nothing to penalise
    blow_up_heads(model, scale=0.5)
    seen = []
    for head in model.controller.heads.values():  # capture every modulation the heads produce
        head.modulation = (lambda orig: lambda *a: seen.append(orig(*a)) or seen[-1])(head.modulation)
    out = model(batch)
    penalty = out.aux_losses["modulation"]
    with_grad = [m for m in seen if m.requires_grad]  # one-step gradient: the no-grad updates only dilute
    assert 0 < len(with_grad) < len(seen)
    assert float(penalty) == pytest.approx(2.0 * float(torch.stack([m.pow(2).mean() for m in with_grad]).mean()), rel=1e-5)
    # the penalty alone pulls every head's last layer towards the identity
    heads = [h.out.weight for h in model.controller.heads.values()]
    penalty.backward()
    assert all(w.grad is not None and float(w.grad.abs().sum()) > 0 for w in heads)
    with torch.no_grad():
        for w in heads:
            w -= 0.05 * w.grad
    assert float(model(batch).aux_losses["modulation"]) < float(penalty)


def test_modulation_penalty_off_by_default_and_in_the_training_loss():
    _, plain = pair("hierarchical", QUAT, seed=4)
    assert plain.controller.modulation_penalty == 0.0
    blow_up_heads(plain, scale=0.5)
    assert "modulation" not in plain(with_tasks(random_batch(plain, 2, seed=4), 3, seed=4)).aux_losses
    _, model = pair("hierarchical", PENALTY_QUAT, seed=4)
    blow_up_heads(model, scale=0.5)
    batch = with_tasks(random_batch(model, 2, seed=4), 3, seed=4)
    _, res = segment_step(model, new_carry(model, batch), batch, training=True, generator=torch.Generator().manual_seed(0))
    assert float(res.metrics["loss/modulation"]) > 0
    assert any("modulation penalty" in line for line in model.controller.describe())
    from hrmzoo.errors import RecipeError

    with pytest.raises(RecipeError, match="modulation_penalty"):
        tiny_model("model.controller={type: quaternion, modulation_penalty: -1}")
