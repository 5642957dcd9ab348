"""The shipped recipes as files, and their stored index, without pydantic or torch.

The command line's first minute reads only this module: `hrmzoo recipes`
lists names, parameter counts and descriptions from `hrmzoo/recipes/index.json`
(written by `hrmzoo catalog` from real builds on the meta device; a test keeps
it in sync), and a mistyped recipe name is reported before anything heavy is
imported. The index is used only while its digest of the recipe files still
matches them; an edited recipe falls back to counting by building.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from hrmzoo.errors import RecipeError

# Shipped recipes are package data (hrmzoo/recipes/*.yaml), so a wheel or a non-editable
# install finds them too; a checkout's top-level recipes/ is a symlink to this folder.
# str() of the resource is a real directory for every install pip makes (not a zip import).
RECIPES_DIR = Path(str(resources.files("hrmzoo") / "recipes"))
INDEX_FILE = RECIPES_DIR / "index.json"


def natural_sorted(names) -> list[str]:
    """Sort so that `block2` comes before `block10`."""
    return sorted(names, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])


def shipped_recipes() -> list[str]:
    """Names of the recipes shipped in the package (`hrmzoo/recipes/`)."""
    return natural_sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def list_recipes(pattern: str = "*") -> list[str]:
    """Names of the shipped recipes matching a shell wildcard, like timm's `list_models('*sudoku*')`.

    Examples:
        >>> from hrmzoo import list_recipes
        >>> list_recipes("cpu_sudoku?")
        ['cpu_sudoku6', 'cpu_sudoku9']
    """
    import fnmatch

    return [name for name in shipped_recipes() if fnmatch.fnmatchcase(name, pattern)]


def find_recipe(source: str | Path, relative_to: Path | None = None) -> Path:
    """A recipe path, or a shipped recipe name (`hrm_sudoku`), to an existing file."""
    text = str(source)
    if "\0" in text:
        raise RecipeError(f"recipe {text!r}: the name holds a null byte")
    candidates = [Path(text)]
    if relative_to is not None:
        candidates.insert(0, relative_to / text)
        if not text.endswith((".yaml", ".yml")):  # `extends: NAME` finds a sibling recipe (experiments/) first
            candidates.insert(1, relative_to / f"{text}.yaml")
    if not text.endswith((".yaml", ".yml")):
        candidates.append(RECIPES_DIR / f"{text}.yaml")
    candidates.append(RECIPES_DIR / Path(text).name)
    for c in candidates:
        if c.is_file():
            return c
    names = shipped_recipes()
    close = difflib.get_close_matches(Path(text).stem, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f" (shipped: {', '.join(names)})"
    raise RecipeError(f"recipe '{text}' not found: no such file and no shipped recipe of that name{hint}")


def recipes_digest() -> str:
    """sha256 over every shipped recipe file (name and bytes): the index is valid for this digest only."""
    h = hashlib.sha256()
    for path in sorted(RECIPES_DIR.glob("*.yaml")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def read_index() -> dict[str, dict[str, Any]] | None:
    """name -> {parameters, description} from the stored index, or None when it is missing or stale."""
    try:
        index = json.loads(INDEX_FILE.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict) or index.get("recipes_sha256") != recipes_digest():
        return None
    return index.get("recipes")
