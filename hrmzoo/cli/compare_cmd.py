"""`hrmzoo compare RECIPE [RECIPE ...] [seeds=[0,1,2]] [steps=N | budget=MIN] [segments=[1,2,4,8,16]] [out=DIR] [eval_data=DIR] [key=value ...]`.

Trains every recipe once per seed under the same budget (sequentially), evaluates
every run on the same test split at each segment budget (fixed and adaptive),
and writes compare.json, compare.md (mean ± std and min-max over seeds) and
compare.png. A finished run is reused (an interrupted one resumed) only when its
fully resolved recipe and dataset equal the requested ones: a changed override
trains in a fresh directory RECIPE-seedN-<hash>, and a finished run's files are
never rewritten. A recipe with a warm-up stage (train.init_from and a _warmup
sibling, e.g. cpu_logic) trains that stage first for each seed, with its own
steps. eval_data=DIR scores every run on DIR's test split (e.g. the same instances
with the answers alone labelled, or a split beyond the training range) instead of
its training build's, in an evaluation file of its own, without retraining.
Other key=value pairs are overrides applied to every recipe;
each recipe is named once. With results=DIR (the repository's registry/) the
table's rows (exact_accuracy/{fixed,adaptive}@Kseg per recipe) are recorded by
hrmzoo.catalog.record.record_results, the one writer of measured rows;
supersede=WHY keeps the rows they replace in the history, hardware=TEXT says
where it ran.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="train recipes x seeds under one budget and compare accuracy by segment budget",
                       description=__doc__.splitlines()[0].strip("`"))
    p.add_argument("items", nargs="+", metavar="RECIPE_OR_KEY=VALUE",
                   help="recipes, then seeds=, steps=, budget= (minutes), segments=, out=, data=, eval_data=, limit=, threads=, "
                        "results= (with supersede=, hardware=), or overrides")
    p.set_defaults(run=run)


def run(args) -> int:
    from hrmzoo.analysis.compare import check_spec, format_table, run_compare, spec_from_args

    spec = spec_from_args(args.items)
    check_spec(spec)  # before torch: a typo is reported at once
    if spec.results is not None:
        _check_recordable(spec)  # before training: rows of a recipe the catalogue does not keep would be refused after it
    report = run_compare(spec)
    print(format_table(report))
    print(f"wrote {spec.out / 'compare.json'}, {spec.out / 'compare.md'}, {spec.out / 'compare.png'}")
    if spec.results is not None:
        _record(report, spec)
    return 0


def _check_recordable(spec) -> None:
    from pathlib import Path

    from hrmzoo.catalog import experiment_recipes
    from hrmzoo.errors import HrmzooError
    from hrmzoo.recipe.shipped import shipped_recipes

    if not Path(spec.results).is_dir():
        raise HrmzooError(f"compare: results={spec.results} is not a folder; name the catalogue folder (results=registry)")
    kept = set(shipped_recipes()) | experiment_recipes()
    for recipe in spec.recipes:
        if Path(recipe).stem not in kept:
            raise HrmzooError(f"compare: results={spec.results}: recipe '{Path(recipe).stem}' is neither shipped nor in experiments/; "
                              "the catalogue keeps results for those only (leave out results=)")


def _record(report, spec) -> None:
    import datetime
    import platform
    from pathlib import Path

    import torch

    from hrmzoo.analysis.compare import results_rows
    from hrmzoo.catalog.record import record_results

    hardware = spec.hardware or (f"CPU {platform.machine()} ({torch.get_num_threads()} torch thread(s)), "
                                 f"torch {torch.__version__.split('+')[0]}")
    rows = results_rows(report, spec, hardware=hardware, date=datetime.date.today().isoformat())
    changed = record_results(rows, Path(spec.results), supersede=spec.supersede)
    print(f"recorded {len(rows)} rows: updated {', '.join(changed) or 'nothing'}; now run `hrmzoo catalog`")
