"""Trained weights shipped inside the package: `hrmzoo.pretrained(NAME)`.

Each shipped model is two files in `hrmzoo/weights/`: `NAME.safetensors`
(a zoo checkpoint: weights + the resolved recipe in the metadata) and
`NAME.json`, its model card: the recipe, data spec, seed, steps, the CPU time
and machine it trained on, the exact accuracy measured on its generator's test
split at each segment budget (fixed and adaptive), the file's sha256, and the
command that reproduces it. `tools/make_pretrained.py` writes both.

`load_model("pretrained:NAME")` and `--model pretrained:NAME` on the command
line name the same files. Reading the cards imports no torch (`hrmzoo recipes`
lists them).

Examples:
    >>> import hrmzoo
    >>> "tiny_sudoku4" in hrmzoo.list_pretrained()
    True
    >>> model = hrmzoo.pretrained("tiny_sudoku4")
    >>> hrmzoo.persistence.hub.card("tiny_sudoku4")["recipe_name"]
    'tiny_sudoku4'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hrmzoo.errors import CheckpointError

#: where the shipped weights and cards live (package data)
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: the prefix that names shipped weights where a checkpoint path is expected
PREFIX = "pretrained:"
#: the fields every model card has (a test checks them)
CARD_FIELDS = ("name", "recipe_name", "recipe", "data", "seed", "steps", "train_cpu_s", "machine", "accuracy",
               "test_examples", "sha256", "file_bytes", "reproduce", "weights")


def available() -> list[str]:
    """Names of the shipped models (those with both weights and a card); also `hrmzoo.list_pretrained()`."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json") if p.with_suffix(".safetensors").is_file())


list_pretrained = available


def _check_name(name: str) -> str:
    name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if name not in available():
        shipped = ", ".join(available()) or "none in this install"
        raise CheckpointError(f"no pretrained model '{name}'; shipped: {shipped} (or pass a run directory or .safetensors file)")
    return name


def weights_path(name: str) -> Path:
    """The `.safetensors` file of shipped model `name` (with or without the `pretrained:` prefix)."""
    return WEIGHTS_DIR / f"{_check_name(name)}.safetensors"


def is_shipped(path: str | Path) -> bool:
    """Whether `path` names a shipped model's weights (`pretrained:NAME`, or a file in `WEIGHTS_DIR`)."""
    if isinstance(path, str) and path.startswith(PREFIX):
        return True
    try:
        return Path(path).resolve().parent == WEIGHTS_DIR
    except (OSError, ValueError, TypeError):
        return False


def card(name: str) -> dict[str, Any]:
    """The model card of shipped model `name` (a dict; see `CARD_FIELDS`)."""
    path = WEIGHTS_DIR / f"{_check_name(name)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable model card ({exc}); reinstall hrmzoo") from None


def cards() -> dict[str, dict[str, Any]]:
    """Every shipped model's card, by name."""
    return {name: card(name) for name in available()}


def by_recipe() -> dict[str, str]:
    """recipe name -> the shipped model trained from it."""
    return {c["recipe_name"]: name for name, c in cards().items()}


def headline(c: dict[str, Any]) -> str:
    """One line of a card's measured accuracy at the recipe's own segment budget: first in the mode
    `hrmzoo solve` uses by default (the recipe's `eval_mode`), then in the other."""
    acc = c["accuracy"]
    halting = c["recipe"]["model"]["halting"]
    budget = str(halting["max_segments"])
    fixed, adaptive = f"{acc['fixed'][budget]:.1f}% at {budget} segments", f"{acc['adaptive'][budget]:.1f}% adaptive"
    first, second = (adaptive, fixed) if halting.get("eval_mode") == "adaptive" else (fixed, adaptive)
    return f"{first} ({second}), exact on {c['test_examples']} test puzzles"
