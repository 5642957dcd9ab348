"""Theory of mind v2: train a recipe while measuring its empathy heads, score runs by question, and the floors.

    python experiments/tom/ablate.py train tom2_perspective --seed 0 --out runs/tom2/perspective-s0
    python experiments/tom/ablate.py ladder tom2_none --seed 0 --stage 1,2:1000 --stage 2,4:1000 --stage full:1500 --out runs/tom2/none-ladder-s0
    python experiments/tom/ablate.py extend runs/tom2/none-ladder-s0 --stage full:1500 --out runs/tom2/none-ladder-s0-longer
    python experiments/tom/ablate.py score runs/tom2/none-s0 runs/tom2/perspective-s0 --out runs/tom2/scores.jsonl
    python experiments/tom/ablate.py floors tom2_none --cnn-steps 600 > runs/tom2/floors.json
    python experiments/tom/ablate.py table runs/tom2/scores.jsonl --floors runs/tom2/floors.json --plot runs/tom2/activity.png

`train` runs the project's `Trainer` step by step (the same optimizer, batches
and schedule as `hrmzoo train`) and, every `--measure-every` steps, records
for a controller run each head's mean |modulation|, the fraction of its hidden
units where the SiLU is flat (|SiLU'| < 0.1), the gradient norm of each head's
parameters and of the backbone blocks, and the perspective-target losses
(`heads.jsonl` in the run directory); then it saves the run and scores it.

`ladder` trains one seed through stages of growing event logs, each stage
warm-started from the one before (`train.init_from`): `--stage 1,2:1000` is
1,000 steps on stories of 1-2 events, `full:1500` the recipe's own range.
The ladder's folder scores like a run (its last stage, with the steps of every
stage counted, under the ladder's seed). `extend` copies a finished ladder and
trains more stages after it: the way to ask whether a run had plateaued.

`score` evaluates runs on their test split and breaks exact accuracy down by
question kind, belief order, true vs false belief, second-order mechanism, and
the pair score (both members of a true/false-belief pair right), with the
controller's activity per head for each question kind and order (and a picture
with `--plot`).

`table` reads the `score --out` files: per recipe mean ± std, median and success
rate over the seeds, the floors beside them, seed-paired differences to the
baseline; `--record registry/` writes the rows into the catalogue; `--plot` draws
each head's activity per question group and, from the runs' `heads.jsonl`, its
gradient norm and flat fraction through training. Rows are keyed by recipe name
and seed: give a `--set` variant a recipe file of its own.

`floors` scores the shortcut and partial rules of `tests/data/tom_story_solver.py`
and a one-pass CNN (no recurrence, no controller) trained on the train split,
with the same breakdown.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from hrmzoo.persistence.checkpoint import load_model
from hrmzoo.data import tom_story as T
from hrmzoo.data.dataset import PuzzleDataset
from hrmzoo.data.splits import prepare_dataset, split_metadata
from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate.core import evaluate
from hrmzoo.recipe import load_recipe
from hrmzoo.train.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: the rules live beside the tests that bound them
from tests.data import tom_story_solver as S  # noqa: E402

GROUPS = ("first-order TB", "first-order FB", "second-order TB", "second-order FB", "reality", "memory")


def _extras(split_dir: Path) -> dict[str, np.ndarray]:
    return {name: np.load(split_dir / f"extra__{name}.npy") for name in T.EXTRAS}


def group_of(kind: int, order: int, false_belief: int) -> str:
    if kind == 1:
        return "reality"
    if kind == 2:
        return "memory"
    return f"{'first' if order == 1 else 'second'}-order {'FB' if false_belief else 'TB'}"


def groups_of(ex: dict[str, np.ndarray]) -> np.ndarray:
    """The group (`GROUPS`) of every example, from its recorded kind, order and false-belief flag."""
    return np.asarray([group_of(k, o, f) for k, o, f in zip(ex["kind"], ex["order"], ex["false_belief"])])


def breakdown(right: np.ndarray, ex: dict[str, np.ndarray]) -> dict[str, float]:
    """Exact accuracy (%) per group, belief overall, per mechanism, and pair scores (both belief members right)."""
    out: dict[str, float] = {}
    groups = groups_of(ex)
    for g in GROUPS:
        if (groups == g).any():
            out[g] = 100.0 * float(right[groups == g].mean())
    belief = ex["kind"] == 0
    out["belief"] = 100.0 * float(right[belief].mean())
    for order in (1, 2):
        rows = np.flatnonzero(belief & (ex["order"] == order))
        pairs: dict[int, bool] = {}
        for i in rows:
            pairs[int(ex["pair"][i])] = pairs.get(int(ex["pair"][i]), True) and bool(right[i])
        if pairs:
            out[f"pair {'first' if order == 1 else 'second'}-order"] = 100.0 * float(np.mean(list(pairs.values())))
    for m, name in enumerate(T.MECHANISMS[1:], start=1):
        rows = belief & (ex["order"] == 2) & (ex["mechanism"] == m)
        if rows.any():
            out[f"second-order {name}"] = 100.0 * float(right[rows].mean())
    out["all"] = 100.0 * float(right.mean())
    return out


# ---------------------------------------------------------------------------- train, measuring the heads
def backbone_grad_norm(model) -> float:
    grads = [p.grad.detach().float().norm() for name, p in model.named_parameters()
             if p.grad is not None and not name.startswith("controller.")]
    return float(torch.stack(grads).norm()) if grads else 0.0


def train(args) -> None:
    trainer = Trainer(args.recipe, [f"train.seed={args.seed}", f"train.steps={args.steps}", "train.dtype=float32", "train.threads=1",
                                    *args.overrides], run_dir=args.out)
    log = (trainer.run_dir / "heads.jsonl").open("w")
    ctl = trainer.model.controller
    t0 = time.process_time()
    try:
        while trainer.step < trainer.total_steps:
            res = trainer.train_step()
            if trainer.step % args.measure_every and trainer.step != trainer.total_steps:
                continue
            row = {"step": trainer.step, "loss": res.metrics["loss"], "exact": float(res.metrics["exact"]),
                   "backbone_grad": backbone_grad_norm(trainer.model)}
            row.update({k: float(v) for k, v in res.metrics.items() if k.startswith("loss/")})
            if hasattr(ctl, "head_grad_norms"):
                row.update({f"grad/{k}": v for k, v in ctl.head_grad_norms().items()})
                for name, values in (res.output.diagnostics.get("trace") or {}).items():
                    row[name] = float(torch.stack(values).float().mean())
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(json.dumps(row), flush=True)
        trainer.save()
    finally:
        log.close()
        trainer.close()
    print(f"trained {trainer.step} steps in {time.process_time() - t0:.0f} CPU-s; run dir {trainer.run_dir}")


def parse_stage(text: str) -> tuple[list[int] | None, int, list[str]]:
    """`1,2:1000` -> ([1, 2], 1000, []); `full:1500` -> (None, 1500, []): the recipe's own event range.
    Overrides after the span apply to that stage only: `1,2:2000 model.head.loss_weight=0.0` (a perception stage)."""
    head, *sets = text.split() or [""]
    events, sep, steps = head.partition(":")
    try:
        n = int(steps)
        span = None if events == "full" else [int(e) for e in events.split(",")]
    except ValueError:
        n, span = 0, []
    if not sep or n < 1 or (span is not None and (len(span) != 2 or not 1 <= span[0] <= span[1])):
        raise SystemExit(f"--stage {text!r}: write EVENTS:STEPS, e.g. 1,2:1000 (1-2 events, 1,000 steps) or full:1500, "
                         "then this stage's own key=value overrides if any")
    bad = [x for x in sets if "=" not in x]
    if bad:
        raise SystemExit(f"--stage {text!r}: {bad[0]!r} is not a key=value override; write EVENTS:STEPS key=value ...")
    return span, n, sets


def ladder(args) -> None:
    out = Path(args.out)
    if (out / "ladder.json").exists():
        raise SystemExit(f"{out}: a ladder is already there; pick another --out")
    stages = [parse_stage(s) for s in args.stages]
    out.mkdir(parents=True, exist_ok=True)
    done = _train_stages(args.recipe, args.seed, args.overrides, args.stages, stages, out, [], None, args.measure_every)
    _write_ladder(out, {"recipe": args.recipe, "seed": args.seed, "overrides": args.overrides}, done)


def extend(args) -> None:
    """Copy a finished ladder into --out and train more stages after its last one, as `ladder` would have.

    The new stages run with seed `--stage-seed` (default: the ladder's + 100 x its number of stages) so that a stage
    over the same event range as one before it draws other batches, not the same sequence again; the ladder keeps
    its own seed, so its scores pair with its siblings'. The copy leaves the source, and the scores made from it, as they were."""
    src, out = Path(args.source), Path(args.out)
    if not (src / "ladder.json").is_file():
        raise SystemExit(f"{src}: no ladder.json; `extend` continues a folder written by `ablate.py ladder`")
    if out.resolve() == src.resolve() or (out / "ladder.json").exists():
        raise SystemExit(f"{out}: a ladder is already there; pick another --out")
    stages = [parse_stage(s) for s in args.stages]
    lad = json.loads((src / "ladder.json").read_text())
    recipe = args.recipe or lad["recipe"]
    try:
        load_recipe(recipe, list(lad["overrides"]))
    except HrmzooError as e:
        raise SystemExit(f"{src}: the ladder's recipe does not load ({e}); pass --recipe (a file or a shipped name) "
                         "that resolves to the same model") from None
    seed = lad["seed"] + 100 * len(lad["stages"]) if args.stage_seed is None else args.stage_seed
    out.mkdir(parents=True, exist_ok=True)
    for s in lad["stages"]:
        shutil.copytree(src / s["run"], out / s["run"], dirs_exist_ok=True)
    done = _train_stages(recipe, seed, lad["overrides"], args.stages, stages, out, lad["stages"], out / lad["final"],
                         args.measure_every)
    _write_ladder(out, {"recipe": recipe, "seed": lad["seed"], "overrides": lad["overrides"], "extended_from": str(src)}, done)


def _train_stages(recipe, seed, overrides, texts, stages, out: Path, done: list, previous, measure_every) -> list:
    """Train `stages` into `out` after the `done` ones, each warm-started from the stage before; the stages, all of them."""
    done = list(done)
    for text, (span, steps, own) in zip(texts, stages):
        name = f"stage{len(done) + 1}-" + ("full" if span is None else f"{span[0]}-{span[1]}")
        sets = list(overrides)
        if span is not None:
            sets.append(f"data.num_events=[{span[0]},{span[1]}]")
        if previous is not None:
            sets.append(f"train.init_from={previous}")
        sets += own  # last, so a stage's own overrides win over the ladder's
        print(f"ladder {out}: {name}, {steps} steps", flush=True)
        train(argparse.Namespace(recipe=recipe, seed=seed, steps=steps, measure_every=measure_every,
                                 out=str(out / name), overrides=sets))
        previous = out / name
        done.append({"stage": name, "text": text, "events": span, "steps": steps, "run": name, "seed": seed})
    return done


def _write_ladder(out: Path, head: dict, stages: list) -> None:
    (out / "ladder.json").write_text(json.dumps({**head, "stages": stages, "final": stages[-1]["run"]}, indent=1))


# ---------------------------------------------------------------------------- score runs
def score_run(run_dir: Path, batch_size: int = 256, data_overrides: tuple[str, ...] = ()) -> dict:
    """Score a run on its recipe's test split, or on the test split of that data spec with `data_overrides`
    (`data.test_num_agents=[4,4]`: a generalisation build; its stories are never in any train split).
    A ladder's folder is scored at its last stage, with the steps of all its stages."""
    if (run_dir / "ladder.json").exists():
        lad = json.loads((run_dir / "ladder.json").read_text())
        out = score_run(run_dir / lad["final"], batch_size, data_overrides)
        out.update(run=str(run_dir), seed=lad["seed"], steps=sum(s["steps"] for s in lad["stages"]), ladder=[s["text"] for s in lad["stages"]])
        return out
    model = load_model(run_dir)
    recipe = load_recipe(run_dir / "recipe.yaml", list(data_overrides))
    root = prepare_dataset(recipe, recipe.train.data_cache, progress=False)
    ex = _extras(root / "test")
    data = PuzzleDataset(root, "test")
    width = data.get_batch(np.arange(1))["inputs"].shape[1]
    if width != model.cfg.seq_len:
        raise SystemExit(f"{run_dir}: the test split's sequences are {width} tokens, the model reads {model.cfg.seq_len}; "
                         "keep data.size and data.event_slots as the run was trained")
    result = evaluate(model, data, batch_size=batch_size, run_all_segments=True)
    right = result.samples["exact"].cpu().numpy().astype(bool)
    out = {"run": str(run_dir), "recipe": recipe.name, "seed": recipe.train.seed, "steps": recipe.train.steps, "batch": recipe.train.batch_size,
           "params": sum(p.numel() for p in model.parameters()), "data": list(data_overrides), "exact": breakdown(right, ex), "activity": {}}
    if not model.controller.hook_points:
        return out
    groups = groups_of(ex)
    for g in GROUPS:
        idx = np.flatnonzero(groups == g)
        if not len(idx):
            continue
        batches = [data.get_batch(idx[i:i + batch_size]) for i in range(0, len(idx), batch_size)]
        res = evaluate(model, batches, batch_size=batch_size, run_all_segments=True)
        out["activity"][g] = {name: a["mean"] for name, a in res.activity.items()}
    return out


def training_log(run: str | Path) -> list[dict]:
    """The `heads.jsonl` rows of a scored run, a ladder's stages in order with steps counted across them; [] without one."""
    run = Path(run)
    stages = [(run, 0)]
    if (run / "ladder.json").exists():
        lad = json.loads((run / "ladder.json").read_text())
        starts = np.cumsum([0] + [s["steps"] for s in lad["stages"]])
        stages = [(run / s["run"], int(start)) for s, start in zip(lad["stages"], starts)]
    rows = []
    for folder, start in stages:
        path = folder / "heads.jsonl"
        if path.is_file():
            rows += [{**r, "step": r["step"] + start} for r in map(json.loads, filter(str.strip, path.read_text().splitlines()))]
    return rows


def _band(ax, xs, runs: list[list[float]], color: str, label: str, style: str = "o-") -> None:
    """The mean over seeds as a line, their min-max as a band."""
    v = np.asarray(runs, float)
    with warnings.catch_warnings():  # a group no seed has (a head that is off) stays a gap, without a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        ax.plot(xs, np.nanmean(v, 0), style, color=color, label=label, markersize=3)
        if len(v) > 1:
            ax.fill_between(xs, np.nanmin(v, 0), np.nanmax(v, 0), color=color, alpha=0.15)


def plot_activity(scores: list[dict], path: Path) -> None:
    """First row: each head's mean |modulation| and flat fraction (|SiLU'| < 0.1) per question group on the test
    split; then, from the runs' `heads.jsonl`, each head's and the backbone's gradient norm, and each head's flat
    fraction, during training. One colour per recipe: the mean over its seeds, the band their min-max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_recipe: dict[str, list[dict]] = {}
    for s in scores:
        by_recipe.setdefault(s["recipe"], []).append(s)
    colors = {name: f"C{i}" for i, name in enumerate(by_recipe)}
    names = sorted({n for s in scores for g in s["activity"].values() for n in g})
    logs = {name: [training_log(s["run"]) for s in runs] for name, runs in by_recipe.items()}
    logged = sorted({k for runs in logs.values() for log in runs if log for k in log[0]})
    grads = [k for k in logged if k.startswith("grad/") or k == "backbone_grad"]
    flats = [k for k in logged if k.endswith("/flat")]
    rows = [r for r in (names, grads, flats) if r]
    if not rows:
        return
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.2 * cols, 3.1 * len(rows)), squeeze=False)
    for axs, keys in zip(axes, rows):
        for ax, key in zip(axs, keys):
            if keys is names:  # test split, per question group
                for recipe, runs in by_recipe.items():
                    with_key = [[s["activity"].get(g, {}).get(key, np.nan) for g in GROUPS] for s in runs if s["activity"]]
                    if with_key:
                        _band(ax, range(len(GROUPS)), with_key, colors[recipe], f"{recipe} ({len(with_key)} seed{'s' * (len(with_key) > 1)})")
                ax.set_title(f"{key}, test split", fontsize=9)
                ax.set_xticks(range(len(GROUPS)), [g.replace("-order ", "\n") for g in GROUPS], fontsize=7)
                continue
            for recipe, runs in logs.items():  # training, per logged step
                runs = [log for log in runs if log and key in log[0]]
                if runs:
                    n = min(len(log) for log in runs)
                    _band(ax, [r["step"] for r in runs[0][:n]], [[r.get(key, np.nan) for r in log[:n]] for log in runs],
                          colors[recipe], f"{recipe} ({len(runs)} seed{'s' * (len(runs) > 1)})")
            ax.set_title(f"{key}, training", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            if keys is grads:
                ax.set_yscale("log")
        axs[0].legend(fontsize=6)
    for row in axes:
        for ax in row:
            if not ax.has_data():
                ax.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def score(args) -> None:
    torch.set_num_threads(args.threads)  # beside training runs, more threads than free cores stall on each other
    scores = []
    for r in args.runs:
        t0 = time.process_time()
        scores.append(score_run(Path(r), data_overrides=tuple(args.data)))
        scores[-1]["score_cpu_s"] = round(time.process_time() - t0, 1)
        print(json.dumps(scores[-1]), flush=True)
        if args.out:  # one line per run, appended as each finishes: a long scoring run keeps what it did
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(scores[-1]) + "\n")
    if args.plot:
        plot_activity(scores, Path(args.plot))


# ---------------------------------------------------------------------------- the protocol's table
COLUMNS = ("first-order TB", "first-order FB", "second-order TB", "second-order FB", "belief",
           "pair first-order", "pair second-order", "reality", "memory")


def read_scores(paths: list[str]) -> dict[str, dict[int, dict]]:
    """{recipe: {seed: score}} from `score --out` files; a later line of the same run replaces an earlier one (a
    rescore), and two runs of one recipe name and seed are refused: their overrides may differ, and one would hide the other."""
    runs: dict[str, dict[int, dict]] = {}
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                seen = runs.setdefault(row["recipe"], {}).get(int(row["seed"]))
                if seen is not None and Path(seen.get("run", "")).resolve() != Path(row.get("run", "")).resolve():
                    raise SystemExit(f"{path}: {row['run']} and {seen['run']} are both recipe {row['recipe']!r} seed {row['seed']}; "
                                     "give each variant a recipe file of its own (its name is the table's row) or score them into separate files")
                runs[row["recipe"]][int(row["seed"])] = row
    return runs


def summarise(runs: dict[int, dict], success: tuple[str, float]) -> dict[str, dict]:
    """Per column: mean, std (ddof 1), median over seeds, per-seed values; and the success rate (`success`: column, threshold)."""
    seeds = sorted(runs)
    out: dict[str, dict] = {}
    for col in COLUMNS:
        vals = np.asarray([runs[s]["exact"].get(col, np.nan) for s in seeds], float)
        out[col] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                    "median": float(np.median(vals)), "values": vals.tolist()}
    col, at = success
    out["success"] = {"count": int(sum(runs[s]["exact"].get(col, 0.0) >= at for s in seeds)), "of": len(seeds)}
    return out


def paired(base: dict[int, dict], other: dict[int, dict]) -> dict[str, dict]:
    """Seed-paired difference other - base per column over the seeds both have: mean, std, wins/ties/losses."""
    seeds = sorted(set(base) & set(other))
    out = {}
    for col in COLUMNS:
        d = np.asarray([other[s]["exact"].get(col, np.nan) - base[s]["exact"].get(col, np.nan) for s in seeds], float)
        out[col] = {"mean": float(d.mean()), "std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                    "wins": int((d > 0).sum()), "ties": int((d == 0).sum()), "losses": int((d < 0).sum()), "seeds": seeds}
    return out


def table_markdown(runs: dict[str, dict[int, dict]], floors: dict | None, success: tuple[str, float], base: str | None) -> str:
    head = "| model | seeds | " + " | ".join(COLUMNS) + f" | success ({success[0]} >= {success[1]:g}%) |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for name, by_seed in runs.items():
        s = summarise(by_seed, success)
        one = len(by_seed) == 1
        cells = [f"{s[c]['mean']:.1f}" if one else f"{s[c]['mean']:.1f} ± {s[c]['std']:.1f} (med {s[c]['median']:.1f})" for c in COLUMNS]
        lines.append(f"| `{name}` | {len(by_seed)} | " + " | ".join(cells) + f" | {s['success']['count']}/{s['success']['of']} |")
    for name, row in (floors or {}).items():
        lines.append(f"| floor: {name} | - | " + " | ".join(f"{row[c]:.1f}" if c in row else "" for c in COLUMNS) + " | |")
    if base is not None and base in runs:
        for name, by_seed in runs.items():
            if name == base:
                continue
            d = paired(runs[base], by_seed)
            one = len(d[COLUMNS[0]]["seeds"]) == 1
            cells = [f"{d[c]['mean']:+.1f}" if one else f"{d[c]['mean']:+.1f} ± {d[c]['std']:.1f} ({d[c]['wins']}/{d[c]['ties']}/{d[c]['losses']})"
                     for c in COLUMNS]
            lines.append(f"| `{name}` - `{base}`, seed-paired (wins/ties/losses) | {len(d[COLUMNS[0]]['seeds'])} | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def result_rows(runs: dict[str, dict[int, dict]], floors: dict | None, base: str | None, *, split: str, dataset: str,
                command: str, hardware: str, date: str, columns: tuple[str, ...] = COLUMNS) -> list[dict]:
    """Catalogue rows (`hrmzoo.catalog.Result`) per recipe and column: mean ± std over seeds, the per-seed values, the
    median, the seed-paired difference to `base` and the best floor of that column in the notes."""
    rows = []
    for name, by_seed in runs.items():
        s = summarise(by_seed, ("belief", 90.0))
        d = paired(runs[base], by_seed) if base in runs and name != base else None
        steps = sorted({int(r["steps"]) for r in by_seed.values()})
        for col in columns:
            notes = [f"{split}; per seed " + ", ".join(f"{v:.1f}" for v in s[col]["values"])]
            if len(by_seed) > 1:
                notes.append(f"median {s[col]['median']:.1f}")
            notes += ["seeds " + ", ".join(str(k) for k in sorted(by_seed)),
                      f"{'/'.join(map(str, steps))} training steps of batch {'/'.join(sorted({str(r.get('batch', '?')) for r in by_seed.values()}))}, "
                      "every segment run"]
            if d is not None:
                notes.append(f"minus {base}, seed-paired: {d[col]['mean']:+.1f} ± {d[col]['std']:.1f} "
                             f"({d[col]['wins']} better, {d[col]['ties']} equal, {d[col]['losses']} worse)")
            # floors: the shortcut rules and the CNN; the partial solvers (part of the perspective) are not floors
            # (nor is the order-blind rule on first-order questions, where it is the full solver)
            not_floor = set(S.PARTIAL) | ({"first_order_only"} if "first-order" in col else set())
            best = max(((f[col], f_name) for f_name, f in (floors or {}).items() if col in f and f_name not in not_floor), default=None)
            if best is not None:
                notes.append(f"best floor {best[0]:.1f} ({best[1]})")
            rows.append({"recipe": name, "metric": f"exact_accuracy/{split} {col}", "value": round(s[col]["mean"], 2),
                         "std": round(s[col]["std"], 2) if len(by_seed) > 1 else None, "seeds": len(by_seed), "unit": "%", "dataset": dataset,
                         "command": command, "hardware": hardware, "date": date, "notes": "; ".join(notes)})
    return rows


def table(args) -> None:
    runs = read_scores(args.scores)
    floors = json.loads(Path(args.floors).read_text())["floors"] if args.floors else None
    if args.record:
        from hrmzoo.catalog.record import record_results

        rows = result_rows(runs, floors, args.base, split=args.split, dataset=args.dataset, command=args.command,
                           hardware=args.hardware, date=args.date, columns=tuple(args.columns or COLUMNS))
        if args.recipes:  # the others are already recorded (their rows would take this call's date and command)
            missing = sorted(set(args.recipes) - set(runs))
            if missing:
                raise SystemExit(f"--recipes: {', '.join(missing)} not in the scores; they hold {', '.join(sorted(runs))}")
            rows = [r for r in rows if r["recipe"] in args.recipes]
        print("recorded in", ", ".join(record_results(rows, args.record)), "- run `hrmzoo catalog` next")
    print(table_markdown(runs, floors, (args.success_column, args.success_at), args.base))
    if args.plot:
        plot_activity([row for by_seed in runs.values() for _, row in sorted(by_seed.items())], Path(args.plot))


# ---------------------------------------------------------------------------- floors
class OnePassCNN(torch.nn.Module):
    """Embed the map tokens, add the header (flattened, one linear map) at every cell, a few 3x3 convolutions, one logit per cell."""

    def __init__(self, header_len: int, size: int, width: int = 48, layers: int = 4, vocab: int = T.VOCAB_SIZE):
        super().__init__()
        self.size, self.header_len = size, header_len
        self.emb = torch.nn.Embedding(vocab, width)
        self.head_proj = torch.nn.Linear(header_len * 16, width)
        self.head_emb = torch.nn.Embedding(vocab, 16)
        self.convs = torch.nn.ModuleList([torch.nn.Conv2d(width, width, 3, padding=1) for _ in range(layers)])
        self.out = torch.nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, grid = x[:, : self.header_len], x[:, self.header_len:].reshape(-1, self.size, self.size)
        h = self.emb(grid) + self.head_proj(self.head_emb(head).flatten(1))[:, None, None, :]
        h = h.permute(0, 3, 1, 2)
        for conv in self.convs:
            h = h + torch.relu(conv(h))
        return self.out(h).flatten(1)  # [B, n*n] logits of YES


def cnn_floor(root: Path, size: int, steps: int, seed: int = 0) -> tuple[dict, int]:
    torch.manual_seed(seed)
    tr_x = torch.from_numpy(np.load(root / "train" / "all__inputs.npy").astype(np.int64))
    tr_y = torch.from_numpy((np.load(root / "train" / "all__labels.npy")[:, -size * size:] == T.YES).astype(np.float32))
    te_x = torch.from_numpy(np.load(root / "test" / "all__inputs.npy").astype(np.int64))
    te_y = np.load(root / "test" / "all__labels.npy")[:, -size * size:] == T.YES
    net = OnePassCNN(tr_x.shape[1] - size * size, size, vocab=split_metadata(root, "train")["vocab_size"])
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(tr_x), (64,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(tr_x[idx]), tr_y[idx].argmax(-1))  # one answer cell: a softmax over cells
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net(te_x).argmax(-1).numpy()
    right = te_y[np.arange(len(te_y)), pred]
    return breakdown(right, _extras(root / "test")), params


def floors(args) -> None:
    recipe = load_recipe(args.recipe, args.overrides)
    root = prepare_dataset(recipe, recipe.train.data_cache, progress=False)
    spec = recipe.data
    n, slots = spec.size, T.layout_events(spec.num_events, spec.test_num_events, spec.event_slots)
    x = np.load(root / "test" / "all__inputs.npy")
    y = np.load(root / "test" / "all__labels.npy")
    ex = _extras(root / "test")
    parsed = [S.parse(row, n, slots) for row in x]
    truth = [tuple(int(v) for v in np.argwhere(lab[-n * n:].reshape(n, n) == T.YES)[0]) for lab in y]
    rules = dict(S.RULES)
    rules.update(S.PARTIAL)
    table = {}
    belief = ex["kind"] == 0
    for name, rule in rules.items():
        # the rules answer belief questions only: their rows leave out the controls
        right = np.asarray([bool(b) and tuple(rule(p, spec.view_radius)) == t for p, t, b in zip(parsed, truth, belief)])
        table[name] = {k: v for k, v in breakdown(right, ex).items() if k not in ("reality", "memory", "all")}
    t0, params = time.process_time(), None
    if args.cnn_steps:  # 0: the rules only (a generalisation build, whose train split is not the models')
        table["one-pass CNN"], params = cnn_floor(root, n, args.cnn_steps)
    print(json.dumps({"dataset": str(root), "overrides": args.overrides, "cnn_params": params, "cnn_steps": args.cnn_steps,
                      "cnn_cpu_s": round(time.process_time() - t0), "floors": table}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("recipe")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--measure-every", type=int, default=25)
    t.add_argument("--out", required=True)
    t.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE", help="recipe overrides, e.g. data.num_train=5000")
    lad = sub.add_parser("ladder", help="train one seed through stages of growing event logs, each warm-started from the last")
    lad.add_argument("recipe")
    lad.add_argument("--seed", type=int, default=0)
    lad.add_argument("--stage", dest="stages", action="append", required=True, metavar="'EVENTS:STEPS [key=value ...]'",
                     help="1,2:1000 = 1,000 steps on 1-2-event stories; full:1500 = the recipe's own range (repeat, in order); "
                          "overrides after it apply to that stage only, e.g. '1,2:2000 model.head.loss_weight=0.0' (a perception stage)")
    lad.add_argument("--measure-every", type=int, default=100)
    lad.add_argument("--out", required=True)
    lad.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE", help="recipe overrides for every stage")
    ext = sub.add_parser("extend", help="copy a finished ladder to --out and train more stages after its last one")
    ext.add_argument("source", help="a folder written by `ablate.py ladder` (or `extend`)")
    ext.add_argument("--stage", dest="stages", action="append", required=True, metavar="'EVENTS:STEPS [key=value ...]'",
                     help="as for `ladder`; 1,2:3000 after a 1,2 stage trains 3,000 more steps on the same stories")
    ext.add_argument("--recipe", help="the recipe of the new stages if the ladder's has moved (default: the ladder's)")
    ext.add_argument("--stage-seed", type=int, default=None, help="seed of the new stages (default: the ladder's seed + 100 x its number of stages)")
    ext.add_argument("--measure-every", type=int, default=100)
    ext.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("runs", nargs="+")
    s.add_argument("--plot")
    s.add_argument("--out", help="append one JSON line per run to this file")
    s.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    s.add_argument("--data", nargs="+", default=[], metavar="KEY=VALUE",
                   help="data overrides for a generalisation build, e.g. data.num_train=1 data.test_num_agents=[4,4]")
    f = sub.add_parser("floors")
    f.add_argument("recipe")
    f.add_argument("--cnn-steps", type=int, default=600)
    f.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE", help="recipe overrides, e.g. data.num_train=5000")
    tb = sub.add_parser("table", help="the protocol's table from `score --out` files: mean ± std, median, success, seed-paired differences")
    tb.add_argument("scores", nargs="+")
    tb.add_argument("--floors", help="a file holding the JSON line `floors` prints")
    tb.add_argument("--base", default="tom2_none", help="the baseline recipe of the seed-paired differences")
    tb.add_argument("--success-column", default="belief", choices=COLUMNS)
    tb.add_argument("--success-at", type=float, default=90.0)
    tb.add_argument("--plot", help="draw each recipe's head activity per question group (mean and min-max over seeds) and its heads' gradient norms and flat fractions during training to this file")
    tb.add_argument("--record", metavar="REGISTRY_DIR", help="write the rows into this folder's results.yaml (shipped recipes) / results_history.yaml")
    tb.add_argument("--split", default="in range", help="the metric's prefix: what the scores were measured on")
    tb.add_argument("--dataset", default="", help="--record: the data the scores were measured on")
    tb.add_argument("--command", default="", help="--record: the commands that produced the scores")
    tb.add_argument("--hardware", default="", help="--record: where they ran")
    tb.add_argument("--date", default=time.strftime("%Y-%m-%d"), help="--record: when")
    tb.add_argument("--columns", nargs="+", choices=COLUMNS, help="--record: these columns only (default all)")
    tb.add_argument("--recipes", nargs="+", metavar="RECIPE",
                    help="--record: these recipes' rows only (default all), e.g. a new model's beside a baseline already recorded")
    args = p.parse_args(argv)
    try:
        {"train": train, "ladder": ladder, "extend": extend, "score": score, "floors": floors, "table": table}[args.cmd](args)
    except HrmzooError as e:  # a bad recipe or override: the zoo's one-line message, not a traceback
        raise SystemExit(f"ablate.py {args.cmd}: {e}") from None


if __name__ == "__main__":
    main()
