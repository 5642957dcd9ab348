"""``hrmzoo list [kind] [pattern]``: registered components."""

from __future__ import annotations

from hrmzoo import registry


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list registered components")
    p.add_argument("kind", nargs="?", help=f"one of: {', '.join(registry.KINDS)}")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'one_*'")
    p.set_defaults(run=run)


def run(args) -> int:
    for kind, names in registry.list_components(args.kind, args.pattern).items():
        for name in names:
            entry = registry.get(kind, name)
            print(f"{kind:<11} {name:<16} {entry.description}")
    return 0
