"""The ``hrmzoo`` command line.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. A user mistake (HrmzooError) prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hrmzoo.errors import HrmzooError

SUBCOMMANDS = ("build", "list", "schema", "data", "catalog", "train", "eval", "sweep", "halting", "plot", "trace", "import")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrmzoo", description="A zoo of hierarchical reasoning models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"hrmzoo.cli.{name}_cmd").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except HrmzooError as exc:
        print(f"hrmzoo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hrmzoo build ... | head`: the reader left, not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"hrmzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
