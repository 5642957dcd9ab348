"""Hydra-like `key=value` overrides, parsed as YAML literals (never evaluated).

Grammar, one override per string:

- `a.b=v`    set (`v` read as a YAML scalar, list `[1,2]` or mapping `{type: add}`)
- `+a.b=v`   the same (accepted for Hydra users)
- `a.b=null` set to None
- `~a.b`     delete the key

The string is split on the first `=` only, so values may contain `=`.
Setting a `type` key to a new component name drops that mapping's other keys,
because they belong to the old component; set the new component's fields after it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from hrmzoo.errors import OverrideError
from hrmzoo.recipe.safe_yaml import load_yaml

MAX_VALUE_CHARS = 10_000
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\.\d+)*")
# recipe errors name list items as `levels[2]`, so a key copied from one is accepted too
_INDEX = re.compile(r"\[(\d+)\]")


def _normalise_key(key: str) -> str:
    """`model.levels[2].period` -> `model.levels.2.period`."""
    return _INDEX.sub(r".\1", key)


def parse_override(text: str) -> tuple[str, tuple[str, ...], Any]:
    """Parse one override into (op, key path, value); op is 'set' or 'delete'."""
    raw = text.strip()
    if raw.startswith("~"):
        key = _normalise_key(raw[1:])
        if "=" in key:
            raise OverrideError(f"override '{text}': a deletion '~a.b' takes no value; drop the '=...' part")
        _check_key(key, text)
        return "delete", tuple(key.split(".")), None
    if "=" not in raw:
        raise OverrideError(f"override '{text}' has no '='; write it as key.path=value (or ~key.path to delete)")
    key, value_text = raw.split("=", 1)
    key = _normalise_key(key.strip().removeprefix("+"))
    _check_key(key, text)
    if len(value_text) > MAX_VALUE_CHARS:
        raise OverrideError(f"override '{text[:60]}...': value is {len(value_text)} characters long (limit {MAX_VALUE_CHARS}); put it in a recipe file")
    try:
        value = load_yaml(value_text)[0] if value_text.strip() else ""
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise OverrideError(f"override '{text}': value is not a valid YAML literal ({first}); quote it or fix the brackets") from None
    return "set", tuple(key.split(".")), value


def _check_key(key: str, text: str) -> None:
    if not _KEY.fullmatch(key):
        raise OverrideError(f"override '{text}': key '{key}' is not a dotted path like model.l_block.num_heads or model.levels[1].period")


def apply_overrides(tree: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Return a copy of `tree` with each override applied in order."""
    import copy

    out = copy.deepcopy(tree)
    for text in overrides:
        op, path, value = parse_override(text)
        _apply(out, path, op, value, text)
    return out


def _apply(tree: dict, path: tuple[str, ...], op: str, value: Any, text: str) -> None:
    node: Any = tree
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            node = _list_item(node, part, text)
            continue
        if not isinstance(node, dict):
            where = ".".join(path[: i])
            raise OverrideError(f"override '{text}': '{where}' is a value, not a mapping; set it whole instead")
        if part not in node or node[part] is None:
            if op == "delete":
                raise OverrideError(f"override '{text}': '{'.'.join(path[: i + 1])}' does not exist, nothing to delete")
            node[part] = {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        idx = int(_index(node, last, text))
        if op == "delete":
            node.pop(idx)
        else:
            node[idx] = value
        return
    if not isinstance(node, dict):
        raise OverrideError(f"override '{text}': '{'.'.join(path[:-1])}' is a value, not a mapping")
    if op == "delete":
        if last not in node:
            raise OverrideError(f"override '{text}': '{'.'.join(path)}' does not exist, nothing to delete")
        del node[last]
    elif last == "type" and node.get("type") not in (None, value):
        node.clear()
        node["type"] = value
    else:
        node[last] = value


def _index(node: list, part: str, text: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise OverrideError(f"override '{text}': list index '{part}' out of range (list has {len(node)} items)")
    return int(part)


def _list_item(node: list, part: str, text: str) -> Any:
    return node[_index(node, part, text)]
