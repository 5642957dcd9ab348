"""``hrmzoo data sudoku|maze|arc ...``: build datasets (see hrmzoo.data.cli)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="generate or convert a dataset (sudoku, maze, arc)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.data.cli import main

    return main(args.rest)
