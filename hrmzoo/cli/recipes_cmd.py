"""`hrmzoo recipes [list | show NAME [key=value ...] | copy NAME PATH]`: the shipped recipes.

`hrmzoo recipes` lists them: name, parameter count (the per-puzzle embedding
table excluded, counted on the meta device: no memory, but it imports torch;
`--no-params` skips it) and description. `show NAME [key=value ...]`
prints the recipe resolved (`extends` and overrides applied, every default
filled in) as YAML that loads back to the same recipe. `copy NAME PATH`
writes the recipe file unchanged (comments kept) to PATH (a file, or a folder
to write NAME.yaml into) for editing; `--force` replaces an existing file.

Examples:
  hrmzoo recipes
  hrmzoo recipes show tiny_sudoku4 model.hidden_size=128
  hrmzoo recipes copy tiny_sudoku4 my_recipe.yaml
  hrmzoo train my_recipe.yaml
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hrmzoo.cli.args import split_arguments
from hrmzoo.errors import HrmzooError

ACTIONS = ("list", "show", "copy")


def add_parser(sub) -> None:
    p = sub.add_parser("recipes", help="list the shipped recipes, show one resolved, copy one to edit")
    p.add_argument("args", nargs="*", metavar="ACTION", help="list (default), show NAME [key=value ...], copy NAME PATH")
    p.add_argument("--no-params", action="store_true", help="list without parameter counts (fast: torch is not imported)")
    p.add_argument("--force", action="store_true", help="copy: replace PATH if it exists")
    p.set_defaults(run=run)


def run(args) -> int:
    items = list(args.args)
    action = items.pop(0) if items and items[0] in ACTIONS else ("show" if items else "list")
    if action == "list":
        if items:
            raise HrmzooError(f"'{items[0]}': 'hrmzoo recipes list' takes no arguments")
        return list_recipes(with_params=not args.no_params)
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


def list_recipes(with_params: bool) -> int:
    from hrmzoo.recipe.loader import load_recipe, read_recipe_tree, shipped_recipes

    rows = []
    for name in shipped_recipes():
        if with_params:  # validating needs the registry, i.e. the components and torch
            recipe = load_recipe(name)
            rows.append((name, f"{_parameters(recipe):,}", recipe.description))
        else:
            rows.append((name, "", str(read_recipe_tree(name).get("description", ""))))
    width = max(len(r[0]) for r in rows)
    pwidth = max(len(r[1]) for r in rows)
    header = ("recipe", "parameters" if with_params else "", "description")
    pwidth = max(pwidth, len(header[1]))
    for name, params, text in [header, *rows]:
        print(f"{name:<{width}}  {params:>{pwidth}}  {text}" if with_params else f"{name:<{width}}  {text}")
    return 0


def _parameters(recipe) -> int:
    """Trainable parameters without allocating weights (the model built on the meta device)."""
    import torch

    from hrmzoo.model import ReasoningModel

    with torch.device("meta"):
        return ReasoningModel(recipe.model).num_parameters()


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
    from hrmzoo.atomic import write_atomic
    from hrmzoo.paths import check_output_file

    check_output_file(target, "PATH", force=force)  # the output rule of every command
    write_atomic(target, lambda tmp: shutil.copyfile(source, tmp))
    print(f"{source.name} -> {target} (edit it, then: hrmzoo build {target})")
    return 0
