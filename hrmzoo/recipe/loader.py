"""Recipe loading: YAML (safe) -> extends -> overrides -> validated Recipe.

Errors are one line naming the file, the YAML path, the line where known, and
what is allowed.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hrmzoo import registry
from hrmzoo.common.atomic import FileTooLarge, read_small
from hrmzoo.common.annotations import union_members
from hrmzoo.errors import RecipeError
from hrmzoo.loading.plugins import import_plugins
from hrmzoo.recipe.old_forms import migrate_tree
from hrmzoo.recipe.overrides import apply_overrides, parse_override
from hrmzoo.recipe.safe_yaml import MAX_YAML_DEPTH, MAX_YAML_NODES, load_yaml  # noqa: F401  (re-exported)
from hrmzoo.recipe.schema import COMPONENT_SLOTS, RecipeBase, recipe_class
from hrmzoo.recipe.shipped import RECIPES_DIR, find_recipe, shipped_recipes  # noqa: F401  (re-exported)

MAX_EXTENDS_DEPTH = 16
MAX_RECIPE_BYTES = 1 << 20


def resolve_recipe_path(source: str | Path, relative_to: Path | None = None) -> Path:
    """A recipe path, or a shipped recipe name (`hrm_sudoku`), to an existing file."""
    return find_recipe(source, relative_to)


class _Doc:
    """A parsed YAML document with the line of every mapping key."""

    def __init__(self, path: Path):
        self.path = path
        try:
            if path.stat().st_size > MAX_RECIPE_BYTES:
                raise RecipeError(f"{path}: {path.stat().st_size} bytes is too large for a recipe (limit {MAX_RECIPE_BYTES})")
            text = read_small(path, MAX_RECIPE_BYTES, "the recipe").decode("utf-8")  # bounded: a device reports size 0
        except FileTooLarge as exc:
            raise RecipeError(str(exc)) from None
        except OSError as exc:
            raise RecipeError(f"{path}: cannot read recipe ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise RecipeError(f"{path}: not UTF-8 text (byte {exc.start}); save the recipe as UTF-8") from None
        try:
            self.data, node = load_yaml(text)
            self.lines = _key_lines(node) if node is not None else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise RecipeError(f"{path}{where}: invalid YAML ({problem})") from None
        if self.data is None:
            raise RecipeError(f"{path}: the recipe is empty; start from a shipped recipe (extends: tiny_sudoku4) or see 'hrmzoo list recipes'")
        if not isinstance(self.data, dict):
            raise RecipeError(f"{path}: a recipe must be a YAML mapping at top level, got {type(self.data).__name__}")


def _key_lines(node, prefix: tuple = (), seen: frozenset = frozenset()) -> dict[tuple, int]:
    out: dict[tuple, int] = {}
    if id(node) in seen:  # an alias: its lines were recorded where it was anchored
        return out
    seen = seen | {id(node)}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            path = prefix + (k.value,)
            out[path] = k.start_mark.line + 1
            out.update(_key_lines(v, path, seen))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[prefix + (i,)] = v.start_mark.line + 1
            out.update(_key_lines(v, prefix + (i,), seen))
    return out


def deep_merge(base: dict, child: dict) -> dict:
    """Child over base; a mapping whose `type` changes is replaced, not merged."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and old.get("type", value.get("type")) == value.get("type", old.get("type")):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_tree(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, dict[tuple, tuple[Path, int]]]:
    """Read a recipe file and everything it extends; returns (tree, key -> (file, line))."""
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in seen + (path,))
        raise RecipeError(f"{path}: 'extends' forms a cycle ({chain}); remove one link")
    if len(seen) > MAX_EXTENDS_DEPTH:
        raise RecipeError(f"{path}: 'extends' chain deeper than {MAX_EXTENDS_DEPTH}")
    doc = _Doc(path)
    data = dict(doc.data)
    parent = data.pop("extends", None)
    lines = {k: (path, n) for k, n in doc.lines.items()}
    if parent is None:
        return data, lines
    if not isinstance(parent, str):
        raise RecipeError(f"{path}:{doc.lines.get(('extends',), '?')}: 'extends' must be one recipe path or name")
    base, base_lines = _read_tree(resolve_recipe_path(parent, path.parent), seen + (path,))
    base_lines.update(lines)
    return deep_merge(base, data), base_lines


def read_recipe_tree(source: str | Path) -> dict:
    """A recipe file's YAML with `extends` resolved, not validated: no registry (and no torch) needed."""
    return _read_tree(resolve_recipe_path(source))[0]


def load_recipe(source: Any, overrides: list[str] | tuple[str, ...] = ()) -> RecipeBase:
    """Load and validate a recipe.

    Args:
        source: a YAML path, a shipped recipe name (`"hrm_sudoku"`), a dict, or a Recipe.
        overrides: `key=value` strings applied after `extends` is resolved.

    Returns:
        The validated, frozen Recipe.

    Raises:
        RecipeError: one line naming the file, YAML path, line and the fix.
    """
    lines: dict[tuple, tuple[Path, int]] = {}
    origin = "<recipe>"
    if isinstance(source, RecipeBase):
        tree = source.to_dict()
    elif isinstance(source, dict):
        tree = copy.deepcopy(source)
        parent = tree.pop("extends", None)
        if parent is not None:
            base, lines = _read_tree(resolve_recipe_path(parent))
            tree = deep_merge(base, tree)
    elif isinstance(source, (str, Path)):
        path = resolve_recipe_path(source)
        origin = str(path)
        tree, lines = _read_tree(path)
    else:
        raise RecipeError(f"cannot load a recipe from {type(source).__name__}; pass a path, a name, a dict or a Recipe")
    tree = apply_overrides(tree, overrides)
    _import_plugins(tree, origin, lines)
    migrate_tree(tree, origin)
    for text in overrides:  # errors in overridden keys point at the override, not the file
        _, path, _ = parse_override(text)
        for key in [k for k in lines if k[: len(path)] == path]:
            del lines[key]
        lines[path] = (f"override '{text}'", None)
    return validate_tree(tree, origin, lines)


def _import_plugins(tree: dict, origin: str, lines: dict | None = None) -> None:
    """The recipe's `imports:` register their components before the recipe is validated
    (a value of the wrong type is left to validation, which names its line). A relative `.py`
    path is read from the folder of the file that wrote `imports:` (an extended recipe's own)."""
    modules = tree.get("imports")
    if isinstance(modules, list) and modules and all(isinstance(m, str) for m in modules):
        written = (lines or {}).get(("imports",), (None, None))[0]
        if isinstance(written, Path):
            base = written.parent
        else:
            base = Path(origin).parent if origin != "<recipe>" else None
        import_plugins(modules, f"{origin}: imports", base)


def validate_tree(tree: dict, origin: str = "<recipe>", lines: dict | None = None) -> RecipeBase:
    cls = recipe_class()
    try:
        recipe = cls.model_validate(tree)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(exc, tree, cls, origin, lines or {})) from None
    _check_no_bool_as_number(tree, recipe.model_dump(), origin, lines or {})
    return recipe


def _bool_paths(node: Any, prefix: tuple = ()):
    if isinstance(node, bool):
        yield prefix
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _bool_paths(v, prefix + (k,))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _bool_paths(v, prefix + (i,))


def _check_no_bool_as_number(tree: dict, validated: dict, origin: str, lines: dict) -> None:
    """pydantic's lax mode reads `true` as 1 for an int field (`hidden_size: true`
    builds width 1); a boolean must stay a boolean."""
    for path in _bool_paths(tree):
        node: Any = validated
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if node is not None and not isinstance(node, bool):
            dotted = ".".join(str(p) for p in path)
            hit = next((v for k, v in lines.items() if v[1] is None and k == path), None) or lines.get(path)
            where = (f"{hit[0]}:{hit[1]}" if hit[1] is not None else hit[0]) if hit else origin
            raise RecipeError(f"{where}: {dotted}: expected a number, got a boolean ({str(tree_value(tree, path)).lower()}); write the number")


def tree_value(tree: Any, path: tuple) -> Any:
    for part in path:
        tree = tree[part]
    return tree


# ---------------------------------------------------------------- error text

def format_validation_error(exc: ValidationError, tree: dict, cls: type[BaseModel], origin: str, lines: dict) -> str:
    """One line for the first error (and a count of the others)."""
    errors = exc.errors()
    err = errors[0]
    path, model = _user_path(err["loc"], tree, cls)
    dotted = ".".join(str(p) for p in path) or "<top>"
    where = origin
    key = tuple(path)
    overridden = [v for k, v in lines.items() if v[1] is None and (k[: len(key)] == key or key[: len(k)] == k)]
    section_check = False
    if len(overridden) > 1:  # a check over a whole section: no single override is to blame
        overridden = [v for k, v in lines.items() if v[1] is None and k == key]
        section_check = not overridden
    hit = None if section_check else overridden[0] if overridden else lines.get(key) or lines.get(key[:-1])
    if hit:
        where = f"{hit[0]}:{hit[1]}" if hit[1] is not None else hit[0]
    msg = _explain(err, path, model)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    if err["type"] == "value_error" and msg.startswith("model."):
        return f"{where}: {msg}{more}"  # a check across keys that names the key to change itself
    return f"{where}: {dotted}: {msg}{more}"


def _user_path(loc: tuple, tree: Any, cls: type[BaseModel] | None) -> tuple[list, type[BaseModel] | None]:
    """Drop the union tags pydantic adds to locations; track the model at the parent."""
    path: list = []
    node = tree
    model = cls
    parent_model = cls
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue  # a discriminator tag, not a key the user wrote
        path.append(part)
        parent_model = model
        model = _field_model(model, part, node)
        node = node.get(part) if isinstance(node, dict) else (node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
    return path, parent_model if path else cls


def _field_model(model: type[BaseModel] | None, key: Any, node: Any) -> type[BaseModel] | None:
    if model is None or not isinstance(key, str) or key not in getattr(model, "model_fields", {}):
        return None
    ann = model.model_fields[key].annotation
    value = node.get(key) if isinstance(node, dict) else None
    for cand in union_members(ann):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            tag = cand.model_fields.get("type")
            if tag is None or not isinstance(value, dict) or tag.default == value.get("type"):
                return cand
    return None


def _explain(err: dict, path: list, model: type[BaseModel] | None) -> str:
    kind = err["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        level_slots = {"block": "block", "injection": "injection"}  # the networks of a model.levels entry
        slot = next((p for p in reversed(path) if p in COMPONENT_SLOTS or p in level_slots), None)
        comp_kind = (COMPONENT_SLOTS.get(slot) or level_slots.get(slot)) if slot else None
        tag = err.get("ctx", {}).get("tag") if kind == "union_tag_invalid" else None
        if comp_kind:
            known = registry.REGISTRIES[comp_kind].names()
            if tag is None:
                return f"missing 'type'; choose one of: {', '.join(known)}"
            return registry.unknown_message(comp_kind, str(tag), known)
    if kind == "extra_forbidden":
        allowed = sorted(model.model_fields) if model is not None else []
        name = str(path[-1])
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown field '{name}'{hint} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error" and str(err.get("ctx", {}).get("error", "")).startswith("model."):
        return str(err["ctx"]["error"])
    given = err.get("input")
    shown = repr(given) if not isinstance(given, (dict, list)) else type(given).__name__
    return f"{err['msg']} (got {shown})"
