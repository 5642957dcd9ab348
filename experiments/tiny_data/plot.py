"""Exact accuracy against the test-time segment budget, per model, in range and beyond it (issue 31's plot).

    python experiments/tiny_data/plot.py --svg docs/images/logic_budget.svg \
        cpu_logic=RUN0,RUN1,RUN2 cpu_logic_flat=RUN0,... cpu_logic_onepass=RUN0,...

Each RUN is a run directory that experiments/tiny_data/run_seed.sh evaluated (`inrange.json` at
budgets 1..16, `beyond.json` at 1..32). One colour per model: the mean over its seeds, solid in
range (logic: depth 1-4), dashed beyond it (depth 5-8; the ranges are named per family, read from the
runs' recipes), the shaded band the seeds' min-max. Prints the plotted means as a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
from pathlib import Path

import yaml


def _sibling(name: str):
    """A script beside this one, loaded by its path: another experiments folder has a `record.py` too, so `import record` may find that one."""
    spec = importlib.util.spec_from_file_location(f"tiny_data_{name}", Path(__file__).resolve().with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAMILIES = _sibling("record").FAMILIES  # the families' range names, as the catalogue rows name them

BUDGETS = (1, 2, 4, 8, 16, 32)


def series(runs: list[Path], name: str) -> dict[int, list[float]]:
    """Budget -> one exact accuracy (%) per run, for the budgets every run was evaluated at."""
    curves = [json.loads((r / name).read_text())["metrics"]["exact_by_segment"] for r in runs]
    top = min(len(c) for c in curves)
    return {k: [100 * c[k - 1] for c in curves] for k in BUDGETS if k <= top}


def read(groups: list[str]) -> dict[str, dict[str, dict[int, list[float]]]]:
    out = {}
    for group in groups:
        label, _, paths = group.partition("=")
        if not paths:
            raise SystemExit(f"plot.py: '{group}' is not MODEL=RUN[,RUN...]")
        runs = [Path(p) for p in paths.split(",")]
        missing = [str(r) for r in runs if not (r / "inrange.json").is_file() or not (r / "beyond.json").is_file()]
        if missing:
            raise SystemExit(f"plot.py: no inrange.json/beyond.json in {', '.join(missing)}; run experiments/tiny_data/run_seed.sh")
        recipe = runs[0] / "recipe.yaml"
        family = (yaml.safe_load(recipe.read_text()).get("data") or {}).get("type", "logic") if recipe.is_file() else "logic"
        out[label] = {"in range": series(runs, "inrange.json"), "beyond": series(runs, "beyond.json"), "family": family}
    return out


def table(data: dict) -> str:
    lines = ["model | split | " + " | ".join(str(k) for k in BUDGETS)]
    for label, parts in data.items():
        for part in ("in range", "beyond"):
            s = parts[part]
            lines.append(f"{label} | {part} | " + " | ".join(f"{statistics.fmean(s[k]):.1f}" if k in s else "" for k in BUDGETS))
    return "\n".join(lines)


def draw(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=100)
    for i, (label, parts) in enumerate(data.items()):
        for part, style in (("in range", "o-"), ("beyond", "s--")):
            s = parts[part]
            ks = sorted(s)
            seeds = len(next(iter(s.values())))
            fam = FAMILIES.get(parts["family"], FAMILIES["logic"])
            ax.plot(ks, [statistics.fmean(s[k]) for k in ks], style, color=f"C{i}",
                    label=f"{label}, {fam['inside'] if part == 'in range' else fam['beyond']} ({seeds} seed{'s' if seeds > 1 else ''})")
            if seeds > 1:
                ax.fill_between(ks, [min(s[k]) for k in ks], [max(s[k]) for k in ks], color=f"C{i}", alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(BUDGETS), [str(k) for k in BUDGETS])
    ax.set_xlabel("segments at test time (every example runs the budget)")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("groups", nargs="+", help="MODEL=RUN[,RUN...]")
    p.add_argument("--svg", type=Path, required=True)
    a = p.parse_args(argv)
    data = read(a.groups)
    draw(data, a.svg)
    print(table(data))
    print(f"wrote {a.svg}")


if __name__ == "__main__":
    main()
