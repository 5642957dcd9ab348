"""Every gradient-estimator and halting-policy variant of the HRM recipe builds, describes and trains.

Parametrised over the glob of ``recipes/hrm_sudoku_grad_*.yaml`` and
``recipes/hrm_sudoku_halt_*.yaml``, so a new variant is tested the moment it
is added. Models are shrunk by overrides and trained one step on a random batch.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from hrmzoo import build_model, load_recipe, registry
from hrmzoo.cli import main
from hrmzoo.gradients import SolverNotConvergedWarning
from hrmzoo.model.segment_loop import new_carry, segment_step
from hrmzoo.recipe.loader import RECIPES_DIR
from tests.test_solvers import one_thread  # noqa: F401  (autouse fixture)

VARIANTS = sorted(RECIPES_DIR.glob("hrm_sudoku_grad_*.yaml")) + sorted(RECIPES_DIR.glob("hrm_sudoku_halt_*.yaml"))
SHRINK = [
    "model.hidden_size=32",
    "model.puzzle_emb_ndim=32",
    "model.l_block.num_layers=1",
    "model.l_block.num_heads=2",
    "model.l_block.expansion=2.0",
    "model.h_block.num_layers=1",
    "model.h_block.num_heads=2",
    "model.h_block.expansion=2.0",
]
# HRM's schedule is L L H | L L H: updates that carry gradient under each estimator
CARRYING = {"one_step": 2, "last_cycle": 3, "k_step": 4, "bptt": 6, "implicit": 3}


def _ids(paths):
    return [p.stem for p in paths]


def test_every_estimator_and_policy_has_a_recipe():
    covered = {"gradient": set(), "halting": set()}
    for path in [RECIPES_DIR / "hrm_sudoku.yaml", *VARIANTS]:
        model = load_recipe(path).model
        covered["gradient"].add(model.gradient.type)
        covered["halting"].add(model.halting.type)
    for kind in ("gradient", "halting"):
        missing = set(registry.REGISTRIES[kind].names()) - covered[kind]
        assert not missing, f"add recipes/hrm_sudoku_{kind[:4]}_<name>.yaml for {sorted(missing)}"


@pytest.mark.parametrize("path", VARIANTS, ids=_ids(VARIANTS))
def test_variant_changes_only_its_component(path):
    base = load_recipe("hrm_sudoku").to_dict()
    tree = load_recipe(path).to_dict()
    slot = "gradient" if "_grad_" in path.stem else "halting"
    assert tree["name"] == path.stem
    assert tree["model"][slot] != base["model"][slot]
    for key in set(base) | set(tree):
        if key in ("name", "description", "model"):
            continue
        assert tree.get(key) == base.get(key), key
    assert {k: v for k, v in tree["model"].items() if k != slot} == {k: v for k, v in base["model"].items() if k != slot}


@pytest.mark.parametrize("path", VARIANTS, ids=_ids(VARIANTS))
def test_variant_trains_one_step(path):
    model = build_model(path, SHRINK, seed=0)
    g = torch.Generator().manual_seed(0)
    cfg = model.cfg
    batch = {
        "inputs": torch.randint(0, cfg.vocab_size, (4, cfg.seq_len), generator=g),
        "labels": torch.randint(0, cfg.vocab_size, (4, cfg.seq_len), generator=g),
        "puzzle_identifiers": torch.zeros(4, dtype=torch.long),
    }
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    carry = new_carry(model, batch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SolverNotConvergedWarning)
        carry, res = segment_step(model, carry, batch, training=True, generator=g)
        res.loss.backward()
    opt.step()
    assert torch.isfinite(res.loss)
    assert res.output.diagnostics["residual"].shape == (4,)
    if cfg.gradient.type == "implicit":
        converged = bool(res.output.diagnostics["solver_converged"])
        flagged = any(issubclass(w.category, SolverNotConvergedWarning) for w in caught)
        assert converged != flagged  # an unconverged solve is always reported, a converged one never
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    for prefix in ("l_block.", "h_block.", "head."):
        assert any(n.startswith(prefix) for n in changed), prefix
    if getattr(model.halting, "head", None) is not None:
        assert any(n.startswith("halting.") for n in changed)
    assert bool((carry.steps == 1).all())


@pytest.mark.parametrize("path", VARIANTS, ids=_ids(VARIANTS))
def test_build_cli_reports_updates_carrying_gradient(path, capsys):
    assert main(["build", str(path), *SHRINK]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("updates per segment:"))
    assert line.startswith("updates per segment: 6 (LLH | LLH)")
    model = build_model(path, SHRINK)
    expected = CARRYING.get(cfg_type := model.cfg.gradient.type)
    if expected is not None:
        assert line.endswith(f"carrying gradient: {expected}"), (cfg_type, line)
    if cfg_type == "implicit":
        assert "backward: adjoint" in out
