"""Every registered block, injection and coupling is built and run forward and backward.

Parametrised over the registry, so a newly registered component is tested the
moment it exists.
"""

import pytest
import torch

from hrmzoo import registry
from tests.helpers import THREE_LEVELS, random_batch, tiny_model


def _names(kind):
    return registry.REGISTRIES[kind].names()


def _forward_backward(model):
    batch = random_batch(model)
    out = model(batch)
    B, S, V = batch["inputs"].shape[0], model.cfg.seq_len, model.cfg.vocab_size
    assert out.logits.shape == (B, S, V)
    assert torch.isfinite(out.logits).all()
    loss = model.head.loss(out.logits, batch["labels"]).mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    return out


@pytest.mark.parametrize("name", _names("block"))
def test_every_block(name):
    cfg = registry.get("block", name).config()
    overrides = [f"model.l_block={{type: {name}, num_layers: 1}}", "model.h_block=null"]
    if "num_heads" in type(cfg).model_fields:
        overrides.append("model.l_block.num_heads=2")
    model = tiny_model(*overrides)
    _forward_backward(model)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.l_block.parameters())


@pytest.mark.parametrize("name", _names("injection"))
def test_every_injection(name):
    model = tiny_model(f"model.injection={{type: {name}}}")
    _forward_backward(model)


@pytest.mark.parametrize("name", _names("coupling"))
def test_every_coupling(name):
    # `levels` schedules model.levels, which the two-level recipe keys do not give
    extra = THREE_LEVELS if name == "levels" else []
    model = tiny_model(f"model.coupling={{type: {name}}}", "model.h_block=null", *extra)
    out = _forward_backward(model)
    assert set(out.state) == set(model.coupling.state_keys)
    assert all(not v.requires_grad for v in out.state.values()), "carried state must be detached"
    assert out.diagnostics["residual"].shape == (3,)


def test_hrm_paper_parameter_count_and_shapes():
    from hrmzoo import build_model

    model = build_model("recipes/hrm_sudoku.yaml")
    assert model.num_parameters() == 27_275_266
    assert model.component_parameters()["l_block"] == 4 * 3_407_872
    out = model({"inputs": torch.randint(0, 11, (2, 81)), "puzzle_identifiers": torch.zeros(2, dtype=torch.long)})
    assert out.logits.shape == (2, 81, 11)
    assert out.halt_logits.shape == (2, 2)


def _record_block_calls(model):
    calls = []
    for tag, block in (("L", model.l_block), ("H", model.h_block)):
        block.register_forward_hook(lambda m, i, o, tag=tag: calls.append((tag, torch.is_grad_enabled())))
    return calls


@pytest.mark.parametrize("order,l_cycles,h_cycles", [("L_then_H", 2, 2), ("L_then_H", 3, 4), ("H_then_L", 2, 3)])
def test_one_step_gives_gradient_to_last_H_and_the_L_it_reads(order, l_cycles, h_cycles):
    model = tiny_model(f"model.coupling.order={order}", f"model.coupling.l_cycles={l_cycles}", f"model.coupling.h_cycles={h_cycles}")
    calls = _record_block_calls(model)
    _forward_backward(model)
    assert len(calls) == h_cycles * (l_cycles + 1)
    with_grad = [i for i, (_, g) in enumerate(calls) if g]
    last_h = max(i for i, (t, _) in enumerate(calls) if t == "H")
    # the L update whose result the last H update reads: with H_then_L the L
    # updates after the last H feed only the next segment's carry
    read_l = max(i for i, (t, _) in enumerate(calls) if t == "L" and i < last_h)
    assert sorted(with_grad) == sorted([read_l, last_h])
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(n.startswith("l_block") for n in grads) and "embedding.tokens.weight" in grads
    assert model.updates_per_segment() == (len(calls), 2)


def test_bptt_gives_gradient_to_every_update():
    model = tiny_model("model.gradient.type=bptt")
    calls = _record_block_calls(model)
    _forward_backward(model)
    assert calls and all(g for _, g in calls)


def test_update_order_changes_outputs():
    a = tiny_model("model.coupling.order=L_then_H", seed=3)
    b = tiny_model("model.coupling.order=H_then_L", seed=3)
    b.load_state_dict(a.state_dict())
    batch = random_batch(a)
    with torch.no_grad():
        la, lb = a(batch).logits, b(batch).logits
    assert not torch.allclose(la, lb)


def test_same_seed_same_weights_and_state_carries():
    a, b = tiny_model(seed=1), tiny_model(seed=1)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    batch = random_batch(a)
    with torch.no_grad():
        first = a(batch)
        second = a(batch, first.state)
    assert not torch.allclose(first.logits, second.logits)


def test_reset_state_only_touches_masked_slots():
    model = tiny_model()
    state = {k: torch.randn(3, model.cfg.total_seq_len, 32) for k in model.coupling.state_keys}
    out = model.reset_state(state, torch.tensor([True, False, True]))
    init = model.initial_state(3)
    for k in state:
        assert torch.equal(out[k][1], state[k][1])
        assert torch.equal(out[k][0], init[k][0]) and torch.equal(out[k][2], init[k][2])


def test_bf16_autocast_forward_on_cpu():
    model = tiny_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(random_batch(model))
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits.float()).all()


def test_bf16_parameters():
    from hrmzoo import build_model

    model = build_model("tiny_sudoku4", dtype="bfloat16")
    out = model(random_batch(model))
    assert out.logits.dtype == torch.bfloat16


def test_flat_builds_no_h_block_even_when_the_recipe_gives_one():
    from hrmzoo import build_model
    from hrmzoo.cli.build_cmd import describe

    hier = build_model("tiny_sudoku4", seed=0)
    flat = build_model("tiny_sudoku4", ["model.coupling={type: flat, cycles: 2, steps: 2}"], seed=0)
    assert hier.cfg.h_block is not None and flat.h_block is None and flat.h_injection is None
    assert flat.num_parameters() == hier.num_parameters() - hier.component_parameters()["h_block"]
    # every parameter it reports is one that trains (the halting head by its own loss)
    _forward_backward(flat)
    untrained = [n for n, p in flat.named_parameters() if p.grad is None and not n.startswith("halting.")]
    assert untrained == []
    assert "ignored: coupling 'flat' builds no H network" in describe(flat)


@pytest.mark.parametrize("extra", [
    ["model.controller={type: quaternion, num_task_families: 3}"],
    ["model.controller={type: film, num_task_families: 2}"],
    ["model.halting={type: pondernet, max_segments: 4}"],
    ["model.injection.type=gated"],
])
def test_optional_components_leave_the_base_weights_unchanged(extra):
    """Seed-stable construction: each component draws from a generator seeded by
    (seed, component), so what an ablation adds cannot shift the others' weights."""
    from hrmzoo import build_model

    base = build_model("tiny_sudoku4", seed=7).state_dict()
    other = build_model("tiny_sudoku4", extra, seed=7).state_dict()
    changed_slot = {"controller", "halting", "l_injection", "h_injection"}
    shared = [k for k in base if k in other and k.split(".")[0] not in changed_slot]
    assert {"head.proj.weight", "init_z_H", "init_z_L", "embedding.tokens.weight"} <= set(shared)
    assert all(torch.equal(base[k], other[k]) for k in shared)
    assert not torch.equal(build_model("tiny_sudoku4", seed=8).state_dict()["head.proj.weight"], base["head.proj.weight"])
