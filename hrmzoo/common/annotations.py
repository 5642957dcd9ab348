"""Reading type annotations: the members of a union, the models among them.

One helper for every place that walks a pydantic field's annotation: recipe
error messages (`hrmzoo.recipe.loader`), the catalogue (`hrmzoo.catalog`) and
the docs' recipe reference.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def union_members(ann: Any) -> list[Any]:
    """The alternatives of an annotation, through `Annotated`, `Optional` and unions (`A | B` too);
    any other annotation is its own single member."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return union_members(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(ann) for member in union_members(arg)]
    return [ann]


def models_in(ann: Any) -> list[type[BaseModel]]:
    """The pydantic models among an annotation's alternatives."""
    return [m for m in union_members(ann) if isinstance(m, type) and issubclass(m, BaseModel)]
