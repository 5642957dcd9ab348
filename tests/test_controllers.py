"""Controllers: identity at initialisation, where the first gradient lands, traces and errors."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hrmzoo import build_model, registry
from hrmzoo.cli.build_cmd import describe
from hrmzoo.controllers import ControllerError
from hrmzoo.model.segment_loop import new_carry, segment_step
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
        layout = getattr(registry.get("controller", name).cls, "input_layout", None)
        if layout == "tom2":  # reads the tom2 story layout (the perspective controller): a tom2 batch of its length
            from hrmzoo.data import tom_story

            d = tom_story.generate_tom_story(1, 0, size=8, event_slots=8, seed=0)["train"]
            model = tiny_model(f"model.controller.type={name}", f"model.seq_len={d['inputs'].shape[1]}", f"model.vocab_size={tom_story.VOCAB_SIZE}")
            batch = {"inputs": torch.from_numpy(d["inputs"].astype("int64")), "labels": torch.from_numpy(d["labels"].astype("int64")),
                     "puzzle_identifiers": torch.zeros(len(d["inputs"]), dtype=torch.long)}
            out = model(batch)
            assert out.logits.shape[:2] == (len(d["inputs"]), model.cfg.seq_len)
            continue
        assert layout is None, f"controller {name}: no test batch for input layout {layout!r}"
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
