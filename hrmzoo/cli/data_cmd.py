"""`hrmzoo data KIND [key=value ...] [--flags]`: generate or convert a dataset.

KIND is a dataset kind; bare `hrmzoo data` lists them. Each option may be
written `key=value` or as a flag: `size=9 num_train=1000 out=DIR` is
`--size 9 --num-train 1000 --out DIR`, and `force=true` is `--force`.

Examples:
  hrmzoo data sudoku size=9 num_train=1000 out=data/sudoku9
  hrmzoo data maze --size 30 --min-path-len 110 --augment --out data/maze-hard
  hrmzoo data describe data/sudoku9
"""

from __future__ import annotations

import argparse

from hrmzoo.cli.args import key_values_to_flags
from hrmzoo.cli.text import PlainFormatter, description


def add_parser(sub) -> None:  # for 'hrmzoo --help' only: run_argv parses the arguments itself
    sub.add_parser("data", help="generate or convert a dataset (sudoku, maze, arc, ...)", add_help=False)


def _kinds(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _plain_help(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = PlainFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _plain_help(child)


def run_argv(argv: list[str]) -> int:
    """`argv` is everything after the word `data`; hrmzoo.data.cli does the work."""
    from hrmzoo.data import cli

    parser = cli._parser()  # the dataset kinds and their options live there
    _plain_help(parser)
    parser.description = description(__doc__)
    kinds = _kinds(parser)
    if not argv:
        print("dataset kinds (hrmzoo data KIND --help for the options of one):")
        for choice in kinds._choices_actions:
            print(f"  {choice.dest:<10} {choice.help or ''}")
        return 0
    if argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    kind = kinds.choices.get(argv[0])
    if kind is not None and any(a in ("-h", "--help") for a in argv[1:]):
        kind.print_help()
        return 0
    rest = key_values_to_flags(kind, argv[1:]) if kind is not None else argv[1:]
    return cli.main([argv[0], *rest])
