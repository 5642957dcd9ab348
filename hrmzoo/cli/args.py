"""Argument handling shared by the commands.

One grammar for every command: `hrmzoo VERB [TARGET] [key=value ...] [--flags]`.
TARGET is a recipe, a run directory or a dataset kind; `name=value` arguments
are the command's own (`ckpt=`, `data=`...) or dotted recipe overrides
(`train.steps=200`); an option `--out FILE` may also be written `out=FILE`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from hrmzoo.errors import HrmzooError

COMMON_KEYS = ("ckpt", "data", "split", "batch_size", "limit", "device", "dtype", "threads", "out")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def split_arguments(items: list[str], keys: tuple[str, ...], command: str,
                    target: str | None = None) -> tuple[dict[str, str], list[str]]:
    """Separate `name=value` command arguments (`keys`) from recipe overrides.

    With `target` (e.g. `"recipe"` or `"ckpt"`), one bare word is that argument:
    `hrmzoo train tiny_sudoku4` is `hrmzoo train recipe=tiny_sudoku4`.
    """
    named: dict[str, str] = {}
    overrides: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key in keys:
            if not value:
                raise HrmzooError(f"'{item}': {key}= needs a value")
            if key in named:
                raise HrmzooError(f"'{item}': {key} given twice ({key}={named[key]})")
            named[key] = value
        elif sep and "." in key.lstrip("+~") or item.startswith("~"):
            overrides.append(item)
        elif target is not None and not sep and not item.startswith("-"):
            if target in named and "." in item:  # a dotted key without '=': the override parser says what is wrong
                overrides.append(item)
                continue
            if target in named:
                raise HrmzooError(f"'{item}': one {target.upper()} per command (already {target}={named[target]}); the other "
                                  f"arguments are {', '.join(k + '=' for k in keys if k != target)} or recipe overrides like train.steps=200")
            named[target] = item
        else:
            raise HrmzooError(f"'{item}' is neither one of {', '.join(k + '=' for k in keys)} nor a recipe override like train.steps=200 (see 'hrmzoo {command} --help')")
    return named, overrides


def key_values_to_flags(parser: argparse.ArgumentParser, items: list[str]) -> list[str]:
    """Rewrite `name=value` as `--name value` where `parser` has that option.

    `num_train=5` matches `--num-train` or `--num_train`; a flag that takes no
    value (`--force`) is written `force=true` (`force=false` drops it). Other
    items (overrides, positionals, flags already given) pass through unchanged.
    """
    options = {opt: action for action in parser._actions for opt in action.option_strings}
    out: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or item.startswith("-") or not key.isidentifier():
            out.append(item)
            continue
        option = next((o for o in (f"--{key.replace('_', '-')}", f"--{key}") if o in options), None)
        if option is None:
            out.append(item)
            continue
        if options[option].nargs == 0:  # store_true & co: a switch
            word = value.lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                raise HrmzooError(f"'{item}': {key} is a switch; write {key}=true or {key}=false (or {option})")
            if word in TRUE_WORDS:
                out.append(option)
        else:
            out += [option, value]
    return out


def int_list(named: dict[str, str], key: str, default: list[int]) -> list[int]:
    """`key=[1,2,4]` (or `key=4`) as a list of positive ints."""
    if key not in named:
        return default
    try:
        value = yaml.safe_load(named[key])
    except yaml.YAMLError:
        value = None
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise HrmzooError(f"{key}={named[key]}: give positive integers, e.g. {key}=[1,2,4,8]")
    return values


def positive_int(named: dict[str, str], key: str) -> int | None:
    if key not in named:
        return None
    try:
        value = int(named[key])
    except ValueError:
        raise HrmzooError(f"{key}={named[key]}: not an integer") from None
    if value <= 0:
        raise HrmzooError(f"{key}={value}: must be positive")
    return value


def check_recipe_argument(named: dict[str, str], command: str, example: str) -> None:
    """The recipe is given and names a file or a shipped recipe: checked before torch is imported."""
    from hrmzoo.recipe.shipped import find_recipe

    if "recipe" not in named:
        raise HrmzooError(f"no recipe given; run 'hrmzoo {command} {example}' (a shipped name, see 'hrmzoo recipes', or a YAML path)")
    find_recipe(named["recipe"])


def check_checkpoint_argument(named: dict[str, str], command: str) -> None:
    """The checkpoint is given and exists (or names shipped weights): checked before torch is imported."""
    if "ckpt" not in named:
        raise HrmzooError(f"no checkpoint given; run 'hrmzoo {command} RUN_DIR' (a run directory, a .safetensors file or pretrained:NAME; ckpt=RUN_DIR works too)")
    value = named["ckpt"]
    if value.startswith("pretrained:"):
        from hrmzoo.persistence.hub import weights_path

        weights_path(value)
        return
    try:
        exists = Path(value).exists()
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise HrmzooError(f"{value}: checkpoint not found; pass a run directory of 'hrmzoo train', a .safetensors file or pretrained:NAME")


def resolve(named: dict[str, str], overrides: list[str], command: str) -> dict[str, Any]:
    """Model (loaded once, on its device), device, autocast dtype, data root and batch size for
    the commands that read a checkpoint (eval, sweep, halting, trace); sets torch's CPU threads
    (`threads=`, else the recipe's `train.threads`)."""
    from hrmzoo.recipe.build import resolve_device
    from hrmzoo.persistence.checkpoint import load_model
    from hrmzoo.data.splits import check_compatible, prepare_dataset, split_metadata
    from hrmzoo.common.precision import autocast_dtype

    if "ckpt" not in named:
        raise HrmzooError(f"no checkpoint given; run 'hrmzoo {command} RUN_DIR' (a run directory, a .safetensors file or pretrained:NAME; ckpt=RUN_DIR works too)")
    value = named["ckpt"]
    shipped = value.startswith("pretrained:")
    if shipped:  # the package's weights file; reports go under runs/, never into the installed package
        from hrmzoo.persistence.hub import weights_path

        ckpt = weights_path(value)
    else:
        ckpt = Path(value)
    threads = positive_int(named, "threads")
    model = load_model(ckpt, overrides)
    recipe = model.recipe
    # the recipe's train.threads unless threads= says otherwise: on a busy machine torch's default
    # (every core) spins threads that wait on each other (an evaluation took 173 s of CPU instead of 11)
    threads = threads or recipe.train.threads
    if threads:
        import torch

        torch.set_num_threads(threads)
    device = resolve_device(named.get("device", recipe.train.device))
    dtype_name = named.get("dtype", recipe.train.dtype)
    if dtype_name not in ("auto", "float32", "bfloat16"):
        raise HrmzooError(f"dtype={dtype_name}: use auto, float32 or bfloat16")
    split = named.get("split", "test")
    root = Path(named["data"]) if "data" in named else prepare_dataset(recipe, recipe.train.data_cache)
    check_compatible(recipe.model, split_metadata(root, split), root)
    if "out" in named:
        out = Path(named["out"])
    elif shipped:
        out = Path("runs") / value.replace(":", "-")
    else:
        out = ckpt if ckpt.is_dir() else ckpt.parent
    return {
        "ckpt": ckpt,
        "model": model.to(device),
        "device": device,
        "autocast_dtype": autocast_dtype(dtype_name, device),
        "root": root,
        "split": split,
        "batch_size": positive_int(named, "batch_size") or recipe.train.eval_batch_size or recipe.train.batch_size,
        "limit": positive_int(named, "limit"),
        "out": out,
    }
