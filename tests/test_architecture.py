"""The package's structure: declared layers, no import going up, no import circle.

The graph is read from the source (`hrmzoo.architecture`), module-level and
function-level imports alike; the docs' architecture page is drawn from it.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hrmzoo import architecture as arch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def edges() -> list[arch.Import]:
    return arch.imports()


def _lines(found: list[arch.Import]) -> str:
    return "\n".join(f"  {e.source}:{e.line} -> {e.target} ({arch.layer_of(e.source).name} -> {arch.layer_of(e.target).name})"
                     for e in found)


def test_every_module_is_in_a_layer():
    missing = []
    for module in arch.modules():
        try:
            arch.layer_of(module)
        except KeyError:
            missing.append(module)
    assert not missing, f"modules in no layer of hrmzoo.architecture.LAYERS: {missing}"


def test_layers_name_only_existing_modules():
    known = arch.modules()
    stale = [p for layer in arch.LAYERS for p in layer.modules if not any(m == p or m.startswith(p + ".") for m in known)]
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_no_module_level_import_goes_up(edges):
    up = [e for e in arch.upward_imports(edges) if not e.lazy]
    assert not up, "module-level imports from a lower layer to a higher one:\n" + _lines(up)


def test_no_function_level_import_goes_up(edges):
    """A lazy import keeps start-up light; it is not a way around the layer order."""
    up = [e for e in arch.upward_imports(edges) if e.lazy]
    assert not up, "imports inside functions from a lower layer to a higher one:\n" + _lines(up)


def test_no_import_circle(edges):
    cycles = arch.import_cycles(edges)
    assert not cycles, "modules that import one another in a circle: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_registry_imports_only_the_foundation(edges):
    targets = {e.target for e in edges if e.source == "hrmzoo.registry"}
    assert {arch.layer_of(t).name for t in targets} <= {"foundation"}, targets


def test_the_graph_is_big_enough_to_mean_something(edges):
    """Guards against a walker that silently finds nothing."""
    assert len(arch.modules()) > 100 and len(edges) > 400
    assert any(e.source == "hrmzoo.cli.list_cmd" and e.target == "hrmzoo.loading.plugins" and e.lazy for e in edges)
    assert any(e.source == "hrmzoo.loading.builtins" and e.target == "hrmzoo.blocks" and not e.lazy for e in edges)


def test_walker_finds_planted_violations(tmp_path):
    """A package with a circle, an upward import (module-level and lazy), a relative import and a
    TYPE_CHECKING import: the checks must flag exactly the first three."""
    pkg = tmp_path / "hrmzoo"
    files = {
        "__init__.py": "",
        "errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hrmzoo.cli import main\n",
        "registry.py": "from hrmzoo import errors\n\ndef f():\n    from hrmzoo.cli import main\n",
        "cli/__init__.py": "from .helpers import x\n",
        "cli/helpers.py": "x = 1\n",
        "data/__init__.py": "",
        "data/a.py": "from hrmzoo.data import b\n",
        "data/b.py": "import hrmzoo.data.a\nfrom hrmzoo.recipe.build import build\n",
        "recipe/__init__.py": "",
        "recipe/build.py": "build = 1\n",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(text))
    found = arch.imports(pkg)
    pairs = {(e.source, e.target, e.lazy) for e in found}
    assert ("hrmzoo.cli", "hrmzoo.cli.helpers", False) in pairs  # relative import resolved
    assert not any(e.source == "hrmzoo.errors" for e in found)  # TYPE_CHECKING ignored
    up = {(e.source, e.target, e.lazy) for e in arch.upward_imports(found)}
    assert up == {("hrmzoo.registry", "hrmzoo.cli", True), ("hrmzoo.data.b", "hrmzoo.recipe.build", False)}
    assert arch.import_cycles(found) == [["hrmzoo.data.a", "hrmzoo.data.b"]]


# ------------------------------------------------------------------ the docs page

def _page_module():
    name = "hrmzoo_docs_architecture_page"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "hooks" / "architecture_page.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_architecture_picture_shows_every_layer_and_unit():
    page = _page_module()
    svg = page.layers_svg()
    root = ET.fromstring(svg)  # well-formed
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    for number, (layer, units) in enumerate(page.units_by_layer(), start=1):
        assert f"{number}. {layer.name}" in texts
        for unit, members in units.items():
            assert page.unit_label(unit, members) in texts
    assert svg.count("marker-end") == len(page.unit_edges(arch.imports()))


def test_architecture_page_lists_the_layers():
    text = _page_module().architecture_page()
    assert "architecture/layers.svg" in text
    for layer in arch.LAYERS:
        assert f"| {layer.name} |" in text
