"""`hrmzoo schema [--out FILE]`: the recipe JSON Schema (for editor completion of YAML)."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the recipe JSON Schema")
    p.add_argument("--out", help="write to this file instead of stdout (out=FILE works too)")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.recipe import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0
