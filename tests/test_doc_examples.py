"""API examples render as code and run: every `>>>` sits in an `Examples:` section (mkdocstrings'
google style renders that as code; under any other heading the `>>>` lines become nested
blockquotes), and every example runs as a doctest."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "hrmzoo").rglob("*.py"))


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _docstrings(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and ">>>" in doc:
                yield getattr(node, "lineno", 1), doc


WITH_EXAMPLES = sorted({_module(p) for p in SOURCES if any(True for _ in _docstrings(p))})


def test_every_doctest_is_in_an_examples_section():
    griffe = pytest.importorskip("griffe")
    misplaced = []
    for path in SOURCES:
        for line, doc in _docstrings(path):
            sections = griffe.Docstring(doc, lineno=line).parse("google", warnings=False)
            in_examples = "\n".join(str(part) for s in sections if s.kind.value == "examples" for part in s.value)
            if doc.count(">>>") != in_examples.count(">>>"):
                misplaced.append(f"{path.relative_to(ROOT)}:{line}")
    assert not misplaced, f"'>>>' outside an 'Examples:' section (renders as nested blockquotes): {misplaced}"


def test_the_front_doors_have_examples():
    assert {"hrmzoo", "hrmzoo.recipe.build", "hrmzoo.persistence.hub", "hrmzoo.evaluate.inference", "hrmzoo.recipe.shipped", "hrmzoo.tasks.sudoku"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_examples_run(module):
    failures, tried = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
