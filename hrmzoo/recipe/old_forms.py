"""Older recipe forms, rewritten to the current ones before validation (each with a note).

A recipe written for an older hrmzoo (or embedded in an older checkpoint) keeps
loading: `migrate_tree` rewrites the old keys in place, returns one note per
rewrite and warns with `RecipeMigrationWarning`, which says what to write instead.
"""

from __future__ import annotations

import warnings
from typing import Any

import yaml

from hrmzoo.errors import RecipeError


class RecipeMigrationWarning(FutureWarning):
    """A recipe used an old form that was rewritten; the message says the new one."""


#: the implicit estimator's solver settings before the solver became a nested component
_OLD_IMPLICIT = {"solver": "anderson", "tol": 1e-4, "max_iter": 30, "backward_tol": 1e-4, "backward_max_iter": 30}
_OLD_IMPLICIT_KEYS = ("tol", "max_iter", "backward_tol", "backward_max_iter", "solver_options")


#: options that left the core schema for the controllers experiment's plugin
#: (`experiments/controllers/tuned_heads.py`, issue 26), each with the value that meant "off"
_MOVED_CONTROLLER_OPTIONS = {"modulation_bound": None, "preserve_rms": False, "modulation_penalty": 0.0}
_MOVED_TRAIN_OPTIONS = {"controller_lr_scale": 1.0}
_PLUGIN_HINT = ("it moved to experiments/controllers/tuned_heads.py: add `imports: [experiments/controllers/tuned_heads.py]` "
                "and use controller type film_tuned or quaternion_tuned (experiments/controllers/README.md)")


def _drop_moved_options(tree: dict, origin: str) -> None:
    """A recipe (or a checkpoint's embedded recipe) that names a moved option at its "off" value
    means the same without it, so the key is dropped; any other value needs the plugin."""
    model = tree.get("model")
    controller = model.get("controller") if isinstance(model, dict) else None
    if isinstance(controller, dict) and controller.get("type") in ("film", "quaternion"):
        for key, off in _MOVED_CONTROLLER_OPTIONS.items():
            if key in controller:
                if controller[key] != off:
                    raise RecipeError(f"{origin}: model.controller.{key}: {controller[key]!r}; {_PLUGIN_HINT}")
                del controller[key]
    train = tree.get("train")
    if isinstance(train, dict):
        for key, off in _MOVED_TRAIN_OPTIONS.items():
            if key in train:
                if train[key] != off:
                    raise RecipeError(f"{origin}: train.{key}: {train[key]!r}; {_PLUGIN_HINT} (its `lr_scale` field)")
                del train[key]


def migrate_tree(tree: dict, origin: str = "<recipe>") -> list[str]:
    """Rewrite old forms in `tree` (in place); returns and warns the notes."""
    notes = []
    _drop_moved_options(tree, origin)
    model = tree.get("model")
    gradient = model.get("gradient") if isinstance(model, dict) else None
    if isinstance(gradient, dict) and gradient.get("type") == "implicit":
        note = _implicit_solver(gradient, origin)
        if note:
            notes.append(f"{origin}: model.gradient: {note}")
    for note in notes:
        warnings.warn(note, RecipeMigrationWarning, stacklevel=3)
    return notes


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip().removesuffix("...").strip()


def _implicit_solver(g: dict, origin: str) -> str | None:
    """`solver: NAME` + tol/max_iter/backward_*/solver_options -> `solver: {type: NAME, tol, max_iter, ...}`
    (+ `backward_solver: {...}` when the adjoint solve was set differently), same solves as before."""
    old = [k for k in _OLD_IMPLICIT_KEYS if k in g] + [k for k in ("solver", "backward_solver") if isinstance(g.get(k), str)]
    if not old:
        return None
    options = g.pop("solver_options", None) or {}
    if not isinstance(options, dict):
        raise RecipeError(f"{origin}: model.gradient.solver_options must be a mapping of solver fields, got {options!r}; "
                          "better, write them into model.gradient.solver: {type: NAME, ...}")
    solver = g.get("solver", _OLD_IMPLICIT["solver"])
    if isinstance(solver, dict):  # already nested (e.g. a new-form parent recipe): old keys refine it
        forward = {**solver, **options}
        for key in ("tol", "max_iter"):
            if key in g:
                forward[key] = g.pop(key)
    else:
        forward = {"type": solver, "tol": g.pop("tol", _OLD_IMPLICIT["tol"]),
                   "max_iter": g.pop("max_iter", _OLD_IMPLICIT["max_iter"]), **options}
    had_backward = any(k in g for k in ("backward_solver", "backward_tol", "backward_max_iter"))
    backward_name = g.pop("backward_solver", None)
    if isinstance(backward_name, dict):  # already nested: leave it as written
        g["backward_solver"] = backward_name
        backward = None
    elif isinstance(solver, dict) and not had_backward:
        backward = None  # new-form parent, no adjoint settings: the adjoint solve repeats the forward config
    else:  # the old adjoint solve: its own tol/max_iter (default 1e-4 / 30), the forward's name and options
        backward = {"type": backward_name or forward.get("type"),
                    "tol": g.pop("backward_tol", _OLD_IMPLICIT["backward_tol"]),
                    "max_iter": g.pop("backward_max_iter", _OLD_IMPLICIT["backward_max_iter"]), **options}
    g.pop("backward_tol", None)
    g.pop("backward_max_iter", None)
    g["solver"] = forward
    written = f"solver: {_flow(forward)}"
    if backward is not None and backward != forward:
        g["backward_solver"] = backward
        written += f", backward_solver: {_flow(backward)}"
    return (f"the old solver keys ({', '.join(sorted(old))}) were rewritten; the solver is now a nested component: "
            f"write {written}")
