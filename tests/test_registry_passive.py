"""The registry is passive: importing or querying it imports no component; the
entry points that look components up (recipes, build_model, the CLI) load the
built-ins themselves, as a plugin's components are loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENT_PACKAGES = ("blocks", "controllers", "couplings", "embeddings", "gradients", "halting", "heads", "injections", "solvers")


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_registry_imports_no_component():
    proc = _python(
        "import sys\n"
        "from hrmzoo import registry\n"
        "from hrmzoo.errors import RegistryError\n"
        "assert registry.list_components() == {k: [] for k in registry.KINDS}, registry.list_components()\n"
        "try:\n"
        "    registry.get('block', 'transformer')\n"
        "except RegistryError as exc:\n"
        "    print(exc)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[1:2] and m.split('.')[1] in {COMPONENT_PACKAGES!r} and m.startswith('hrmzoo.')))\n"
        "print('torch' in sys.modules)\n"
    )
    assert proc.returncode == 0, proc.stderr
    message, imported, torch_loaded = proc.stdout.strip().splitlines()
    assert "unknown block 'transformer'" in message and "load_components()" in message
    assert imported == "[]" and torch_loaded == "False"


@pytest.mark.parametrize("code", [
    "from hrmzoo.recipe import load_recipe; print(load_recipe('tiny_sudoku4').model.l_block.type)",
    "from hrmzoo import build_model; print(type(build_model('hrm_sudoku').l_block).__name__)",
    "import hrmzoo; print(hrmzoo.list_components('block')['block'])",
    # the same for the other front doors; slow (a fresh interpreter each), so outside the default run
    pytest.param("from hrmzoo.recipe import json_schema; s = json_schema(); print('mlp_mixer' if 'mlp_mixer' in str(s) else s)",
                 marks=pytest.mark.slow),
    pytest.param("from hrmzoo.cli import main; main(['list', 'block']); print('mlp_mixer')", marks=pytest.mark.slow),
    pytest.param("from hrmzoo.catalog import components; print(components()['kinds']['block']['members'][0]['name'])",
                 marks=pytest.mark.slow),
])
def test_front_doors_load_the_builtins(code):
    """Nothing but the public entry point is imported, and the built-ins are there."""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] in ("mlp_mixer", "conv", "TransformerBlock", "['conv', 'mlp_mixer', 'transformer']")
    if "main(['list'" in code:
        assert any(line.split()[:2] == ["block", "transformer"] for line in lines), proc.stdout


def test_builtins_register_like_a_plugin():
    """hrmzoo.loading.builtins is an ordinary plugin module: importing it fills the registry."""
    proc = _python("from hrmzoo import registry; import hrmzoo.loading.builtins; print(len(registry.REGISTRIES['block'].names()) > 0)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"
