"""`hrmzoo train RECIPE [key=value ...] [resume=RUN_DIR] [data=DIR]`: train a model.

RECIPE is a shipped recipe name or a YAML path (`recipe=RECIPE` works too).
Other arguments are recipe overrides (`train.steps=200`,
`model.hidden_size=128`). `resume=RUN_DIR` continues a run exactly (its
saved recipe is used unless a RECIPE is given; overrides still apply, e.g.
`train.steps=4000` to extend it). `data=DIR` trains on an existing dataset
directory instead of the recipe's `data:` (recorded in the run's recipe as
`data: {type: path, path: DIR}`).
Works under `torchrun --nproc_per_node=K -m hrmzoo train ...` (data-parallel).

Examples:
  hrmzoo train tiny_sudoku4 train.steps=200
  hrmzoo train recipe=recipes/tiny_sudoku4.yaml train.threads=1
  hrmzoo train resume=runs/tiny_sudoku4-20261129-064133 train.steps=2000
"""

from __future__ import annotations

from pathlib import Path

from hrmzoo.cli.args import split_arguments  # noqa: F401  (also imported from here by older command modules)
from hrmzoo.cli.text import description
from hrmzoo.errors import HrmzooError


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model from a recipe (resumable, data-parallel under torchrun)",
                       description=description(__doc__))
    p.add_argument("args", nargs="*", metavar="RECIPE [key=value ...]", help="recipe, resume=, data= and recipe overrides")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.recipe.shipped import find_recipe

    named, overrides = split_arguments(args.args, ("recipe", "resume", "data"), "train", target="recipe")
    resume = named.get("resume")
    recipe = named.get("recipe")
    if recipe is None and resume is None:
        raise HrmzooError("no recipe given; run 'hrmzoo train tiny_sudoku4' (a shipped name or a YAML path; or resume=RUN_DIR)")
    if recipe is not None:
        find_recipe(recipe)  # before torch: a typo is reported at once
    if resume is not None and not Path(resume).is_dir():
        raise HrmzooError(f"resume={resume}: no such run directory")

    from hrmzoo.train.trainer import RECIPE_FILE, Trainer

    if recipe is None:
        recipe = str(Path(resume) / RECIPE_FILE)
        if not Path(recipe).is_file():
            raise HrmzooError(f"{recipe}: missing; {resume} is not a run directory of 'hrmzoo train'")
    if "data" in named:  # recorded in the recipe, so eval and resume find the same data
        overrides = [*overrides, "data.type=path", f"data.path={Path(named['data']).resolve()}"]
    trainer = Trainer(recipe, overrides, run_dir=resume, resume=resume is not None)
    trainer.run()
    return 0
