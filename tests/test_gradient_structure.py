"""Structural gradient property: over the registry, every estimator trains what
full backpropagation trains, except what its own definition excludes.

For every coupling (and update order) x block x injection x controller, the
parameters that get a non-zero gradient under ``bptt`` must get one under each
estimator too. A rule that picks updates by position instead of data
dependence fails here: with ``order: H_then_L`` the last L update comes after
the last H update and the output never reads it, so a positional one-step rule
leaves the L block and the embeddings untrained.
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
}
BLOCKS = {
    "transformer": {"type": "transformer", "num_layers": 1, "num_heads": 2, "expansion": 2.0},
    "mlp_mixer": {"type": "mlp_mixer", "num_layers": 1, "expansion": 2.0, "token_expansion": 2.0},
}
CONTROLLERS = {
    "none": {"type": "none"},
    "film": {"type": "film", "num_task_families": 3, "head_width": 8},
    "quaternion": {"type": "quaternion", "num_task_families": 3, "head_width": 8, "framing_weight": 0.5},
}
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
    assert set(CONTROLLERS) == set(registry.REGISTRIES["controller"].names())
    assert {c["type"] for c, _ in COUPLINGS.values()} == set(registry.REGISTRIES["coupling"].names())


def build(coupling: str, block: str, injection: str, controller: str, gradient: dict):
    cfg, separate_h = COUPLINGS[coupling]
    recipe = {
        "name": "structure",
        "model": {
            "hidden_size": 16, "vocab_size": 5, "seq_len": 4,
            "num_puzzle_identifiers": 3, "puzzle_emb_ndim": 16, "pos_encoding": "learned",
            "l_block": BLOCKS[block],
            "h_block": BLOCKS[block] if separate_h else None,
            "injection": {"type": injection},
            "coupling": cfg,
            "gradient": gradient,
            "halting": {"type": "q_learning", "max_segments": 2},
            "controller": CONTROLLERS[controller],
        },
    }
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
            if name.startswith(("l_block", "h_block", "l_injection", "h_injection", "controller")):
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
    for name, gradient in ESTIMATORS.items():
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
