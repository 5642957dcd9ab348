"""hrmzoo: a zoo of Hierarchical Reasoning Models and their relatives.

Front door::

    from hrmzoo import build_model
    model = build_model("recipes/hrm_sudoku.yaml", ["model.coupling.h_cycles=3"])
"""

__version__ = "0.1.0"

from hrmzoo.builder import build_model
from hrmzoo.checkpoint import load_model, save_model
from hrmzoo.errors import HrmzooError
from hrmzoo.recipe import load_recipe
from hrmzoo.registry import list_components, register

__all__ = [
    "HrmzooError",
    "__version__",
    "build_model",
    "list_components",
    "load_model",
    "load_recipe",
    "register",
    "save_model",
]
