"""hrmzoo: a zoo of Hierarchical Reasoning Models and their relatives.

The front doors:

- `build_model(recipe, overrides)`: a model from a recipe (a shipped name, a YAML path, a dict).
- `load_model(path)`: a model from a checkpoint (a run directory, a `.safetensors` file,
  or `"pretrained:NAME"`).
- `pretrained(name)`: a model trained by the zoo and shipped in the package.
- `solve(model, puzzle)`: a Sudoku or a maze solved, the answer checked against the rules.
- `list_recipes(pattern)` and `list_pretrained()`: the shipped recipes and trained weights.

Examples:
    >>> import hrmzoo
    >>> "tiny_sudoku4" in hrmzoo.list_recipes("*sudoku*")
    True
    >>> model = hrmzoo.build_model("tiny_sudoku4", ["model.hidden_size=32"])
    >>> model.recipe.model.hidden_size
    32

The public names are loaded on first use (module `__getattr__`), so
`import hrmzoo` and the command line's `--help` do not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "build_model": "hrmzoo.recipe.build",
    "load_model": "hrmzoo.persistence.checkpoint",
    "save_model": "hrmzoo.persistence.checkpoint",
    "pretrained": "hrmzoo.persistence.checkpoint",
    "list_pretrained": "hrmzoo.persistence.hub",
    "solve": "hrmzoo.evaluate.inference",
    "Solution": "hrmzoo.evaluate.inference",
    "list_recipes": "hrmzoo.recipe.shipped",
    "HrmzooError": "hrmzoo.errors",
    "load_recipe": "hrmzoo.recipe",
    "list_components": "hrmzoo.loading.plugins",
    "register": "hrmzoo.registry",
}
# the public submodules `dir(hrmzoo)` shows beside the functions: attribute -> module
_SUBMODULES = {"hub": "hrmzoo.persistence.hub", "tasks": "hrmzoo.tasks"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])

if TYPE_CHECKING:  # type checkers and IDEs see the real names
    from hrmzoo import tasks
    from hrmzoo.persistence import hub
    from hrmzoo.recipe.build import build_model
    from hrmzoo.persistence.checkpoint import load_model, save_model
    from hrmzoo.errors import HrmzooError
    from hrmzoo.persistence.checkpoint import pretrained
    from hrmzoo.persistence.hub import list_pretrained
    from hrmzoo.evaluate.inference import Solution, solve
    from hrmzoo.loading.plugins import list_components
    from hrmzoo.recipe import load_recipe
    from hrmzoo.registry import register
    from hrmzoo.recipe.shipped import list_recipes


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hrmzoo' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return list(__all__)
