"""Docstrings are Markdown for mkdocstrings: a reST role (:class:`X`) would render literally."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod|obj|exc):`")
# how a literal role looks once Markdown has rendered it: the role name, then the code span
HTML_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod|obj|exc):(?:<code>|`)")


def _docstrings(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield getattr(node, "lineno", 1), doc


def literal_roles(html: str) -> list[str]:
    return [html[max(0, m.start() - 40):m.end() + 40] for m in HTML_ROLE.finditer(html)]


def test_docstrings_have_no_rest_roles():
    files = sorted((ROOT / "hrmzoo").rglob("*.py")) + [ROOT / "docs" / "hooks" / "gen_pages.py"]
    found = [f"{path.relative_to(ROOT)}:{line}" for path in files for line, doc in _docstrings(path) if SOURCE_ROLE.search(doc)]
    assert not found, f"reST roles in docstrings (write `Name` or [Name][full.path] instead): {found}"


def test_html_check_catches_a_literal_role():
    assert literal_roles("<p>returns the :class:<code>ControlContext</code> for one segment</p>")
    assert not literal_roles("<p>returns the <code>ControlContext</code>; a ratio 1:2 is fine</p>")


@pytest.mark.slow
def test_built_site_shows_no_literal_role(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    hits = {str(p.relative_to(site)): literal_roles(p.read_text()) for p in pages}
    hits = {k: v for k, v in hits.items() if v}
    assert not hits, f"literal reST roles in the built site: {hits}"
