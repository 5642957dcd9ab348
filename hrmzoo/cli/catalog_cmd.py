"""`hrmzoo catalog [--check] [--dir DIR]`: regenerate (or check) the `registry/` catalogue."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("catalog", help="regenerate the registry/ catalogue (components, recipe schema, results)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if any generated file is stale (check=true)")
    p.add_argument("--dir", help="catalogue folder (default: the repository's registry/; dir=DIR)")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo import catalog

    directory = Path(args.dir) if args.dir else catalog.REGISTRY_DIR
    if args.check:
        stale = catalog.stale_files(directory)
        if stale:
            print(f"{directory}: stale: {', '.join(stale)}; run `hrmzoo catalog` and commit the result")
            return 1
        print(f"{directory}: up to date")
        return 0
    changed = catalog.write(directory)
    print(f"{directory}: {'updated ' + ', '.join(changed) if changed else 'already up to date'}")
    return 0
