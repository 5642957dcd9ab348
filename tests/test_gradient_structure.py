"""Structural gradient property: over the registry, every estimator trains what
full backpropagation trains, except what its own definition excludes.

For every coupling (and update order) x block x injection x controller, the
parameters that get a non-zero gradient under ``bptt`` must get one under each
estimator too. A rule that picks updates by position instead of data
dependence fails here: with ``order: H_then_L`` the last L update comes after
the last H update and the output never reads it, so a positional one-step rule
leaves the L block and the embeddings untrained.

The couplings include three-level models (`levels`: L, M, H with periods 2
and 2, both orders, and one whose H runs L's network), so the property, and
one_step's rule (the last update of the output level and, followed through
what it reads, the last update of each level before its reader), hold for N
levels, not just HRM's two.
"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch

from hrmzoo import build_model, registry

COUPLINGS = {
    "hierarchical_L_then_H": ({"type": "hierarchical", "order": "L_then_H", "h_cycles": 2, "l_cycles": 2}, True),
    "hierarchical_H_then_L": ({"type": "hierarchical", "order": "H_then_L", "h_cycles": 2, "l_cycles": 2}, True),
    "recursive_shared": ({"type": "recursive", "t_cycles": 2, "n_cycles": 2}, False),
    "recursive_separate": ({"type": "recursive", "t_cycles": 2, "n_cycles": 2}, True),
    "flat": ({"type": "flat", "cycles": 2, "steps": 2}, False),
    # 8 L updates: two cycles of L L M L L M H (or H M L L M L L), so that with slow_first
    # the output's last H update reads M and L updates of the cycle before
    "levels_3_fast_first": ({"type": "levels", "steps": 8, "order": "fast_first"}, True),
    "levels_3_slow_first": ({"type": "levels", "steps": 8, "order": "slow_first"}, True),
    "levels_3_shared": ({"type": "levels", "steps": 8, "order": "fast_first"}, False),
}
LEVEL_NETS = ("l_block", "m_block", "h_block", "l_injection", "m_injection", "h_injection")
BLOCKS = {
    "transformer": {"type": "transformer", "num_layers": 1, "num_heads": 2, "expansion": 2.0},
    "mlp_mixer": {"type": "mlp_mixer", "num_layers": 1, "expansion": 2.0, "token_expansion": 2.0},
    # the 4 positions as a 2x2 grid; the conv block has no cell for a puzzle-embedding prefix (see build)
    "conv": {"type": "conv", "num_layers": 1, "expansion": 2.0},
}
CONTROLLERS = {
    "none": {"type": "none"},
    "film": {"type": "film", "num_task_families": 3, "head_width": 8},
    "quaternion": {"type": "quaternion", "num_task_families": 3, "head_width": 8, "framing_weight": 0.5},
}
# a FiLM head on the middle level, for the three-level models (two-level models have no m_step)
FILM_M = {"type": "film", "point": "m_step", "num_task_families": 3, "head_width": 8}
ESTIMATORS = {
    "one_step": {"type": "one_step"},
    "last_cycle": {"type": "last_cycle"},
    "k_step": {"type": "k_step", "k": 2},
    "implicit": {"type": "implicit", "solver": {"type": "anderson", "tol": 1e-2, "max_iter": 100}},
}
INJECTIONS = registry.REGISTRIES["injection"].names()


def test_the_property_covers_every_registered_estimator_block_controller():
    assert set(ESTIMATORS) | {"bptt"} == set(registry.REGISTRIES["gradient"].names())
    assert set(BLOCKS) == set(registry.REGISTRIES["block"].names())
    # a controller that reads a task's own input layout (the perspective controller reads tom2 stories)
    # cannot run on this property's generic grids; its gradient paths are tested with its task
    # (tests/test_perspective_controller.py)
    own_layout = {n for n in registry.REGISTRIES["controller"].names() if getattr(registry.get("controller", n).cls, "input_layout", None)}
    assert own_layout <= {"perspective"}, f"{own_layout - {'perspective'}}: add a gradient test with its task's inputs"
    assert set(CONTROLLERS) | own_layout == set(registry.REGISTRIES["controller"].names())
    assert {c["type"] for c, _ in COUPLINGS.values()} == set(registry.REGISTRIES["coupling"].names())
    assert set(FILM_M) and all(len(build(c, "transformer", "add", "none", {"type": "bptt"}).level_specs) == 3 for c in COUPLINGS if c.startswith("levels_3"))


def estimators_for(coupling: str) -> dict[str, dict]:
    """ESTIMATORS, with k_step's window long enough to reach every level.

    k_step backpropagates through the last k updates on which the output
    depends, and by definition trains nothing before them: with three levels
    k=2 covers only the last H and the M it reads (building warns, naming
    k=3; tests/test_schedule_coverage.py); the property is checked with k=5,
    which reaches L in both orders.
    """
    if not coupling.startswith("levels_3"):
        return ESTIMATORS
    return {**ESTIMATORS, "k_step": {"type": "k_step", "k": 5}}


def levels(block: dict, separate_h: bool) -> list[dict]:
    """L, M (a copy of L's config, own weights) and H (own weights, or L's network)."""
    top = {"name": "H", "period": 2} if separate_h else {"name": "H", "period": 2, "shared_with": "L"}
    return [{"name": "L", "block": block}, {"name": "M", "period": 2}, top]


def build(coupling: str, block: str, injection: str, controller: str | dict, gradient: dict):
    cfg, separate_h = COUPLINGS[coupling]
    recipe = {
        "name": "structure",
        "model": {
            "hidden_size": 16, "vocab_size": 5, "seq_len": 4,
            "num_puzzle_identifiers": 3, "puzzle_emb_ndim": 0 if block == "conv" else 16, "pos_encoding": "learned",
            "l_block": BLOCKS[block],
            "h_block": BLOCKS[block] if separate_h else None,
            "injection": {"type": injection},
            "coupling": cfg,
            "gradient": gradient,
            "halting": {"type": "q_learning", "max_segments": 2},
            "controller": CONTROLLERS[controller] if isinstance(controller, str) else controller,
        },
    }
    if cfg["type"] == "levels":
        recipe["model"]["levels"] = levels(BLOCKS[block], separate_h)
        del recipe["model"]["l_block"], recipe["model"]["h_block"]
    model = build_model(recipe, seed=0).double()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # zero-initialised layers (controller heads, Q head, puzzle table, gates)
            # would hide which updates carry gradient: give them random values
            if not p.any():
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            # small recurrent weights make most cycles contract, so the implicit
            # solves mostly converge
            if name.startswith((*LEVEL_NETS, "controller")):
                p.mul_(0.05)
    return model


def trained_parameters(model) -> set[str]:
    gen = torch.Generator().manual_seed(2)
    batch = {
        "inputs": torch.randint(0, 5, (2, 4), generator=gen),
        "labels": torch.randint(0, 5, (2, 4), generator=gen),
        "puzzle_identifiers": torch.tensor([1, 2]),
        "task_id": torch.tensor([0, 2]),
    }
    with warnings.catch_warnings():
        # some cycles (e.g. FiLM injection with small weights) do not contract, so an
        # implicit solve may stop at max_iter; which parameters it reaches is the
        # property here. Convergence and accuracy of the implicit gradient are
        # tested in test_gradients.py (unroll and finite-difference comparisons).
        warnings.simplefilter("ignore")
        out = model(batch)
        loss = model.head.loss(out.logits, batch["labels"]).sum() + (out.halt_logits * torch.tensor([0.7, -1.3], dtype=out.halt_logits.dtype)).sum()
        for value in out.aux_losses.values():
            loss = loss + value
        loss.backward()
    return {n for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}


@pytest.mark.parametrize(
    "coupling,block,injection,controller",
    [
        (c, b, i, k)
        for c, b, k in itertools.product(COUPLINGS, BLOCKS, CONTROLLERS)
        for i in ([INJECTIONS[(len(c) + len(b) + len(k)) % len(INJECTIONS)]] if k != "none" or b != "transformer" else INJECTIONS)
    ],
)
def test_every_estimator_trains_what_bptt_trains(coupling, block, injection, controller):
    full = trained_parameters(build(coupling, block, injection, controller, {"type": "bptt"}))
    assert any(n.startswith("l_block") for n in full)
    for name, gradient in estimators_for(coupling).items():
        got = trained_parameters(build(coupling, block, injection, controller, gradient))
        assert full - got == set(), f"{name} leaves untrained: {sorted(full - got)}"
        assert got <= full, f"{name} trains what bptt does not: {sorted(got - full)}"


@pytest.mark.parametrize("order", ["L_then_H", "H_then_L"])
def test_h_then_l_one_step_trains_the_l_block_and_the_embeddings(order):
    cfg = dict(COUPLINGS[f"hierarchical_{order}"][0])
    COUPLINGS["_probe"] = (cfg, True)
    try:
        model = build("_probe", "transformer", "add", "none", {"type": "one_step"})
    finally:
        del COUPLINGS["_probe"]
    got = trained_parameters(model)
    assert {"embedding.tokens.weight", "embedding.puzzle_emb", "embedding.positions"} <= got
    assert any(n.startswith("l_block") for n in got) and any(n.startswith("h_block") for n in got)
    assert model.updates_per_segment() == (6, 2)


def test_k_step_excludes_what_its_definition_excludes():
    # k = 1: only the last H update carries gradient. By definition the L block, the
    # L injection and the embedding (read only by L updates) then get none.
    model = build("hierarchical_L_then_H", "transformer", "gated", "none", {"type": "k_step", "k": 1})
    got = trained_parameters(model)
    full = trained_parameters(build("hierarchical_L_then_H", "transformer", "gated", "none", {"type": "bptt"}))
    excluded = {n for n in full if n.startswith(("l_block", "l_injection", "embedding"))}
    assert excluded and got == full - excluded


@pytest.mark.parametrize("coupling", [c for c in COUPLINGS if c.startswith("levels_3")])
def test_middle_level_controller_trains_like_bptt(coupling):
    full = trained_parameters(build(coupling, "transformer", "add", FILM_M, {"type": "bptt"}))
    assert any(n.startswith("controller.heads.film") for n in full)
    for name, gradient in estimators_for(coupling).items():
        got = trained_parameters(build(coupling, "transformer", "add", FILM_M, gradient))
        assert full - got == set(), f"{name} leaves untrained: {sorted(full - got)}"


def test_one_step_takes_the_last_update_of_each_level_the_output_reads():
    model = build("levels_3_fast_first", "transformer", "add", "none", {"type": "one_step"})
    schedule = model.gradient_schedule()
    assert [[t for t, _ in cyc] for cyc in schedule] == [list("LLMLLMH")] * 2
    # H (last), the M before it, and the L before that M: H reads z_M, not z_L
    assert [g for _, g in schedule[1]] == [False, False, False, False, True, True, True]
    got = trained_parameters(model)
    for net in ("l_block", "m_block", "h_block", "embedding"):
        assert any(n.startswith(net) for n in got), net
    slow = build("levels_3_slow_first", "transformer", "add", "none", {"type": "one_step"})
    # H M L L M L L: the output's last H update reads the M and L of the previous cycle
    flat = [g for cyc in slow.gradient_schedule() for _, g in cyc]
    tags = [t for cyc in slow.gradient_schedule() for t, _ in cyc]
    assert tags == list("HMLLMLL") * 2
    assert [i for i, g in enumerate(flat) if g] == [3, 4, 7]


@pytest.mark.parametrize("name", ["one_step", "last_cycle", "k_step", "bptt", "implicit"])
def test_a_three_level_model_trains_one_step_under_each_estimator(name):
    gradient = ESTIMATORS.get(name, {"type": name})
    model = build("levels_3_fast_first", "transformer", "gated", "quaternion", gradient)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trained = trained_parameters(model)
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert trained and changed == trained
    assert any(n.startswith("m_block") for n in changed)
