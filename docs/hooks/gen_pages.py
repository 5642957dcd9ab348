"""MkDocs hook: generate the pages that must never drift from the code.

Registered in `mkdocs.yml` under `hooks:`. At build time it adds, in memory
(nothing is written into `docs/`):

- `components/index.md` and `components/<kind>.md`: every registered
  component of every kind, with its config fields, defaults and description,
  read from `hrmzoo.registry` (plugins included), its class's API
  (mkdocstrings) and, at the end, the kind's base classes for plugin authors:
  one page per kind, catalogue and API together;
- `recipes/reference.md`: every recipe field, from the pydantic models that
  validate recipes (the same ones the JSON Schema comes from);
- `recipes/shipped.md`: the recipes in `recipes/`, built to count parameters;
- `recipes/recipe.schema.json`: the JSON Schema itself, for editors;
- `schedules.md` and `schedules/*.svg`: the segment-loop
  diagrams of HRM, TRM, flat, the quaternion controller and every other
  registered coupling, drawn from the models (`hrmzoo.analysis.schedule_svg`);
- `architecture.md` and `architecture/layers.svg`: the package's layers and
  a picture of its import graph, read from the source (`architecture_page.py`);
- `results.md`: the checked-in result tables (`registry/results.md`,
  `benchmarks/RESULTS.md`) when they exist.

The page builders are plain functions of the registry (no mkdocs import), so
`tests/test_docs.py` checks them without the docs extras installed.
"""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import BaseModel

from hrmzoo.common.annotations import models_in
from hrmzoo.catalog import markdown_cell

ROOT = Path(__file__).resolve().parents[2]
KIND_TITLES = {
    "block": "Blocks",
    "injection": "Injections",
    "coupling": "Couplings",
    "gradient": "Gradient estimators",
    "solver": "Solvers",
    "halting": "Halting policies",
    "controller": "Controllers",
    "embedding": "Embeddings",
    "head": "Heads",
}
# Modules holding each kind's base class (shown first on its API page).
BASE_MODULES = {
    "block": ["hrmzoo.blocks.base"],
    "injection": ["hrmzoo.injections.Injection", "hrmzoo.injections.InjectionConfig"],
    "coupling": ["hrmzoo.couplings.base"],
    "gradient": ["hrmzoo.gradients.base"],
    "solver": ["hrmzoo.solvers.base"],
    "halting": ["hrmzoo.halting.base"],
    "controller": ["hrmzoo.controllers.base", "hrmzoo.controllers.modulation"],
    "embedding": [],
    "head": [],
}
# Where a kind without a model slot is chosen instead (hand-kept: one line each).
INDIRECT_USE = {
    "solver": "chosen by name inside the `implicit` gradient estimator's config, e.g. "
    "`gradient: {type: implicit, solver: anderson}`",
}
RESULT_FILES = [
    ("registry/results.md", "Shipped recipes (registry/results.md)"),
    ("benchmarks/RESULTS.md", "Benchmarks (benchmarks/RESULTS.md)"),
]
_SECTION = re.compile(r"^\s*(Args|Arguments|Attributes|Returns|Yields|Raises|Examples?|Notes?|Warnings?|See Also)\s*:\s*$")
_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod|obj):`~?([^`]+)`")


# ------------------------------------------------------------------ docstrings

def summary(obj: Any) -> str:
    """A docstring's text before its first Google section, Sphinx roles turned into code."""
    doc = inspect.getdoc(obj) or ""
    lines = []
    for line in doc.splitlines():
        if _SECTION.match(line):
            break
        lines.append(line)
    return _ROLE.sub(r"`\1`", "\n".join(lines).strip())


# ------------------------------------------------------------------ fields

def yaml_inline(value: Any) -> str:
    """One-line YAML (flow style) for a value."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _default_cell(default: Any) -> str:
    if default == "(required)":
        return "**required**"
    if isinstance(default, dict) and "type" in default:
        return f"`type: {default['type']}`"
    return f"`{markdown_cell(yaml_inline(default))}`"


def field_table(model: type[BaseModel], skip: tuple[str, ...] = ("type",)) -> str:
    """A Markdown table of a config's fields: the catalogue's records and table (`hrmzoo.catalog`),
    with defaults shown as YAML, as a recipe writes them."""
    from hrmzoo.catalog import config_fields, field_table as table

    return "\n".join(table(config_fields(model, skip=set(skip)), default=_default_cell,
                           describe=lambda text: _ROLE.sub(r"`\1`", text),
                           empty="_No fields: the component is configured by its name alone._"))


# ------------------------------------------------------------------ components

def _registry():
    from hrmzoo import registry
    from hrmzoo.loading.plugins import load_components

    load_components()  # the registry is passive: built-ins and plugins are imported here
    return registry


def _slots_of(kind: str) -> list[str]:
    from hrmzoo.recipe.schema import COMPONENT_SLOTS

    return [slot for slot, k in COMPONENT_SLOTS.items() if k == kind]


def _source_config(entry) -> type[BaseModel]:
    """The config class as written (the registry adds `type` in a subclass)."""
    return entry.config.__mro__[1]


def _example(entry, slot: str | None) -> str:
    """A recipe line choosing this component with its defaults (or its required fields)."""
    try:
        cfg = entry.config()
        fields = cfg.model_dump(mode="json")
    except Exception:
        fields = {"type": entry.name}
        fields.update({n: "..." for n, f in entry.config.model_fields.items() if f.is_required()})
    fields = {"type": fields.pop("type", entry.name), **fields}
    key = slot or entry.kind
    return f"{key}: {yaml_inline(fields)}"


def component_page(kind: str) -> str:
    """The catalogue page of one component kind, from the registry."""
    registry = _registry()
    entries = registry.REGISTRIES[kind].entries()
    slots = _slots_of(kind)
    title = KIND_TITLES.get(kind, kind)
    out = [f"# {title}", "", "<!-- generated by docs/hooks/gen_pages.py from hrmzoo.registry: do not edit -->", ""]
    if slots:
        where = ", ".join(f"`model.{s}`" for s in slots)
        out.append(f"Recipe slot{'s' if len(slots) > 1 else ''}: {where}. A component is chosen by its `type`.")
    elif kind in INDIRECT_USE:
        out.append(f"Not a model slot: {INDIRECT_USE[kind]}.")
    base_link = " The [base classes](#base-classes) a plugin implements are at the end." if BASE_MODULES.get(kind) else ""
    out += ["", f"List them from the command line with `hrmzoo list {kind}`.{base_link}", ""]
    out += ["| name | description | class |", "|---|---|---|"]
    for e in entries:
        out.append(f"| [`{e.name}`](#{e.name}) | {markdown_cell(e.description)} | `{e.module}.{e.cls.__name__}` |")
    out.append("")
    for e in entries:
        out += [f"## {e.name}", ""]
        text = summary(e.cls)
        if text:
            out += [text, ""]
        cfg = _source_config(e)
        out += [f"Class `{e.module}.{e.cls.__name__}`, config `{cfg.__module__}.{cfg.__name__}`.", ""]
        out += [field_table(e.config), ""]
        out += ["```yaml", _example(e, slots[0] if slots else None), "```", ""]
        # the description is already above, from the same docstring: show signature, bases and methods
        out += _mkdocstrings(f"{e.module}.{e.cls.__qualname__}", "      show_docstring_description: false")
    if BASE_MODULES.get(kind):
        out += ["## Base classes", "", "What a plugin of this kind subclasses and implements "
                "(see [Adding a component](../guides/adding-a-component.md)).", ""]
        for path in BASE_MODULES[kind]:
            out += _mkdocstrings(path)
    return "\n".join(out)


def _mkdocstrings(path: str, *options: str) -> list[str]:
    return [f"::: {path}", "    options:", "      heading_level: 3", *options, ""]


def components_index() -> str:
    """Overview of every kind with its members."""
    registry = _registry()
    out = [
        "# Component catalogue",
        "",
        "<!-- generated by docs/hooks/gen_pages.py from hrmzoo.registry: do not edit -->",
        "",
        "Every swappable part of a model is a registered component of one *kind*. "
        "These pages are generated from the registry when the site is built, so they list "
        "exactly what `hrmzoo list` prints, plugins included. "
        "See [Concepts](../concepts.md) for how the kinds compose and "
        "[Adding a component](../guides/adding-a-component.md) to register your own.",
        "",
        "| kind | recipe slot | members |",
        "|---|---|---|",
    ]
    for kind in registry.KINDS:
        slots = ", ".join(f"`model.{s}`" for s in _slots_of(kind)) or "(inside `gradient`)"
        members = ", ".join(f"[`{n}`]({kind}.md#{n})" for n in registry.REGISTRIES[kind].names())
        out.append(f"| [{KIND_TITLES.get(kind, kind)}]({kind}.md) | {slots} | {members} |")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ recipes

def _section_tables(title: str, ann: Any, intro: str = "") -> list[str]:
    """Tables for a recipe section whose type is a model, a union of models, or absent."""
    out = [f"## `{title}:`", ""]
    if intro:
        out += [intro, ""]
    models = models_in(ann)
    if not models:
        from hrmzoo.catalog import type_name

        out += [f"Free-form mapping ({type_name(ann)}).", ""]
        return out
    for model in models:
        if len(models) > 1:
            tag = model.model_fields.get("type")
            out += [f"### `{title}: {{type: {tag.default}}}`" if tag is not None else f"### {model.__name__}", ""]
        text = summary(model)
        if text:
            out += [text, ""]
        out += [field_table(model, skip=() if len(models) == 1 else ("type",)), ""]
    return out


def recipe_reference() -> str:
    """Every recipe field, from the pydantic models that validate recipes."""
    from hrmzoo.recipe.schema import COMPONENT_SLOTS, DEFAULT_TYPES, ModelBase, recipe_class

    registry = _registry()
    recipe = recipe_class()
    model_cls = recipe.model_fields["model"].annotation
    out = [
        "# Recipe reference",
        "",
        "<!-- generated by docs/hooks/gen_pages.py from hrmzoo.recipe: do not edit -->",
        "",
        "Generated from the pydantic models that validate recipes, so it matches what "
        "`hrmzoo build` accepts. Every mapping rejects unknown keys. The same schema is "
        "available as [JSON Schema](recipe.schema.json) for editor completion "
        "(`hrmzoo schema` prints it).",
        "",
        "## Top level",
        "",
        field_table(recipe, skip=("model", "data", "train")),
        "",
        "Besides these fields a recipe file may start with `extends: other_recipe` "
        "(a path or a shipped name): the other recipe is loaded first and this file is merged over it.",
        "",
        "## `model:`",
        "",
        summary(ModelBase),
        "",
        field_table(model_cls, skip=tuple(COMPONENT_SLOTS)),
        "",
        "### Component slots",
        "",
        "Each slot holds one component config chosen by `type`; the fields of each type are "
        "listed in the [component catalogue](../components/index.md).",
        "",
        "| slot | kind | default | types |",
        "|---|---|---|---|",
    ]
    for slot, kind in COMPONENT_SLOTS.items():
        default = DEFAULT_TYPES.get(slot)
        default_text_ = f"`{default}`" if default else "none (see the coupling)"
        names = ", ".join(f"[`{n}`](../components/{kind}.md#{n})" for n in registry.REGISTRIES[kind].names())
        out.append(f"| `{slot}` | {kind} | {default_text_} | {names} |")
    out.append("")
    out += _section_tables("data", recipe.model_fields["data"].annotation,
                           "Which dataset to train and evaluate on (see the [data guide](../guides/data.md)).")
    out += _section_tables("train", recipe.model_fields["train"].annotation,
                           "Optimisation and run settings (see the [training guide](../guides/training.md)).")
    return "\n".join(out)


def recipe_schema_json() -> str:
    from hrmzoo.catalog import schema_json

    return schema_json()


def _header_comment(path: Path) -> list[str]:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return lines


def shipped_recipes_page() -> str:
    """The recipes in `recipes/`: description, launch comment, size, full YAML."""
    from hrmzoo.catalog import recipe_summary
    from hrmzoo.recipe import load_recipe, resolve_recipe_path, shipped_recipes

    out = ["# Shipped recipes", "", "<!-- generated by docs/hooks/gen_pages.py from recipes/: do not edit -->", "",
           "The YAML files in `recipes/`. Pass a path or just the name: `hrmzoo build tiny_sudoku4`. "
           "Parameter counts exclude the per-puzzle embedding table, as HRM's published count does; "
           "they are computed when the site is built.", "",
           "| recipe | parameters | updates per segment (with gradient) | description |", "|---|---|---|---|"]
    details = []
    for name in shipped_recipes():
        path = resolve_recipe_path(name)
        recipe = load_recipe(path)
        size = recipe_summary(recipe)
        out.append(f"| [`{name}`](#{name}) | {size['parameters']:,} | {size['updates']} ({size['grad_updates']}) "
                   f"| {markdown_cell(recipe.description)} |")
        details += [f"## {name}", ""]
        header = _header_comment(path)
        if header:
            details += ["```text", *header, "```", ""]
        details += [f'??? note "recipes/{path.name}"', "    ```yaml"]
        details += [f"    {line}" if line else "" for line in path.read_text().splitlines()]
        details += ["    ```", ""]
    return "\n".join(out + [""] + details)


# ------------------------------------------------------------------ results

def results_page() -> str:
    """The checked-in result tables, included verbatim (never copied by hand)."""
    intro = ROOT / "docs" / "snippets" / "results-intro.md"
    out = [intro.read_text().rstrip() if intro.is_file() else "# Benchmarks and results", ""]
    found = False
    for rel, title in RESULT_FILES:
        path = ROOT / rel
        if not path.is_file():
            continue
        found = True
        out += [f"## {title}", "", _demote_headings(path.read_text()).rstrip(), ""]
    if not found:
        out += ["!!! warning \"No results checked in yet\"",
                "    Neither `registry/results.md` nor `benchmarks/RESULTS.md` exists in this checkout, "
                "so there is nothing measured to show.", ""]
    return "\n".join(out)


def results_history_page() -> str:
    """registry/results_history.md: superseded measurements and those of experiment recipes."""
    path = ROOT / "registry" / "results_history.md"
    if not path.is_file():
        return "# Results history\n\nNo `registry/results_history.md` in this checkout.\n"
    # its link back to results.md resolves here too: both pages sit at the docs' root
    return path.read_text()


def experiments_page() -> str:
    """Every experiment's page (`experiments/<name>/README.md`: question, protocol, command, verdict)."""
    out = ["# Experiments", "",
           "Questions the zoo was used to answer, each with its recipes, harness and verdict in "
           "`experiments/<name>/` of the repository. Recipes that exist only for an experiment stay in its folder "
           "and are not shipped (a shipped recipe has a measured figure a user should start from); some "
           "experiments measure shipped recipes. Superseded measurements and those of experiment recipes are in the "
           "[results history](results_history.md).", ""]
    for readme in sorted((ROOT / "experiments").glob("*/README.md")):
        # a README links docs' images from its own folder (`../../docs/assets/x.png`, right on GitHub);
        # this page sits at the docs' root, where the same file is `assets/x.png`
        text = readme.read_text().replace("](../../docs/", "](")
        out += [f"## `experiments/{readme.parent.name}/`", "", _demote_headings(text).rstrip(), ""]
    return "\n".join(out)


def _demote_headings(text: str) -> str:
    """Shift the included file's headings below this page's `##` section."""
    out, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        if not fence and re.match(r"#{1,5} ", line):
            line = "##" + line
        out.append(line)
    return "\n".join(out)


# ------------------------------------------------------------------ schedules

# (file stem, recipe, overrides, caption): the diagrams the docs embed. Every registered coupling
# without one here is drawn too (on the HRM recipe, with its defaults), so a new coupling, e.g.
# with more levels, gets its picture without editing this list.
SCHEDULE_DIAGRAMS = [
    ("hrm", "hrm_sudoku", [], "HRM: two levels, L_then_H, one-step gradient"),
    ("trm", "trm_sudoku", [], "TRM: one network, latent z and answer y, gradient through the last cycle"),
    ("flat", "hrm_sudoku", ["model.coupling={type: flat}"], "Flat: one state, no hierarchy (the ablation)"),
    ("hrm3", "hrm3_sudoku", [], "Three levels (`levels`): L, M every 2 L, H every 2 M; one-step gradient"),
    ("quaternion", "quaternion_4head", [], "The quaternion controller's four heads at their hook points"),
]
SCHEDULE_RECIPE_FOR_COUPLING = "hrm_sudoku"


def schedule_diagrams() -> list[tuple[str, str, list[str], str]]:
    """The diagrams to draw: the fixed ones plus one per registered coupling not yet shown."""
    from hrmzoo.recipe import load_recipe

    shown = {load_recipe(r, ov).model.coupling.type for _, r, ov, _ in SCHEDULE_DIAGRAMS}
    extra = [(f"coupling-{name}", SCHEDULE_RECIPE_FOR_COUPLING, [f"model.coupling={{type: {name}}}"],
              f"The `{name}` coupling with its defaults")
             for name in _registry().REGISTRIES["coupling"].names() if name not in shown]
    return SCHEDULE_DIAGRAMS + extra


def schedule_svgs() -> dict[str, str]:
    """`schedules/<stem>.svg` -> SVG text, drawn from the built models."""
    from hrmzoo.analysis.schedule_svg import recipe_schedule, schedule_svg

    return {f"schedules/{stem}.svg": schedule_svg(recipe_schedule(r, ov)) for stem, r, ov, _ in schedule_diagrams()}


def schedules_page() -> str:
    """The segment-loop diagrams, and every estimator's timeline on the HRM schedule."""
    from hrmzoo.analysis.schedule_svg import recipe_schedule, text_timeline

    out = ["# Segment schedules", "", "<!-- generated by docs/hooks/gen_pages.py from the models: do not edit -->", "",
           "Drawn when the site is built from each model's own components: the updates come from "
           "`coupling.schedule()`, the orange (gradient-carrying) ones from the estimator's `grad_mask`, and the "
           "arrows (what each update reads) from running every update once on stand-in networks. "
           "`hrmzoo build RECIPE --schedule out.svg` draws the same picture for any recipe, and `hrmzoo build` "
           "prints the timeline, e.g. `L L H | L [L] [H]` (brackets: carries gradient).", ""]
    for stem, recipe, overrides, caption in schedule_diagrams():
        command = " ".join(["hrmzoo build", recipe, *(f"'{o}'" for o in overrides), "--schedule", f"{stem}.svg"])
        out += [f"## {caption}", "", f"![{caption}](schedules/{stem}.svg)", "", f"`{command}`", ""]
    out += ["## Every gradient estimator on the HRM schedule", "",
            "Same forward values, different graphs: `[X]` marks the updates that run with gradient "
            f"(`hrmzoo build {SCHEDULE_RECIPE_FOR_COUPLING} model.gradient.type=NAME`).", "",
            "| estimator | one segment | with gradient |", "|---|---|---|"]
    for name in _registry().REGISTRIES["gradient"].names():
        s = recipe_schedule(SCHEDULE_RECIPE_FOR_COUPLING, [f"model.gradient.type={name}"])
        out.append(f"| [`{name}`](components/gradient.md#{name}) | `{text_timeline(s)}` | {s.num_grad} of {len(s.updates)} |")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ all pages

def page_builders() -> dict[str, Callable[[], str]]:
    """src path (relative to docs/) -> the function that writes that generated page."""
    registry = _registry()
    pages: dict[str, Callable[[], str]] = {"components/index.md": components_index}
    for kind in registry.KINDS:
        pages[f"components/{kind}.md"] = functools.partial(component_page, kind)
    pages["recipes/reference.md"] = recipe_reference
    pages["recipes/recipe.schema.json"] = recipe_schema_json
    pages["recipes/shipped.md"] = shipped_recipes_page
    pages["results.md"] = results_page
    pages["results_history.md"] = results_history_page
    pages["experiments.md"] = experiments_page
    pages["schedules.md"] = schedules_page
    for path, svg in schedule_svgs().items():
        pages[path] = functools.partial(str, svg)
    architecture = _architecture_page_module()
    pages["architecture.md"] = architecture.architecture_page
    pages["architecture/layers.svg"] = architecture.layers_svg
    return pages


def _architecture_page_module():
    """docs/hooks/architecture_page.py (mkdocs loads hooks by path, so its neighbour is too)."""
    import importlib.util
    import sys

    name = "hrmzoo_docs_architecture_page"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("architecture_page.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def generated_pages() -> dict[str, str]:
    """src path (relative to docs/) -> content of every generated page."""
    return {path: build() for path, build in page_builders().items()}


# ------------------------------------------------------------------ mkdocs hooks

def on_files(files, config):
    """Add the generated pages to the build (in memory; nothing lands in docs/)."""
    from mkdocs.structure.files import File

    for src_uri, content in generated_pages().items():
        existing = files.get_file_from_path(src_uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, src_uri, content=content))
    return files


def on_serve(server, config, builder):
    """`mkdocs serve`: rebuild when the code or the recipes change."""
    for rel in ("hrmzoo", "recipes", "registry", "benchmarks", "experiments"):
        if (ROOT / rel).exists():
            server.watch(str(ROOT / rel))
    return server
