"""``hrmzoo schema``: the recipe JSON Schema."""

from __future__ import annotations

import json

from hrmzoo.recipe import json_schema


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the recipe JSON Schema")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(run=run)


def run(args) -> int:
    text = json.dumps(json_schema(), indent=2, sort_keys=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0
