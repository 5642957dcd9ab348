"""hrmzoo: a zoo of Hierarchical Reasoning Models and their relatives.

Front door::

    from hrmzoo import build_model
    model = build_model("hrm_sudoku", ["model.coupling.h_cycles=3"])

The public names are loaded on first use (module `__getattr__`), so
`import hrmzoo` and the command line's `--help` do not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "build_model": "hrmzoo.builder",
    "load_model": "hrmzoo.checkpoint",
    "save_model": "hrmzoo.checkpoint",
    "HrmzooError": "hrmzoo.errors",
    "load_recipe": "hrmzoo.recipe",
    "list_components": "hrmzoo.plugins",
    "register": "hrmzoo.registry",
}

__all__ = sorted([*_LAZY, "__version__"])

if TYPE_CHECKING:  # type checkers and IDEs see the real names
    from hrmzoo.builder import build_model
    from hrmzoo.checkpoint import load_model, save_model
    from hrmzoo.errors import HrmzooError
    from hrmzoo.recipe import load_recipe
    from hrmzoo.plugins import list_components
    from hrmzoo.registry import register


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hrmzoo' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
