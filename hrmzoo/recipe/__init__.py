"""Recipes: YAML files validated into frozen pydantic models."""

from hrmzoo.recipe.loader import load_recipe, resolve_recipe_path, shipped_recipes
from hrmzoo.recipe.overrides import apply_overrides, parse_override
from hrmzoo.recipe.schema import COMPONENT_SLOTS, RecipeBase, json_schema, recipe_class

__all__ = [
    "COMPONENT_SLOTS",
    "RecipeBase",
    "apply_overrides",
    "json_schema",
    "load_recipe",
    "parse_override",
    "recipe_class",
    "resolve_recipe_path",
    "shipped_recipes",
]
