"""Registries of pluggable components, one per component kind.

A component is a class registered under a name with a pydantic config class::

    @register("block", "transformer", config=TransformerBlockConfig, sizes=('hidden_size', 'seq_len', 'pos_encoding', 'rope_theta'))
    class TransformerBlock(nn.Module): ...

The registry adds a `type: Literal["transformer"]` field to the config so that
recipes pick a component by `type` (a discriminated union).

The registry is passive: it imports no component. Built-in and third-party
components alike are registered by importing the module that defines them;
`hrmzoo.loading.plugins.load_components()` imports the built-ins (`hrmzoo.loading.builtins`)
and the `hrmzoo.components` entry-point group, and is called by whatever looks
components up (building a model, validating a recipe, the catalogue, the CLI).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, create_model

from hrmzoo.errors import RegistryError

KINDS = (
    "block",
    "injection",
    "coupling",
    "gradient",
    "solver",
    "halting",
    "controller",
    "embedding",
    "head",
)
ENTRY_POINT_GROUP = "hrmzoo.components"


class ComponentConfig(BaseModel):
    """Base of every component config: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Entry:
    """One registered component."""

    kind: str
    name: str
    cls: type
    config: type[ComponentConfig]
    description: str
    module: str
    #: the sizes the model passes to the constructor by keyword (`register(..., sizes=...)`); None: not
    #: declared, so the builder reads them from the constructor's signature (the contract before issue 26)
    sizes: tuple[str, ...] | None = None


class Registry:
    """Name -> component for one kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, cls: type, config: type[ComponentConfig], description: str | None = None,
            sizes: tuple[str, ...] | None = None) -> Entry:
        if name in self._entries:
            other = self._entries[name]
            raise RegistryError(
                f"{self.kind} '{name}' is already registered by {other.module}.{other.cls.__name__}; "
                f"pick another name"
            )
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise RegistryError(f"{self.kind} name '{name}' must be lower_snake_case")
        typed = create_model(
            config.__name__,
            __base__=config,
            __module__=config.__module__,
            type=(Literal[name], name),
        )
        typed.__doc__ = config.__doc__
        doc_lines = (cls.__doc__ or "").strip().splitlines()
        desc = description or (doc_lines[0] if doc_lines else "")
        entry = Entry(self.kind, name, cls, typed, desc, cls.__module__, sizes)
        self._entries[name] = entry
        _bump()
        return entry

    def remove(self, name: str) -> None:
        """Unregister (used by tests that register temporary components)."""
        self._entries.pop(name, None)
        _bump()

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            raise RegistryError(unknown_message(self.kind, name, sorted(self._entries)))
        return self._entries[name]

    def names(self) -> list[str]:
        return natural_sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries


REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}
_version = 0


def _bump() -> None:
    global _version
    _version += 1


def registry_version() -> int:
    """Changes whenever a component is added or removed (schema caches key on it)."""
    return _version


def natural_sorted(names) -> list[str]:
    """Sort so that `block2` comes before `block10`."""
    return sorted(names, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])


PLUGIN_HINT = ("a plugin's components are registered when its module is imported: pass --import MODULE "
               "(or a .py file), list it under 'imports:' in the recipe, or install a package with an "
               f"'{ENTRY_POINT_GROUP}' entry point")


def unknown_message(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    message = f"unknown {kind} '{name}'{hint} (registered: {', '.join(known) or 'none'})"
    if not known and kind in REGISTRIES:  # nothing loaded: a lookup before load_components()
        message += "; components are registered when their modules are imported: call hrmzoo.loading.plugins.load_components() first"
    elif not close and kind in REGISTRIES:  # maybe a component of a plugin that was not loaded
        message += f"; {PLUGIN_HINT}"
    return message


def register(kind: str, name: str, *, config: type[ComponentConfig], description: str | None = None,
             sizes: tuple[str, ...] | list[str] | None = None) -> Callable[[type], type]:
    """Class decorator: register `cls` as `kind`/`name` with its config class.

    `sizes` names the model sizes the constructor takes by keyword after its config
    (`hidden_size`, `seq_len`...: the fields of `hrmzoo.model.wiring.ComponentSizes`,
    plus `levels` for a coupling), so the builder calls `cls(cfg, hidden_size=..., ...)`
    with exactly those, and a reader finds who passes what in one place. Left out, the
    builder reads them from the constructor's signature instead.
    """
    if kind not in REGISTRIES:
        raise RegistryError(unknown_message("component kind", kind, list(KINDS)))
    if sizes is not None:
        if isinstance(sizes, str) or not all(isinstance(n, str) and n.isidentifier() for n in sizes):
            raise RegistryError(f"{kind} '{name}': sizes={sizes!r} must be a tuple of size names, e.g. sizes=('hidden_size', 'seq_len')")
        sizes = tuple(sizes)

    def deco(cls: type) -> type:
        entry = REGISTRIES[kind].add(name, cls, config, description, sizes)
        cls.registry_entry = entry
        return cls

    return deco


def get(kind: str, name: str) -> Entry:
    """Look up a registered component; unknown names give a 'did you mean' error."""
    if kind not in REGISTRIES:
        raise RegistryError(unknown_message("component kind", kind, list(KINDS)))
    return REGISTRIES[kind].get(name)


def create(kind: str, cfg: ComponentConfig, **context: Any):
    """Instantiate the component a validated config names: `cls(cfg, **context)`."""
    return get(kind, cfg.type).cls(cfg, **context)


def list_components(kind: str | None = None, pattern: str = "*") -> dict[str, list[str]]:
    """Registered names per kind, filtered by a shell-style wildcard pattern."""
    kinds = [kind] if kind else list(KINDS)
    out = {}
    for k in kinds:
        if k not in REGISTRIES:
            raise RegistryError(unknown_message("component kind", k, list(KINDS)))
        out[k] = [n for n in REGISTRIES[k].names() if fnmatch.fnmatchcase(n, pattern)]
    return out
