"""What a schedule trains, read off its data dependence at build time (issue 25, items 2 and 3).

- A segment whose output never depends on the input (`H_then_L` with one
  cycle, `slow_first` with one cycle: `[H] L L`) is refused: even bptt gives
  the embedding and the L block no gradient.
- `k_step` takes the last k updates *on which the output depends*; where its
  window still misses a parameter group that bptt trains, building warns and
  names the group and the k that reaches it.
- The symbolic reach (`hrmzoo.gradients.coverage`) agrees with the gradients a
  real backward pass gives, for every coupling and estimator.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from hrmzoo import build_model
from hrmzoo.cli import main
from hrmzoo.errors import RecipeError
from hrmzoo.gradients import UntrainedParametersWarning, coverage
from tests.helpers import THREE_LEVELS
from tests.test_gradient_structure import COUPLINGS, ESTIMATORS, build, trained_parameters

NEVER_READS_X = {
    "hierarchical_H_then_L_one_cycle": ["model.coupling={type: hierarchical, order: H_then_L, h_cycles: 1, l_cycles: 2}"],
    "levels_slow_first_one_cycle": [*THREE_LEVELS, "model.coupling={type: levels, steps: 4, order: slow_first}"],
}


def groups(names: set[str]) -> set[str]:
    """Parameter names -> the groups `coverage` speaks of (`l_block`, `embedding`...)."""
    return {n.split(".")[0] for n in names}


def build_warnings(recipe: str, overrides: list[str]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_model(recipe, overrides, seed=0)
    return model, [w for w in caught if issubclass(w.category, UntrainedParametersWarning)]


@pytest.mark.parametrize("case", sorted(NEVER_READS_X))
def test_a_segment_whose_output_never_reads_the_input_is_refused(case, monkeypatch, capsys):
    overrides = NEVER_READS_X[case]
    with pytest.raises(RecipeError) as err:
        build_model("tiny_sudoku4", overrides, seed=0)
    msg = str(err.value)
    assert "\n" not in msg and "model.coupling" in msg and "never depends on the input" in msg
    assert "order=" in msg and ("H_then_L" in msg or "slow_first" in msg) and "add cycles" in msg
    # `hrmzoo build` (and so `train`) says it in one line, exit 2
    assert main(["build", "tiny_sudoku4", *overrides]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and "never depends on the input" in err_lines[0]
    # the premise: built anyway, bptt gives the embedding and the L level no gradient
    monkeypatch.setattr("hrmzoo.model.check_schedule", lambda *a, **k: None)
    model = build_model("tiny_sudoku4", [*overrides, "model.gradient.type=bptt"], seed=0)
    batch = {"inputs": torch.randint(0, 5, (2, 16)), "puzzle_identifiers": torch.zeros(2, dtype=torch.long)}
    out = model(batch)
    out.logits.square().sum().backward()
    untouched = {n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()}
    assert {"embedding.tokens.weight", *[n for n, _ in model.l_block.named_parameters(prefix="l_block")]} <= untouched


def test_the_implicit_fixed_point_reads_the_input_so_h_then_l_with_one_cycle_builds_and_trains_l():
    # z* = F(z*) with F = H L L: the fixed point carries x into H, and the adjoint solve trains L
    cfg = {"type": "hierarchical", "order": "H_then_L", "h_cycles": 1, "l_cycles": 2}
    COUPLINGS["_one_cycle"] = (cfg, True)
    try:
        model = build("_one_cycle", "transformer", "add", "none", ESTIMATORS["implicit"])
        with pytest.raises(RecipeError, match="never depends on the input"):
            build("_one_cycle", "transformer", "add", "none", {"type": "bptt"})
    finally:
        del COUPLINGS["_one_cycle"]
    got = groups(trained_parameters(model))
    assert {"embedding", "l_block", "h_block"} <= got  # (an `add` injection has no parameters)


@pytest.mark.parametrize("order", ["slow_first", "fast_first"])
def test_k_step_window_follows_the_data_dependence_on_three_levels(order):
    """levels, 8 steps: H M L L M L L x 2 (slow_first) or L L M L L M H x 2 (fast_first)."""
    model, caught = build_warnings("tiny_sudoku4", [*THREE_LEVELS, f"model.coupling={{type: levels, steps: 8, order: {order}}}",
                                                     "model.gradient={type: k_step, k: 2}"])
    flat = [(t, g) for cyc in model.gradient_schedule() for t, g in cyc]
    # the last H update and the M it reads (was, with slow_first, the L before that H, which it never reads: H alone trained)
    assert [t for t, g in flat if g] == ["M", "H"]
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert "\n" not in msg and "embedding, l_block get no gradient" in msg and "raise model.gradient.k to 3" in msg
    # the k it names trains every level, with no warning
    model, caught = build_warnings("tiny_sudoku4", [*THREE_LEVELS, f"model.coupling={{type: levels, steps: 8, order: {order}}}",
                                                     "model.gradient={type: k_step, k: 3}"])
    assert not caught
    assert [t for cyc in model.gradient_schedule() for t, g in cyc if g] == ["L", "M", "H"]
    name = f"levels_3_{order}"
    got = groups(trained_parameters(build(name, "transformer", "add", "none", {"type": "k_step", "k": 3})))
    assert {"embedding", "l_block", "m_block", "h_block"} <= got
    got = groups(trained_parameters(build(name, "transformer", "add", "none", {"type": "k_step", "k": 2})))
    assert {"m_block", "h_block"} <= got and not {"embedding", "l_block"} & got


def test_hrm_default_recipes_build_without_warnings():
    for recipe in ("hrm_sudoku", "hrm_sudoku_grad_k_step", "hrm_sudoku_grad_last_cycle", "hrm_sudoku_grad_implicit",
                   "tiny_sudoku4", "trm_sudoku", "tiny_sudoku6_3level", "hrm3_sudoku"):
        _, caught = build_warnings(recipe, ["model.hidden_size=32", "model.puzzle_emb_ndim=0"])
        assert not caught, (recipe, [str(w.message) for w in caught])


@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
@pytest.mark.parametrize("estimator", [*ESTIMATORS, "k_step_1", "bptt"])
def test_the_symbolic_reach_is_what_a_backward_pass_trains(coupling, estimator):
    gradient = {"type": "k_step", "k": 1} if estimator == "k_step_1" else ESTIMATORS.get(estimator, {"type": estimator})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedParametersWarning)
        model = build(coupling, "transformer", "add", "none", gradient)
    plan = model.coupling.plan()
    updates = [u for cyc in plan for u in cyc]
    reach = model.gradient.gradient_reach(updates, [len(c) for c in plan], model.coupling.output_key)
    holding = groups({n for n, _ in model.named_parameters()})
    predicted = coverage.trained_groups(updates, reach, model.coupling.levels, ()) & holding
    actual = groups(trained_parameters(model)) - {"head", "halting"}
    assert predicted == actual
