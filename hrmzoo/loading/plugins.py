"""Loading components: the built-ins, installed plugins, and modules named by the user.

The registry (`hrmzoo.registry`) is passive: decorators fill its tables and it
imports nothing. What looks components up (building a model, validating a
recipe, the catalogue, `hrmzoo list`) first calls `load_components()`, which
imports hrmzoo's own plugin module `hrmzoo.loading.builtins` and then every module of
the `hrmzoo.components` entry-point group, once. Built-ins go first so that a
plugin which reuses a built-in name is the one reported.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path

from hrmzoo import registry
from hrmzoo.errors import RegistryError
from hrmzoo.registry import ENTRY_POINT_GROUP

_loaded = False


def load_components() -> None:
    """Register the built-in components, then the installed plugins (once; cheap afterwards)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import hrmzoo.loading.builtins  # noqa: F401  (here, not at the top: the built-ins import torch)

    load_plugins()


def list_components(kind: str | None = None, pattern: str = "*") -> dict[str, list[str]]:
    """Registered names per kind (built-ins and plugins loaded), filtered by a shell-style wildcard."""
    load_components()
    return registry.list_components(kind, pattern)


def load_plugins() -> list[str]:
    """Import every module in the `hrmzoo.components` entry-point group."""
    loaded = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not break the zoo
            raise RegistryError(f"plugin '{ep.name}' ({ep.value}) failed to load: {exc}") from exc
        loaded.append(ep.name)
    return loaded


def import_plugins(modules: list[str] | tuple[str, ...], origin: str, base: Path | None = None) -> None:
    """Import modules that register components: dotted names, or `.py` files.

    A file path is read relative to `base` (a recipe's folder) or the working
    directory; a dotted name is also looked up in the working directory, as
    `python -m` does, so a local `my_blocks.py` needs no packaging.
    """
    load_components()  # built-ins first, so a plugin's clashing name is reported against them
    for name in modules:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{origin}: '{name}' is not a module name or .py file")
        try:
            if name.endswith(".py"):
                path = Path(name) if base is None else base / name
                _import_file(path.resolve())
            else:
                if os.getcwd() not in sys.path and "" not in sys.path:
                    sys.path.insert(0, os.getcwd())
                importlib.import_module(name)
        except RegistryError:
            raise
        except Exception as exc:  # ModuleNotFoundError, or the plugin's own bug
            raise RegistryError(f"{origin}: cannot import '{name}' ({type(exc).__name__}: {exc})") from exc


def _import_file(path: Path) -> None:
    module_name = f"hrmzoo_plugin_{path.stem}"
    if sys.modules.get(module_name) is not None and getattr(sys.modules[module_name], "__file__", None) == str(path):
        return  # imported already (a recipe and --import naming the same file)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
