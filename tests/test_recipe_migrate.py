"""Old recipe forms keep loading: the loader rewrites them (with a note) into the same config."""

from __future__ import annotations

import pytest

from hrmzoo import build_model
from hrmzoo.recipe import load_recipe
from hrmzoo.recipe.old_forms import RecipeMigrationWarning, migrate_tree

# hrm_sudoku_grad_implicit as it was written before the solver became a nested component
OLD_IMPLICIT_RECIPE = """\
extends: hrm_sudoku
name: hrm_sudoku_grad_implicit
description: HRM paper config with the implicit (DEQ) gradient at the fixed point of one cycle, Anderson solver
model:
  gradient:
    type: implicit
    solver: anderson
    tol: 1.0e-3
    max_iter: 30
    backward_tol: 1.0e-3
    backward_max_iter: 30
    solver_options: {memory: 5}
"""


def test_old_implicit_recipe_loads_as_the_shipped_one(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text(OLD_IMPLICIT_RECIPE)
    with pytest.warns(RecipeMigrationWarning, match=r"solver: \{type: anderson, tol: 0\.001, max_iter: 30, memory: 5\}"):
        old = load_recipe(path)
    assert old.to_dict() == load_recipe("hrm_sudoku_grad_implicit").to_dict()
    gradient = old.model.gradient
    assert gradient.solver.type == "anderson" and gradient.solver.memory == 5 and gradient.backward_solver is None


def test_old_defaults_are_kept():
    """`{type: implicit}` alone meant Anderson, tol 1e-4, 30 cycles, both ways: still so."""
    new = load_recipe("tiny_sudoku4", ["model.gradient={type: implicit}"]).model.gradient
    assert (new.solver.type, new.solver.tol, new.solver.max_iter) == ("anderson", 1e-4, 30)
    assert (new.adjoint.tol, new.adjoint.max_iter) == (1e-4, 30)
    with pytest.warns(RecipeMigrationWarning):
        old = load_recipe("tiny_sudoku4", ["model.gradient={type: implicit, tol: 1.0e-3}"]).model.gradient
    # the old adjoint solve kept its own defaults when only the forward tolerance was set
    assert (old.solver.tol, old.solver.max_iter) == (1e-3, 30)
    assert old.backward_solver is not None and (old.adjoint.type, old.adjoint.tol, old.adjoint.max_iter) == ("anderson", 1e-4, 30)


def test_old_backward_settings_become_a_backward_solver():
    tree = {"model": {"gradient": {"type": "implicit", "solver": "anderson", "backward_solver": "fixed_point",
                                   "backward_max_iter": 7, "solver_options": {"norm": "global"}}}}
    with pytest.warns(RecipeMigrationWarning):
        notes = migrate_tree(tree, "r.yaml")
    assert len(notes) == 1 and notes[0].startswith("r.yaml: model.gradient:")
    assert tree["model"]["gradient"] == {
        "type": "implicit",
        "solver": {"type": "anderson", "tol": 1e-4, "max_iter": 30, "norm": "global"},
        "backward_solver": {"type": "fixed_point", "tol": 1e-4, "max_iter": 7, "norm": "global"},
    }


def test_new_form_is_left_alone(recwarn):
    tree = {"model": {"gradient": {"type": "implicit", "solver": {"type": "fixed_point", "max_iter": 9}}}}
    assert migrate_tree(tree) == [] and tree["model"]["gradient"]["solver"] == {"type": "fixed_point", "max_iter": 9}
    assert not [w for w in recwarn if issubclass(w.category, RecipeMigrationWarning)]


def test_old_override_on_a_new_form_recipe():
    """`model.gradient.max_iter=5` on the shipped (new-form) recipe still sets the forward solve."""
    with pytest.warns(RecipeMigrationWarning):
        g = load_recipe("hrm_sudoku_grad_implicit", ["model.gradient.max_iter=5"]).model.gradient
    assert g.solver.max_iter == 5 and g.solver.memory == 5 and g.backward_solver is None


def test_solver_config_is_the_registered_class_and_round_trips():
    recipe = load_recipe("hrm_sudoku_grad_implicit")
    assert type(recipe.model.gradient.solver).__name__ == "AndersonConfig"
    again = load_recipe(recipe.to_dict())
    assert again.model.gradient == recipe.model.gradient
    model = build_model("tiny_sudoku4", ["model.gradient={type: implicit, solver: {type: fixed_point, max_iter: 4}}"])
    assert type(model.gradient.solver).__name__ == "FixedPointSolver" and model.gradient.solver.cfg.max_iter == 4
