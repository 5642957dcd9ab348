"""The harnesses of this experiment name its recipes by their names (`tom_none`): they are files here."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def recipe_source(name: str) -> str:
    """A recipe of this experiment (`NAME.yaml` beside this file) by its name; anything else as given."""
    own = HERE / f"{name}.yaml"
    return str(own) if own.is_file() else name
