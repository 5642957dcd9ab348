"""`hrmzoo recipes [list | show NAME [key=value ...] | copy NAME PATH]`: the shipped recipes.

`hrmzoo recipes [PATTERN]` lists them: name, parameter count (the per-puzzle
embedding table excluded; stored at release in `hrmzoo/recipes/index.json`
by `hrmzoo catalog` from real builds, and counted by building when a recipe
file has changed since), the measured accuracy of the weights shipped for it
(`hrmzoo.pretrained(NAME)`, see `hrmzoo solve`), and the description.
PATTERN is a shell wildcard (`'*sudoku*'`); `--no-params` skips the counts.
`show NAME [key=value ...]`
prints the recipe resolved (`extends` and overrides applied, every default
filled in) as YAML that loads back to the same recipe. `copy NAME PATH`
writes the recipe file unchanged (comments kept) to PATH (a file, or a folder
to write NAME.yaml into) for editing; `--force` replaces an existing file.

Examples:
  hrmzoo recipes
  hrmzoo recipes '*sudoku*'
  hrmzoo recipes show tiny_sudoku4 model.hidden_size=128
  hrmzoo recipes copy tiny_sudoku4 my_recipe.yaml
  hrmzoo train my_recipe.yaml
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hrmzoo.cli.args import split_arguments
from hrmzoo.errors import HrmzooError

ACTIONS = ("list", "show", "copy")


def add_parser(sub) -> None:
    p = sub.add_parser("recipes", help="list the shipped recipes, show one resolved, copy one to edit")
    p.add_argument("args", nargs="*", metavar="ACTION", help="list [PATTERN] (default), show NAME [key=value ...], copy NAME PATH")
    p.add_argument("--no-params", action="store_true", help="list without parameter counts")
    p.add_argument("--force", action="store_true", help="copy: replace PATH if it exists")
    p.set_defaults(run=run)


def run(args) -> int:
    items = list(args.args)
    action = items.pop(0) if items and items[0] in ACTIONS else ("show" if items and not is_pattern(items[0]) else "list")
    if action == "list":
        if len(items) > 1:
            raise HrmzooError(f"'{items[1]}': 'hrmzoo recipes list' takes one PATTERN, e.g. '*sudoku*'")
        return list_recipes(with_params=not args.no_params, pattern=items[0] if items else "*")
    if action == "show":
        named, overrides = split_arguments(items, ("recipe",), "recipes", target="recipe")
        return show(_name(named, "show"), overrides)
    bare = [item for item in items if "=" not in item]
    named, overrides = split_arguments([item for item in items if "=" in item], ("recipe", "out"), "recipes")
    for key in ("recipe", "out"):
        if key not in named and bare:
            named[key] = bare.pop(0)
    if bare or overrides:
        raise HrmzooError(f"'{(bare + overrides)[0]}': 'hrmzoo recipes copy NAME PATH' copies the file unchanged; "
                          "'hrmzoo recipes show NAME key=value' shows overrides applied")
    name = _name(named, "copy")
    if "out" not in named:
        raise HrmzooError(f"no destination; run 'hrmzoo recipes copy {name} PATH' (a file or a folder)")
    return copy(name, Path(named["out"]), force=args.force)


def _name(named: dict[str, str], action: str) -> str:
    if "recipe" not in named:
        raise HrmzooError(f"no recipe named; run 'hrmzoo recipes {action} NAME' (names: 'hrmzoo recipes')")
    return named["recipe"]


def is_pattern(word: str) -> bool:
    """A shell wildcard (`*sudoku*`, `tiny_?`, `[ct]*`), not a recipe name."""
    return any(c in word for c in "*?[")


def list_recipes(with_params: bool, pattern: str = "*") -> int:
    """The table of shipped recipes matching `pattern`; fast: no torch, no pydantic while the stored index is current."""
    import fnmatch

    from hrmzoo.persistence.hub import by_recipe, card, headline
    from hrmzoo.recipe.shipped import read_index, shipped_recipes

    names = [n for n in shipped_recipes() if fnmatch.fnmatchcase(n, pattern)]
    if not names:
        raise HrmzooError(f"no shipped recipe matches '{pattern}' (all: 'hrmzoo recipes'; wildcards: * ? [..], e.g. '*sudoku*')")
    index = read_index() or {}
    weights = by_recipe()
    rows = []
    for name in names:
        entry = index.get(name)
        if entry is None:  # a recipe edited or added since the index was written: count it by building
            entry = _build_entry(name, with_params)
        params = f"{entry['parameters']:,}" if with_params and entry.get("parameters") is not None else ""
        trained = f"pretrained:{weights[name]} {headline(card(weights[name]))}" if name in weights else ""
        rows.append((name, params, entry["description"], trained))
    width = max(len(r[0]) for r in rows)
    pwidth = max([len(r[1]) for r in rows] + [len("parameters")]) if with_params else 0
    print(f"{'recipe':<{width}}  " + (f"{'parameters':>{pwidth}}  " if with_params else "") + "description")
    for name, params, text, trained in rows:
        print(f"{name:<{width}}  " + (f"{params:>{pwidth}}  " if with_params else "") + text)
        if trained:
            print(f"{'':<{width}}  " + (" " * (pwidth + 2) if with_params else "") + f"trained weights: {trained}")
    if not index:
        print("note: hrmzoo/recipes/index.json is missing or older than the recipe files; counts were made by building "
              "(run 'hrmzoo catalog' to store them)", file=sys.stderr)
    return 0


def _build_entry(name: str, with_params: bool) -> dict:
    if not with_params:
        from hrmzoo.recipe.loader import read_recipe_tree

        return {"parameters": None, "description": str(read_recipe_tree(name).get("description", ""))}
    from hrmzoo.recipe.loader import load_recipe

    recipe = load_recipe(name)
    return {"parameters": _parameters(recipe), "description": recipe.description}


def _parameters(recipe) -> int:
    """Trainable parameters without allocating weights (the model built on the meta device)."""
    from hrmzoo.catalog import recipe_summary

    return recipe_summary(recipe)["parameters"]


def show(name: str, overrides: list[str]) -> int:
    import yaml

    from hrmzoo.recipe.loader import load_recipe, resolve_recipe_path

    recipe = load_recipe(name, overrides)
    source = resolve_recipe_path(name)
    print(f"# {source.name} resolved by 'hrmzoo recipes show' ({' '.join(overrides) or 'no overrides'}):")
    print("# extends and overrides applied, every default filled in")
    print(yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=None, width=120).rstrip())
    return 0


def copy(name: str, out: Path, force: bool) -> int:
    from hrmzoo.recipe.loader import resolve_recipe_path

    source = resolve_recipe_path(name)
    target = out / source.name if out.is_dir() else out
    if target.suffix not in (".yaml", ".yml"):
        raise HrmzooError(f"{target}: a recipe file ends in .yaml")
    from hrmzoo.common.atomic import write_atomic
    from hrmzoo.common.paths import check_output_file

    check_output_file(target, "PATH", force=force)  # the output rule of every command
    write_atomic(target, lambda tmp: shutil.copyfile(source, tmp))
    print(f"{source.name} -> {target} (edit it, then: hrmzoo build {target})")
    return 0
