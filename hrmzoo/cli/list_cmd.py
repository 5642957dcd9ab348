"""`hrmzoo list [KIND] [PATTERN]`: registered components.

KIND is a component kind (`kind=KIND` works too); PATTERN a shell wildcard
such as `one_*` (`pattern=`), matched against every kind when it comes alone
(`hrmzoo list '*step*'`). Nothing matching is said in one line (exit 2).
Plugins passed with `--import MODULE` are listed with the built-ins.

Examples:
  hrmzoo list
  hrmzoo list gradient
  hrmzoo list '*step*'
  hrmzoo list kind=block pattern=t*
"""

from __future__ import annotations

from hrmzoo.cli.text import description, plain
from hrmzoo.errors import HrmzooError

# the kinds as hrmzoo.registry.KINDS lists them (a test keeps the two equal); written here so
# that 'hrmzoo list --help' and its argument errors need not import the registry (pydantic)
KIND_NAMES = ("block", "injection", "coupling", "gradient", "solver", "halting", "controller", "embedding", "head")


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list registered components", description=description(__doc__))
    p.add_argument("args", nargs="*", metavar="[KIND] [PATTERN]", help=f"KIND: one of {', '.join(KIND_NAMES)}")
    p.set_defaults(run=run)


def run(args) -> int:
    named: dict[str, str] = {}
    bare = []
    for item in args.args:
        key, sep, value = item.partition("=")
        if sep and key in ("kind", "pattern"):
            named[key] = value
        elif sep:
            raise HrmzooError(f"'{item}': 'hrmzoo list' takes KIND and PATTERN (or kind= and pattern=)")
        else:
            bare.append(item)
    if bare and "kind" not in named and "pattern" not in named and len(bare) == 1 and bare[0] not in KIND_NAMES and any(c in bare[0] for c in "*?["):
        named["pattern"] = bare.pop(0)  # a lone wildcard: every kind
    for key in ("kind", "pattern"):
        if key not in named and bare:
            named[key] = bare.pop(0)
    if bare:
        raise HrmzooError(f"'{bare[0]}': too many arguments; 'hrmzoo list [KIND] [PATTERN]'")
    from hrmzoo import registry
    from hrmzoo.loading import plugins
    found = plugins.list_components(named.get("kind"), named.get("pattern", "*"))
    if not any(found.values()):
        where = f"{named['kind']} " if "kind" in named else ""
        raise HrmzooError(f"no {where}component matches '{named.get('pattern', '*')}' (all: 'hrmzoo list'; wildcards: * ? [..], e.g. '*step*')")
    for kind, names in found.items():
        for name in names:
            entry = registry.get(kind, name)
            print(f"{kind:<11} {name:<16} {plain(entry.description)}")
    return 0
