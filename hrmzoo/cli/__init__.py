"""The `hrmzoo` command line: `hrmzoo VERB [TARGET] [key=value ...] [--flags]`.

Each command lives in its own module, listed once in `COMMANDS`. A module
has `add_parser(subparsers)` (which sets `run(args) -> int` as the
default), or `run_argv(argv) -> int` when it parses its own arguments
(`data`). Only the module of the command being run is imported, and command
modules import torch inside `run`, so `hrmzoo --help` and
`hrmzoo COMMAND --help` start without torch.

A user mistake (HrmzooError) prints one line and exits 2; any other error
prints one line and exits 1. `--debug` (or `HRMZOO_DEBUG=1`) prints the
full traceback, the original cause included. `--import MODULE` (repeatable)
imports a module that registers components before the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from hrmzoo.cli.text import PlainFormatter, description, usage_line
from hrmzoo.errors import HrmzooError

# name -> (module, one-line help for 'hrmzoo --help'). A new command: one module + one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("hrmzoo.cli.build_cmd", "validate a recipe, build the model and print its structure"),
    "train": ("hrmzoo.cli.train_cmd", "train a model from a recipe (resumable, data-parallel under torchrun)"),
    "eval": ("hrmzoo.cli.eval_cmd", "evaluate a checkpoint (exact accuracy, segments, halting, activity, ARC pass@k)"),
    "sweep": ("hrmzoo.cli.sweep_cmd", "accuracy of a checkpoint under other inner-cycle and segment budgets"),
    "halting": ("hrmzoo.cli.halting_cmd", "halting analysis: halt steps, calibration, early stops, overthinking"),
    "compare": ("hrmzoo.cli.compare_cmd", "train recipes x seeds under one budget and compare accuracy by segment budget"),
    "plot": ("hrmzoo.cli.plot_cmd", "plot training curves of one or more runs (PNG and SVG)"),
    "solve": ("hrmzoo.cli.solve_cmd", "solve a Sudoku or a maze with a shipped or trained model"),
    "trace": ("hrmzoo.cli.trace_cmd", "draw a model's prediction after every segment of one puzzle"),
    "import": ("hrmzoo.cli.import_cmd", "convert an original HRM or TRM checkpoint into a zoo checkpoint"),
    "data": ("hrmzoo.cli.data_cmd", "generate or convert a dataset (bare 'hrmzoo data' lists the kinds)"),
    "recipes": ("hrmzoo.cli.recipes_cmd", "list the shipped recipes, show one resolved, copy one to edit"),
    "list": ("hrmzoo.cli.list_cmd", "list registered components"),
    "schema": ("hrmzoo.cli.schema_cmd", "print the recipe JSON Schema"),
    "catalog": ("hrmzoo.cli.catalog_cmd", "regenerate the registry/ catalogue (components, recipe schema, results)"),
}
DEBUG_ENV = "HRMZOO_DEBUG"
EPILOG = """\
Every command reads 'hrmzoo COMMAND [TARGET] [key=value ...] [--flags]': TARGET is a recipe,
a run directory or a dataset kind; key=value sets a command argument (out=FILE is --out FILE)
or overrides the recipe (train.steps=200). 'hrmzoo COMMAND --help' describes one command.

examples:
  hrmzoo recipes
  hrmzoo solve sudoku 1...........4..2
  hrmzoo build hrm_sudoku
  hrmzoo train tiny_sudoku4 train.steps=200
  hrmzoo eval runs/RUN_DIR
  hrmzoo data sudoku size=9 num_train=1000 out=data/sudoku9
"""


def _global_options(argv: list[str]) -> tuple[list[str], list[str], bool]:
    """Pull `--import MODULE` (repeatable) and `--debug` out of `argv`, wherever they are."""
    rest: list[str] = []
    imports: list[str] = []
    debug = False
    items = iter(argv)
    for item in items:
        if item == "--debug":
            debug = True
        elif item == "--import":
            module = next(items, None)
            if module is None or module.startswith("-"):
                raise HrmzooError("--import needs a module name or a .py file, e.g. --import my_blocks")
            imports.append(module)
        elif item.startswith("--import="):
            imports.append(item.split("=", 1)[1])
        else:
            rest.append(item)
    return rest, imports, debug


def make_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (others get their one-line help)."""
    parser = argparse.ArgumentParser(prog="hrmzoo", description="A zoo of hierarchical reasoning models.",
                                     epilog=EPILOG, formatter_class=PlainFormatter)
    parser.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                        help="import MODULE (or a .py file) to register its components; repeatable")
    parser.add_argument("--debug", action="store_true", help=f"print full tracebacks (also {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            command_module = importlib.import_module(module)
            command_module.add_parser(sub)
            command_parser = sub.choices[name]
            command_parser.formatter_class = PlainFormatter
            # the module's docstring is its help: first line the usage, the rest the description
            command_parser.usage = command_parser.usage or usage_line(command_module.__doc__)
            command_parser.description = command_parser.description or description(command_module.__doc__)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def _command_word(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes")
    command = "hrmzoo"
    try:
        argv, imports, debug_flag = _global_options(argv)
        debug = debug or debug_flag
        command = _command_word(argv) or command
        if imports:
            from hrmzoo.loading.plugins import import_plugins

            import_plugins(imports, "--import")
        module = importlib.import_module(COMMANDS[command][0]) if command in COMMANDS else None
        if module is not None and hasattr(module, "run_argv"):
            return int(module.run_argv(argv[argv.index(command) + 1:]) or 0)
        parser = make_parser(command if module is not None else None)
        if module is not None:  # out=FILE is --out FILE, check=true is --check
            position = argv.index(command) + 1
            argv = argv[:position] + _flags(parser, command, argv[position:])
        args = _parse(parser, command, argv)
        return int(args.run(args) or 0)
    except HrmzooError as exc:
        _report(command, exc, debug)
        return 2
    except BrokenPipeError:  # `hrmzoo build ... | head`: the reader left, not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"hrmzoo {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line by default; --debug for the traceback
        _report(command, exc, debug)
        return 1


def _parse(parser: argparse.ArgumentParser, command: str, argv: list[str]) -> argparse.Namespace:
    """`parser.parse_args`, with `key=value` items allowed after the flags too.

    argparse fills a command's list of `key=value` arguments (its `nargs="*"`
    positional) from one run of words only, so in `hrmzoo import hrm CKPT --out F
    seq_len=81` the last word was "unrecognized". Words left over that are not
    flags join that list, in order; an unknown flag is still argparse's error.
    """
    args, extra = parser.parse_known_args(argv)
    subparsers = parser._subparsers._group_actions[0].choices if parser._subparsers else {}
    lists = [a for a in getattr(subparsers.get(command), "_actions", ()) if not a.option_strings and a.nargs == "*"]
    if extra and len(lists) == 1 and not any(item.startswith("-") for item in extra):
        getattr(args, lists[0].dest).extend(extra)
        return args
    return parser.parse_args(argv)


def _flags(parser: argparse.ArgumentParser, command: str, items: list[str]) -> list[str]:
    from hrmzoo.cli.args import key_values_to_flags

    return key_values_to_flags(parser._subparsers._group_actions[0].choices[command], items)


def _report(command: str, exc: BaseException, debug: bool) -> None:
    prefix = "hrmzoo" if command == "hrmzoo" else f"hrmzoo {command}"
    if debug:
        _unsuppress(exc)
        traceback.print_exception(exc)
        return
    if isinstance(exc, HrmzooError):
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return
    if isinstance(exc, OSError) and exc.errno is not None:  # disk full, read-only...: what happened and what to do
        from hrmzoo.errors import describe_os_error, os_error_fix

        print(f"{prefix}: error: {describe_os_error(exc)}; {os_error_fix(exc)} and run it again (files written before are kept)", file=sys.stderr)
        return
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {frame[0].filename}:{frame[0].lineno})" if frame else ""
    print(f"{prefix}: error: {type(exc).__name__}: {exc}{where}; rerun with --debug or {DEBUG_ENV}=1 for the traceback",
          file=sys.stderr)


def _unsuppress(exc: BaseException | None) -> None:
    """Show the causes that one-line errors hide with `raise ... from None`."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__suppress_context__ = False
        exc = exc.__cause__ or exc.__context__


if __name__ == "__main__":
    sys.exit(main())
