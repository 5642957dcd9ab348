"""The package's layers, and its import graph read from the source.

Every module of `hrmzoo` belongs to one layer (the longest prefix in `LAYERS`
that names it). A module may import from its own layer or a lower one, never
from a higher one, and no set of modules may import one another in a circle.
Both rules hold for module-level imports and for imports inside functions: a
function-level import is allowed only to keep start-up light (torch stays out of
`hrmzoo --help`), never as a way around the layer order. Imports under
`if TYPE_CHECKING:` are not run and are ignored.

`tests/test_architecture.py` checks the rules; the docs' architecture page and
its picture are generated from the same graph (`docs/hooks/architecture_page.py`).
Standard library only, so the docs build and the test read it without torch.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Layer:
    """One layer: the modules (dotted prefixes) it holds and what it is for."""

    name: str
    modules: tuple[str, ...]
    role: str


#: Lowest first. An import may go to the same layer or one listed before it.
LAYERS: tuple[Layer, ...] = (
    Layer("foundation", ("hrmzoo", "hrmzoo.errors", "hrmzoo.architecture", "hrmzoo.common"),
          "the package's front door (`hrmzoo/__init__.py`, which imports its public names lazily), its errors and "
          "this layer map; `common/`: safe paths, size limits, seeding, the autocast dtype, reading type "
          "annotations, the user cache, the one fsync'ing atomic writer"),
    Layer("data", ("hrmzoo.data", "hrmzoo.tasks"),
          "datasets: the on-disk format, generators (Sudoku, Maze, ARC, ToM, mixtures), loaders and data access "
          "(`data/splits.py`); knows no model"),
    Layer("registry", ("hrmzoo.registry",),
          "one passive table per component kind, filled by the `@register` decorator; imports no component"),
    Layer("layers", ("hrmzoo.layers",), "neural-network building blocks shared by components: norms, RoPE, init"),
    Layer("components", ("hrmzoo.blocks", "hrmzoo.injections", "hrmzoo.solvers", "hrmzoo.couplings",
                         "hrmzoo.gradients", "hrmzoo.halting", "hrmzoo.controllers", "hrmzoo.embeddings", "hrmzoo.heads"),
          "the registered components, one folder per kind; each registers itself when imported"),
    Layer("loading", ("hrmzoo.loading",),
          "what fills the registry: hrmzoo's own plugin module (`builtins`) and the entry-point/`--import` loader"),
    Layer("model", ("hrmzoo.model",),
          "the model assembled from components (`model/__init__.py`; the sizes each component receives in "
          "`model/wiring.py`), the deep-supervision segment loop, parameter counting"),
    Layer("recipe", ("hrmzoo.recipe",),
          "recipe schema (built from the registry, with the `data:` section from `data/config.py` and the `train:` "
          "section from `recipe/train_config.py`), safe YAML, overrides, older forms, the shipped recipes, the "
          "loader, and `build.py`: recipe -> model"),
    Layer("persistence", ("hrmzoo.persistence",),
          "what is written to disk and read back: model checkpoints (safetensors), their generations, the numbered "
          "weight format and its migrations, the trainer's state, the shipped weights (`hub`)"),
    Layer("interop", ("hrmzoo.interop",), "importing the reference HRM and TRM checkpoints"),
    Layer("evaluate", ("hrmzoo.evaluate",), "metrics over a split, resumable evaluation, ARC voting and export, solving one puzzle"),
    Layer("train", ("hrmzoo.train",), "the trainer, optimizers, schedules, run logs, training batches, the precision probe"),
    Layer("analysis", ("hrmzoo.analysis",), "comparisons, sweeps, halting and trace analysis, plots, schedule pictures"),
    Layer("catalog", ("hrmzoo.catalog",), "the generated catalogue (`registry/`, `hrmzoo catalog`, the docs' component pages)"),
    Layer("cli", ("hrmzoo.cli", "hrmzoo.__main__"), "the `hrmzoo` command"),
)


@dataclass(frozen=True)
class Import:
    """`source` imports `target` (both module names) at `line`; `lazy` when inside a function."""

    source: str
    target: str
    line: int
    lazy: bool


def modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name -> file, for every `.py` file of the package."""
    root = package_dir.parent
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def layer_of(module: str) -> Layer:
    """The layer whose longest prefix names `module`."""
    best, length = None, -1
    for layer in LAYERS:
        for prefix in layer.modules:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = layer, len(prefix)
    if best is None:
        raise KeyError(f"module {module} is in no layer of hrmzoo.architecture.LAYERS; add it to one")
    return best


def layer_rank(module: str) -> int:
    return LAYERS.index(layer_of(module))


def imports(package_dir: Path = PACKAGE_DIR) -> list[Import]:
    """Every import of an hrmzoo module by an hrmzoo module, read from the source (nothing is run)."""
    known = modules(package_dir)
    found: list[Import] = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        _visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), name, package, known, False, found)
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _visit(node: ast.AST, source: str, package: str, known: dict[str, Path], lazy: bool, found: list[Import]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for branch in child.orelse:  # the `if` body is for type checkers only; an `else:` runs
                _visit(branch, source, package, known, lazy, found)
            continue
        targets: list[str] = []
        if isinstance(child, ast.Import):
            targets = [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - child.level + 1] + ([child.module] if child.module else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names]
        for target in targets:
            if target == "hrmzoo" or target.startswith("hrmzoo."):
                resolved = _resolve(target, known)
                if resolved and resolved != source:
                    found.append(Import(source, resolved, child.lineno, lazy))
        inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        _visit(child, source, package, known, inner, found)


def upward_imports(edges: list[Import]) -> list[Import]:
    """Imports from a lower layer to a higher one (the layer order forbids them)."""
    return [e for e in edges if layer_rank(e.target) > layer_rank(e.source)]


def import_cycles(edges: list[Import]) -> list[list[str]]:
    """The module sets that import one another in a circle (strongly connected components > 1)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm; the package graph is a few hundred nodes
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def unit_of(module: str) -> str:
    """The folder or top-level module a module belongs to (`hrmzoo.data.arc` -> `data`), for pictures."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hrmzoo"
