"""`hrmzoo compare RECIPE [RECIPE ...] [seeds=[0,1,2]] [steps=N | budget=MIN] [segments=[1,2,4,8,16]] [out=DIR] [key=value ...]`.

Trains every recipe once per seed under the same budget (sequentially), evaluates
every run on the same test split at each segment budget (fixed and adaptive),
and writes compare.json, compare.md (mean ± std and min-max over seeds) and
compare.png. A finished run is reused (an interrupted one resumed) only when its
fully resolved recipe and dataset equal the requested ones: a changed override
trains in a fresh directory RECIPE-seedN-<hash>, and a finished run's files are
never rewritten. Other key=value pairs are overrides applied to every recipe;
each recipe is named once.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="train recipes x seeds under one budget and compare accuracy by segment budget",
                       description=__doc__.splitlines()[0].strip("`"))
    p.add_argument("items", nargs="+", metavar="RECIPE_OR_KEY=VALUE",
                   help="recipes, then seeds=, steps=, budget= (minutes), segments=, out=, data=, limit=, threads=, or overrides")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.analysis.compare import check_spec, format_table, run_compare, spec_from_args

    spec = spec_from_args(args.items)
    check_spec(spec)  # before torch: a typo is reported at once
    report = run_compare(spec)
    print(format_table(report))
    print(f"wrote {spec.out / 'compare.json'}, {spec.out / 'compare.md'}, {spec.out / 'compare.png'}")
    return 0
