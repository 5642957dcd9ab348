"""Halting policies: the segment cap, evaluation to the max, HRM's Q targets, exploration, PonderNet.

Parametrised over the registry where the property holds for every policy.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hrmzoo import registry
from hrmzoo.model.segment_loop import new_carry, segment_step
from hrmzoo.model.wiring import ComponentSizes, construct
from tests.helpers import random_batch, tiny_model
from tests.test_solvers import one_thread  # noqa: F401  (autouse fixture)

POLICIES = registry.REGISTRIES["halting"].names()
LEARNED = [n for n in POLICIES if "exploration_prob" in registry.get("halting", n).config.model_fields]


def policy_model(name: str, max_segments: int, *fields: str, seed: int = 0):
    return tiny_model(f"model.halting={{type: {name}, max_segments: {max_segments}}}", *(f"model.halting.{f}" for f in fields), seed=seed)


def set_head(model, halt: bool | None):
    """Bias the halting head to always halt (True), never halt (False) or randomise it (None)."""
    head = getattr(model.halting, "head", None)
    if head is None:
        return
    with torch.no_grad():
        if halt is None:
            head.weight.normal_(0, 1.0)
            head.bias.zero_()
            return
        head.weight.zero_()
        sign = 1.0 if halt else -1.0
        # q_learning halts when q_halt > q_continue; one-logit heads when the logit is > 0
        head.bias.copy_(torch.tensor([5.0 * sign, -5.0 * sign][: head.bias.numel()]))


def run(model, segments: int, training: bool, batch_size: int = 4, seed: int = 0):
    """Run ``segments`` steps, yielding each StepResult and the carry after it."""
    gen = torch.Generator().manual_seed(seed)
    batch = random_batch(model, batch_size, seed)
    carry = new_carry(model, batch)
    for i in range(segments):
        fresh = random_batch(model, batch_size, seed + i + 1)
        with torch.set_grad_enabled(training):
            carry, res = segment_step(model, carry, fresh, training=training, generator=gen)
        yield carry, res


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("eval_mode", ["max", "adaptive"])
@pytest.mark.parametrize("name", POLICIES)
def test_never_more_than_max_segments(name, eval_mode, training):
    model = policy_model(name, 3, f"eval_mode={eval_mode}", seed=1)
    set_head(model, None)  # mixed decisions across samples and segments
    for _, res in run(model, 10, training):
        assert int(res.steps.max()) <= 3
        assert bool(res.halted[res.steps >= 3].all())


@pytest.mark.parametrize("name", POLICIES)
def test_evaluation_to_max_runs_exactly_the_maximum(name):
    model = policy_model(name, 4, "eval_mode=max")
    set_head(model, True)  # the adaptive rule would stop every sample after one segment
    model.eval()
    for i, (_, res) in enumerate(run(model, 8, training=False)):
        assert bool((res.steps == i % 4 + 1).all())
        assert bool((res.halted == (res.steps == 4)).all())


@pytest.mark.parametrize("name", POLICIES)
def test_adaptive_evaluation_uses_the_policy_rule(name):
    model = policy_model(name, 4, "eval_mode=adaptive")
    set_head(model, True)
    model.eval()
    _, res = next(run(model, 1, training=False))
    expected = name in LEARNED  # a learned head biased to halt stops at once; fixed runs on
    assert bool((res.halted == expected).all())


@given(
    name=st.sampled_from(POLICIES),
    max_segments=st.integers(1, 8),
    batch_size=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    training=st.booleans(),
    eval_mode=st.sampled_from(["max", "adaptive"]),
)
def test_should_halt_respects_cap_and_minimum(name, max_segments, batch_size, seed, training, eval_mode):
    entry = registry.get("halting", name)
    sizes = ComponentSizes(hidden_size=tiny_model().cfg.hidden_size)
    policy = construct("halting", entry.config(max_segments=max_segments, eval_mode=eval_mode), sizes, where="model.halting")
    g = torch.Generator().manual_seed(seed)
    steps = torch.randint(1, max_segments + 1, (batch_size,), generator=g)
    min_steps = torch.randint(0, max_segments + 1, (batch_size,), generator=g)
    logits = 10 * torch.randn(batch_size, 2, generator=g)
    halted = policy.should_halt(logits, steps, min_steps, training)
    assert bool(halted[steps >= max_segments].all())
    if training:
        assert not bool(halted[(steps < min_steps) & (steps < max_segments)].any())
    elif eval_mode == "max":
        assert torch.equal(halted, steps >= max_segments)


# ---------------------------------------------------------------- HRM's Q-learning

def bce(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logit.double())
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p))


def test_q_learning_targets_match_reference_formulas():
    model = policy_model("q_learning", 5)
    policy = model.halting
    # hand-made logits: columns (q_halt, q_continue)
    logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5], [0.0, 0.0], [1.5, 4.0]], requires_grad=True)
    nxt = torch.tensor([[0.3, -2.0], [-1.0, 1.2], [4.0, -4.0], [-0.5, 2.5]])
    correct = torch.tensor([True, False, True, False])
    steps = torch.tensor([1, 2, 5, 5])  # the last two are at max_segments
    is_last = steps >= 5

    target = policy.continue_target(nxt, is_last)
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = torch.tensor([s(max(0.3, -2.0)), s(max(-1.0, 1.2)), s(4.0), s(-0.5)])
    assert torch.allclose(target, expected)

    terms = policy.loss(logits, correct, steps, lambda: nxt)
    assert torch.allclose(terms["q_halt"].double(), 0.5 * bce(logits[:, 0], correct.double()), atol=1e-6)
    assert torch.allclose(terms["q_continue"].double(), 0.5 * bce(logits[:, 1], expected.double()), atol=1e-6)
    # HRM's rule: halt when q_halt > q_continue
    assert torch.equal(policy.wants_halt(logits), torch.tensor([True, False, False, False]))


def test_q_learning_continue_target_comes_from_the_next_segment():
    model = policy_model("q_learning", 3)
    set_head(model, None)
    carry = new_carry(model, random_batch(model, 4))
    gen = torch.Generator().manual_seed(0)
    carry, res = segment_step(model, carry, random_batch(model, 4), training=True, generator=gen)
    with torch.no_grad():
        nxt = model(carry.batch, res.output.state).halt_logits
    target = model.halting.continue_target(nxt, res.steps >= 3)
    assert torch.allclose(res.terms["q_continue"].double(), 0.5 * bce(res.output.halt_logits[:, 1].detach(), target.double()), atol=1e-6)


@pytest.mark.parametrize("name", LEARNED)
def test_full_exploration_halts_no_earlier_than_the_drawn_minimum(name):
    max_segments = 6
    model = policy_model(name, max_segments, "exploration_prob=1.0", "exploration=per_puzzle")
    set_head(model, True)  # without exploration every sample would halt after one segment
    halted_at, minimum = [], []
    for carry, res in run(model, 40, training=True, batch_size=8, seed=3):
        assert bool((carry.min_steps >= 2).all() and (carry.min_steps <= max_segments).all())
        assert not bool(res.halted[res.steps < carry.min_steps].any())
        halted_at += res.steps[res.halted].tolist()
        minimum += carry.min_steps[res.halted].tolist()
    assert len(halted_at) > 20
    assert all(h >= m for h, m in zip(halted_at, minimum))
    if name != "pondernet":  # deterministic rules halt as soon as the minimum allows
        assert halted_at == minimum
    assert len(set(minimum)) > 2  # the minimum really is drawn


# ---------------------------------------------------------------- PonderNet

def test_pondernet_loss_matches_its_formula():
    model = policy_model("pondernet", 4, "prior_halt=0.25", "kl_weight=0.1", "continue_loss=0.3", "loss_weight=2.0")
    policy = model.halting
    logits = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    correct = torch.tensor([True, False, False, True])
    steps = torch.tensor([1, 2, 3, 4])
    terms = policy.loss(logits, correct, steps, lambda: pytest.fail("PonderNet needs no extra forward"))
    lam = torch.sigmoid(logits[:, 0])
    err = 1 - correct.float()
    free = torch.tensor([1.0, 1.0, 1.0, 0.0])  # the halt at max_segments is forced
    assert torch.allclose(terms["ponder_task"], 2.0 * (lam * err + (1 - lam) * 0.3) * free)
    kl = torch.distributions.kl_divergence(torch.distributions.Bernoulli(lam), torch.distributions.Bernoulli(torch.tensor(0.25)))
    assert torch.allclose(terms["ponder_kl"], 0.1 * kl * free, atol=1e-6)


def test_pondernet_gradient_pushes_towards_halting_when_right():
    model = policy_model("pondernet", 8, "kl_weight=0.0")
    logits = torch.zeros(2, 1, requires_grad=True)
    terms = model.halting.loss(logits, torch.tensor([True, False]), torch.tensor([1, 1]), None)
    sum(t.sum() for t in terms.values()).backward()
    assert logits.grad[0, 0] < 0 < logits.grad[1, 0]  # descent raises lambda when right, lowers it when wrong


def test_pondernet_training_halts_with_probability_lambda():
    model = policy_model("pondernet", 100)
    torch.manual_seed(0)
    logits = torch.full((20000, 1), 0.8)
    steps = torch.ones(20000, dtype=torch.long)
    halted = model.halting.should_halt(logits, steps, None, training=True)
    rate, lam = halted.float().mean().item(), torch.sigmoid(torch.tensor(0.8)).item()
    assert abs(rate - lam) < 0.015  # ~4 standard errors
    # evaluation is deterministic: halt iff lambda > 0.5
    model.halting.cfg = model.halting.cfg.model_copy(update={"eval_mode": "adaptive"})
    assert model.halting.should_halt(logits, steps, None, training=False).all()
    assert not model.halting.should_halt(-logits, steps, None, training=False).any()


def _original_exploration_segments(halt_every_segment, max_segments, prob, batch, gen) -> list[int]:
    """HRM's rule, restated: every segment draws min = (rand < p) * randint(2, max + 1)
    for every slot, and a slot halts when steps >= max or (it wants to and steps >= min)."""
    steps = torch.zeros(batch, dtype=torch.long)
    done = []
    for _ in range(200):
        steps = steps + 1
        explore = torch.rand(batch, generator=gen) < prob
        drawn = torch.randint(2, max_segments + 1, (batch,), generator=gen)
        minimum = torch.where(explore, drawn, torch.zeros_like(drawn))
        halted = (steps >= max_segments) | (halt_every_segment & (steps >= minimum))
        done += steps[halted].tolist()
        steps = torch.where(halted, torch.zeros_like(steps), steps)
    return done


@pytest.mark.parametrize("name", ["q_learning", "trm"])
def test_exploration_redraws_every_segment_as_the_original(name):
    max_segments, prob, batch = 16, 0.1, 32
    model = policy_model(name, max_segments, f"exploration_prob={prob}")
    assert model.halting.cfg.exploration == "per_segment"
    set_head(model, True)  # the head always wants to halt: only exploration delays it
    ours = []
    for _, res in run(model, 200, training=True, batch_size=batch, seed=5):
        ours += res.steps[res.halted].tolist()
    # the same generator stream through the restated rule gives the same halting steps
    gen = torch.Generator().manual_seed(5)
    expected = _original_exploration_segments(True, max_segments, prob, batch, gen)
    assert ours == expected
    mean = sum(ours) / len(ours)
    assert 1.05 < mean < 1.2  # 1.11 in expectation; per_puzzle gives about 1.8


def test_per_puzzle_exploration_explores_longer():
    means = {}
    for mode in ("per_segment", "per_puzzle"):
        model = policy_model("q_learning", 16, "exploration_prob=0.1", f"exploration={mode}")
        set_head(model, True)
        halted = [s for _, res in run(model, 200, training=True, batch_size=32, seed=1) for s in res.steps[res.halted].tolist()]
        means[mode] = sum(halted) / len(halted)
    assert means["per_puzzle"] > means["per_segment"] + 0.4


def test_pondernet_training_draw_comes_from_the_generator_passed_to_segment_step():
    """Same generator seed, same halts, whatever torch's global generator holds, and the
    global generator is left untouched (the run's own generator is what a checkpoint saves)."""
    model = policy_model("pondernet", 8)
    set_head(model, None)
    batch = random_batch(model, 64, seed=1)
    halts = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        carry = new_carry(model, batch)
        _, res = segment_step(model, carry, batch, training=True, generator=torch.Generator().manual_seed(7))
        assert torch.equal(torch.get_rng_state(), before)
        halts.append(res.halted)
    assert torch.equal(halts[0], halts[1])
    assert 0 < int(halts[0].sum()) < 64  # the draw is not degenerate
