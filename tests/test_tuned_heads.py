"""The controllers experiment's head options (experiments/controllers/tuned_heads.py): bounded and
RMS-preserving heads, the modulation penalty and the controller's learning-rate scale, moved out of the
core schema by issue 26 with their tests (these ran against the core fields before)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hrmzoo.cli.build_cmd import describe
from hrmzoo.controllers.modulation import HeadSpec
from hrmzoo.errors import RecipeError
from hrmzoo.model.segment_loop import new_carry, segment_step
from tests.helpers import random_batch, tuned_heads_plugin
from tests.test_controllers import COUPLINGS, QUAT, pair, tiny_model, with_tasks


@pytest.fixture(autouse=True, scope="module")
def _plugin():
    global TunedHead
    with tuned_heads_plugin() as plugin:
        TunedHead = plugin.TunedHead
        yield


TunedHead = None  # the plugin's head class, set while this module's tests run


# ---------------------------------------------------------------- bounded modulation (modulation_bound)
BOUNDED_QUAT = "model.controller={type: quaternion_tuned, num_task_families: 3, head_width: 8, modulation_bound: 0.5}"


def blow_up_heads(model, scale: float = 100.0) -> None:
    """Push every head's last layer far from zero, as a long run at a high lr can."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for head in model.controller.heads.values():
            head.out.weight.copy_(scale * torch.randn(head.out.weight.shape, generator=g))
            head.out.bias.copy_(scale * torch.randn(head.out.bias.shape, generator=g))


@given(seed=st.integers(0, 2**16), bound=st.sampled_from([0.05, 0.5, 2.0]), kind=st.sampled_from(["film", "gate"]))
def test_bounded_head_stays_within_its_bound(seed, bound, kind):
    head = TunedHead(HeadSpec("X", "q", "h_step", kind, False, ""), in_dim=12, hidden_size=6, width=8, bound=bound)
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


@pytest.mark.parametrize("controller", [BOUNDED_QUAT, "model.controller={type: film_tuned, point: h_step, num_task_families: 3, head_width: 8, modulation_bound: 0.5}"])
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
        tiny_model("model.controller={type: quaternion_tuned, modulation_bound: 0}")
    assert tiny_model("model.controller={type: quaternion_tuned}").controller.modulation_bound is None  # default: unbounded
    text = describe(tiny_model(BOUNDED_QUAT))
    assert "modulation bound: every gamma, beta, delta = 0.5 * tanh(raw / 0.5)" in text


# ---------------------------------------------------------------- RMS-preserving film heads (preserve_rms)
RMS_QUAT = "model.controller={type: quaternion_tuned, num_task_families: 3, head_width: 8, modulation_bound: 0.5, preserve_rms: true}"


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
    head = TunedHead(HeadSpec("X", "q", "h_step", "film", False, ""), in_dim=4, hidden_size=6, width=8, preserve_rms=True)
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
PENALTY_QUAT = "model.controller={type: quaternion_tuned, num_task_families: 3, head_width: 8, preserve_rms: true, modulation_penalty: 2.0}"


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
        tiny_model("model.controller={type: quaternion_tuned, modulation_penalty: -1}")


# ---------------------------------------------------------------- the options left the core schema
def test_core_controllers_no_longer_take_the_moved_options():
    """An old recipe or checkpoint that wrote a moved option at its "off" value loads unchanged; any
    other value is a one-line error naming the plugin."""
    assert tiny_model("model.controller={type: quaternion, num_task_families: 3, modulation_bound: null, preserve_rms: false, "
                      "modulation_penalty: 0.0}").controller.head_class.__name__ == "ModulationHead"
    for option in ("modulation_bound: 0.5", "preserve_rms: true", "modulation_penalty: 1.0"):
        with pytest.raises(RecipeError, match=r"model\.controller\.\w+: .*moved to experiments/controllers/tuned_heads\.py") as info:
            tiny_model(f"model.controller={{type: film, {option}}}")
        assert "\n" not in str(info.value)
    with pytest.raises(RecipeError, match=r"train\.controller_lr_scale: 0\.1; it moved to experiments/controllers/tuned_heads\.py"):
        tiny_model("train.controller_lr_scale=0.1")
    tiny_model("train.controller_lr_scale=1.0")  # the old default means the same without it
