"""``hrmzoo train recipe=RECIPE [key=value ...] [resume=RUN_DIR] [data=DIR]``: train a model.

Arguments other than ``recipe=``, ``resume=`` and ``data=`` are recipe
overrides (``train.steps=200``, ``model.hidden_size=128``). ``resume=RUN_DIR``
continues a run exactly (its saved recipe is used unless ``recipe=`` is given;
overrides still apply, e.g. ``train.steps=4000`` to extend it). ``data=DIR``
trains on an existing dataset directory instead of the recipe's ``data:``
(recorded in the run's recipe as ``data: {type: path, path: DIR}``).
Works under ``torchrun --nproc_per_node=K -m hrmzoo train ...`` (data-parallel).
"""

from __future__ import annotations

from pathlib import Path

from hrmzoo.errors import HrmzooError


def split_arguments(items: list[str], keys: tuple[str, ...], command: str) -> tuple[dict[str, str], list[str]]:
    """Separate ``name=value`` command arguments (``keys``) from recipe overrides."""
    named: dict[str, str] = {}
    overrides: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key in keys:
            if not value:
                raise HrmzooError(f"'{item}': {key}= needs a value")
            named[key] = value
        elif sep and "." in key.lstrip("+~") or item.startswith("~"):
            overrides.append(item)
        else:
            raise HrmzooError(f"'{item}' is neither one of {', '.join(k + '=' for k in keys)} nor a recipe override like train.steps=200 (see 'hrmzoo {command} --help')")
    return named, overrides


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model from a recipe (resumable, data-parallel under torchrun)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("args", nargs="*", metavar="recipe=RECIPE [key=value ...]", help="recipe=, resume=, data= and recipe overrides")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.train.trainer import RECIPE_FILE, Trainer

    named, overrides = split_arguments(args.args, ("recipe", "resume", "data"), "train")
    resume = named.get("resume")
    recipe = named.get("recipe")
    if recipe is None and resume is None:
        raise HrmzooError("no recipe given; run 'hrmzoo train recipe=recipes/tiny_sudoku4.yaml' (or resume=RUN_DIR)")
    if recipe is None:
        recipe = str(Path(resume) / RECIPE_FILE)
        if not Path(recipe).is_file():
            raise HrmzooError(f"{recipe}: missing; {resume} is not a run directory of 'hrmzoo train'")
    if "data" in named:  # recorded in the recipe, so eval and resume find the same data
        overrides = [*overrides, "data.type=path", f"data.path={Path(named['data']).resolve()}"]
    trainer = Trainer(recipe, overrides, run_dir=resume, resume=resume is not None)
    trainer.run()
    return 0
