"""Equal-budget comparisons of recipes over seeds: `hrmzoo compare`.

Every recipe is trained once per seed under the same budget (steps, or minutes
of wall clock with `train.time_budget`), *sequentially*: runs side by side
would share the two cores and the memory bandwidth unevenly (the faster model
would slow the other), so one run at a time with all threads is the fairer
use of a small machine. The seed pairs starting weights across recipes: with
seed-stable construction (`hrmzoo.common.seeding`) every component two recipes
share starts from the same weights, and the report says which recipes share
their base weights.

Every run is then evaluated on the same test split at several segment budgets,
with a fixed number of segments (every sample runs the budget) and adaptive
(each sample stops when its halting head says so, at most the budget). The
table gives mean ± sample std and min-max over seeds.

A run directory belongs to one *identity*: the fully resolved recipe (after
every override; the keys that change how a run is executed but not what it
learns, `IDENTITY_IGNORES`, left out) and the dataset fingerprint, recorded in
its `compare_identity.json`. A finished run (its comparison evaluation
written) is reused, and an interrupted one resumed from its newest checkpoint,
only when its identity equals the requested one; otherwise the run trains in
a fresh directory `RECIPE-seedN-<hash>` named by the identity's digest, so a
changed override never reuses, resumes or relabels another run. A finished
run's files are never rewritten: evaluating it under other segment budgets
writes another `compare_eval*.json` beside the first.

A recipe that warm-starts from its own first stage (`train.init_from` set and a
`_warmup` sibling: `cpu_logic` and `cpu_logic_warmup`, `x/r.yaml` and
`x/r_warmup.yaml`; a depth curriculum) is trained as both stages per seed: the
warm-up with the same seed and overrides and its own steps (`steps=` and
`budget=` set the second stage only), then the recipe from it. The warm-up's
identity is part of the recipe run's, so a changed first stage trains a new
second stage too.

The seed-paired train-and-score loop (`paired_runs`) is the one every comparison
goes through: `hrmzoo compare` scores a run with `segment_scores`; the controller
experiment's harnesses (`experiments/controllers/ablate_*.py`) pass their own
`RunScorer` (per-task scores on a data mix, per question kind), ask for
seed-major order (`interleave`) and for a refusal when the recipes' starts are
not paired (`require_paired`), and record their rows with
`hrmzoo.catalog.record.record_results`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from hrmzoo.errors import HrmzooError

DEFAULT_SEGMENTS = (1, 2, 4, 8, 16)
RUN_DONE = "compare_eval.json"
STAGE_DONE = "compare_stage.json"  # a finished warm-up stage (trained, not scored)
IDENTITY_FILE = "compare_identity.json"
#: recipe keys that change how a run executes, not what it learns: not part of a run's identity
IDENTITY_IGNORES = (("train", "threads"), ("train", "progress"), ("train", "final_eval"), ("train", "log_interval"))


@dataclass(frozen=True)
class RunScorer:
    """How a trained run is scored instead of `segment_scores` (fixed/adaptive accuracy by segment budget).

    Attributes:
        name: names the evaluation file (`compare_eval-NAME-<key>.json`) and is recorded in it, so a
            run scored one way is never reused as scored another way.
        score: `score(model, data_root)` -> a JSON-able dict merged into the run's record; the model is
            the run's saved weights (the EMA average when EMA is on) in eval mode, as the recipe runs it.
    """

    name: str
    score: Callable[[Any, Path], dict[str, Any]]


@dataclass
class CompareSpec:
    """What to compare and under which budget.

    Attributes:
        recipes: recipe paths or shipped names.
        seeds: training seeds (`train.seed`), the same for every recipe.
        steps: training steps per run (None: the recipe's own).
        budget: minutes of wall clock per run (`train.time_budget`), instead of or beside steps.
        segments: segment budgets to evaluate at.
        overrides: `key=value` applied to every recipe (same budget and data for all).
        out: directory of the comparison (one run directory per recipe x seed).
        data: dataset directory for every run (None: each recipe's `data:` section).
        eval_data: score every run on this dataset directory's test split instead of its training
            build's (the same instances labelled another way, or a split beyond the training range);
            None: the training build's test split.
        limit: evaluate on at most this many test examples.
        threads: torch threads (`train.threads`) for every run.
        scorer: score every run with this instead of `segment_scores` (None: segment budgets).
        interleave: seed-major order (seed 0 of every recipe, then seed 1 ...), so drifting machine
            load hits every recipe alike; False: every seed of one recipe, then the next recipe.
        require_paired: refuse (before training) when the recipes' base weights differ for a seed.
        pair_skip: the components left out of the base-weight digest (`base_digest`).
        train: False: score finished runs only; a run not trained yet is an error.
        results: record the table's rows in this catalogue folder (`registry/`) through
            `hrmzoo.catalog.record.record_results` (the `hrmzoo compare` command does; see `results_rows`).
        supersede: with `results`, keep the rows replaced, marked superseded with this reason.
        hardware: where it ran, for the recorded rows (default: CPU architecture, threads, torch).
    """

    recipes: list[str]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    steps: int | None = None
    budget: float | None = None
    segments: list[int] = field(default_factory=lambda: list(DEFAULT_SEGMENTS))
    overrides: list[str] = field(default_factory=list)
    out: Path = Path("runs/compare")
    data: str | None = None
    eval_data: str | None = None
    limit: int | None = None
    threads: int | None = None
    scorer: RunScorer | None = None
    interleave: bool = False
    require_paired: bool = False
    pair_skip: tuple[str, ...] = ("controller", "halting")
    train: bool = True
    results: str | None = None
    supersede: str | None = None
    hardware: str | None = None


def run_name(recipe: str, seed: int) -> str:
    return f"{Path(recipe).stem}-seed{seed}"


def run_overrides(spec: CompareSpec, seed: int) -> list[str]:
    out = [*spec.overrides, f"train.seed={seed}", "train.final_eval=false", "train.progress=false"]
    if spec.steps is not None:
        out.append(f"train.steps={spec.steps}")
    if spec.budget is not None:
        out.append(f"train.time_budget={spec.budget}")
    if spec.threads is not None:
        out.append(f"train.threads={spec.threads}")
    return out


def base_digest(recipe: str, overrides: list[str], seed: int, skip: tuple[str, ...] = ("controller", "halting")) -> str:
    """A digest of the initial weights outside the components named in ``skip`` (by default
    the blocks, embedding, head and initial states): equal across recipes whose base
    architecture coincides (seed-paired starts)."""
    from hrmzoo.recipe.build import build_model

    model = build_model(recipe, overrides, seed=seed)
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.split(".")[0] in skip:
            continue
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def segment_scores(model, data: Any, segments: list[int], limit: int | None, batch_size: int = 256) -> dict[str, dict[int, float]]:
    """Exact accuracy (%) at each segment budget, fixed and adaptive, from one evaluation.

    Every sample runs `max(segments)` segments; fixed budget k reads its answer after
    segment k, adaptive budget k at `min(own halt step, k)`, where the own halt step
    is the halting head's first "halt" (the policy's rule; `fixed` halting never
    halts early, so adaptive equals fixed).
    """
    from hrmzoo.evaluate import evaluate

    top = max(segments)
    if model.halting.max_segments < top or model.halting.cfg.eval_mode != "adaptive":
        raise HrmzooError(f"segment_scores needs a model loaded with model.halting.max_segments={top} and eval_mode=adaptive")
    result = evaluate(model, data, batch_size=batch_size, limit=limit, max_segments=top, run_all_segments=True)
    s = result.samples
    if not s:
        raise HrmzooError("the evaluation data is empty; check data= and the recipes' data sections")
    per_seg = s["exact_per_segment"].bool()  # [N, top]
    own = s["halt_step"].long().clamp(1, top)
    fixed = {str(k): 100.0 * float(per_seg[:, k - 1].float().mean()) for k in segments}
    adaptive = {}
    for k in segments:
        idx = own.clamp(max=k) - 1
        adaptive[str(k)] = 100.0 * float(per_seg.gather(1, idx.unsqueeze(1)).float().mean())
    return {"fixed": fixed, "adaptive": adaptive, "examples": int(per_seg.shape[0]), "mean_halt": float(own.float().mean())}


def data_fingerprint(recipe, data: str | None) -> str:
    """What a run trains and is scored on: the generator spec's hash (the dataset cache key), or for
    `data=DIR` the directory and its build record."""
    from hrmzoo.data.prepare import parse_config, spec_hash

    if data is None:
        cfg = parse_config(recipe.data.model_dump(mode="json"))
        return f"{cfg.type}-{spec_hash(cfg)}" if cfg.type != "path" else f"path:{Path(cfg.path).resolve()}"
    root = Path(data).resolve()
    build = root / "build.json"
    digest = hashlib.sha256(build.read_bytes()).hexdigest()[:16] if build.is_file() else "no-build-record"
    return f"path:{root}:{digest}"


def run_identity(recipe: str, seed: int, spec: CompareSpec, warmup: "WarmupStage | None" = None) -> dict[str, Any]:
    """The resolved recipe (execution-only keys removed), the data fingerprint, the warm-up stage's
    identity digest when it has one (`warmup_stage`), and their digest."""
    from hrmzoo.recipe import load_recipe

    extra = [] if warmup is None else [f"train.init_from={warmup.run_dir}"]
    resolved = load_recipe(recipe, [*run_overrides(spec, seed), *extra])
    body = resolved.to_dict()
    for section, key in IDENTITY_IGNORES:
        body.get(section, {}).pop(key, None)
    identity = {"recipe": body, "data": data_fingerprint(resolved, spec.data)}
    if warmup is not None:
        identity["warmup"] = warmup.identity["digest"]
    identity["digest"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return identity


def _stored_identity(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / IDENTITY_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _legacy_matches(run_dir: Path, identity: dict[str, Any]) -> bool:
    """A run from before identity files: its recipe.yaml (the trainer's resolved recipe) and the
    dataset its evaluation read must equal the requested ones."""
    import yaml

    from hrmzoo.recipe.safe_yaml import load_yaml

    recipe_file, done = run_dir / "recipe.yaml", run_dir / RUN_DONE
    if not recipe_file.is_file() or not done.is_file() or identity["data"].startswith("path:"):
        return False
    try:
        body, _ = load_yaml(recipe_file.read_text())
        data = Path(json.loads(done.read_text()).get("data", "")).name
    except (OSError, ValueError, yaml.YAMLError):
        return False
    if not isinstance(body, dict):
        return False
    for section, key in IDENTITY_IGNORES:
        body.get(section, {}).pop(key, None)
    return body == identity["recipe"] and data == identity["data"]


def pick_run_dir(recipe: str, seed: int, spec: CompareSpec, identity: dict[str, Any]) -> Path:
    """`RECIPE-seedN` when it is free or holds this identity, else `RECIPE-seedN-<digest>`."""
    base = Path(spec.out) / run_name(recipe, seed)
    for run_dir in (base, base.with_name(f"{base.name}-{identity['digest']}")):
        if not run_dir.exists() or not any(run_dir.iterdir()):
            return run_dir
        stored = _stored_identity(run_dir)
        if stored is not None and stored.get("digest") == identity["digest"]:
            return run_dir
        if stored is None and _legacy_matches(run_dir, identity):
            return run_dir
    raise HrmzooError(f"compare: {base.with_name(base.name + '-' + identity['digest'])} exists but holds another run "
                      f"(its {IDENTITY_FILE} differs); move it away or pass another out=")


def _eval_identity(spec: CompareSpec) -> str | None:
    """What `eval_data=` scores on (its directory and build record), None for the training build's test split."""
    return None if spec.eval_data is None else data_fingerprint(None, spec.eval_data)


def _eval_file(spec: CompareSpec) -> str:
    """`compare_eval.json` for the first evaluation settings a run is scored with, a suffixed name for others
    (and always for a `RunScorer`, whose name the file carries)."""
    material = [list(spec.segments), spec.limit] + ([_eval_identity(spec)] if spec.eval_data is not None else [])
    key = hashlib.sha256(json.dumps(material).encode()).hexdigest()[:8]
    return f"compare_eval-{key}.json" if spec.scorer is None else f"compare_eval-{spec.scorer.name}-{key}.json"


def _find_eval(run_dir: Path, spec: CompareSpec) -> dict[str, Any] | None:
    scorer = None if spec.scorer is None else spec.scorer.name
    for name in (RUN_DONE, _eval_file(spec)):
        path = run_dir / name
        if path.is_file():
            record = json.loads(path.read_text())
            if (record.get("segments") == list(spec.segments) and record.get("limit") == spec.limit and record.get("scorer") == scorer
                    and record.get("eval_data") == _eval_identity(spec)):
                return record
    return None


def _load_average() -> float | None:
    """The 1-minute load average (a wall-clock budget is only as fair as the load is even); None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def warmup_stage(recipe: str, overrides: list[str] | tuple[str, ...] = ()) -> str | None:
    """The first stage a recipe starts from: its `_warmup` sibling (`cpu_logic` -> `cpu_logic_warmup`,
    `x/r.yaml` -> `x/r_warmup.yaml`) when the recipe (with `overrides`) warm-starts from a local run
    (`train.init_from`); None otherwise (no warm start, `pretrained:` weights, or no sibling)."""
    from hrmzoo.errors import RecipeError
    from hrmzoo.recipe import load_recipe
    from hrmzoo.recipe.shipped import find_recipe

    init = load_recipe(recipe, list(overrides)).train.init_from
    if init is None or init.startswith("pretrained:"):
        return None
    text = str(recipe)
    sibling = f"{text[: -len(Path(text).suffix)]}_warmup{Path(text).suffix}" if text.endswith((".yaml", ".yml")) else f"{text}_warmup"
    try:
        find_recipe(sibling)
    except RecipeError:
        return None
    return sibling


def _train(recipe: str, overrides: list[str], run_dir: Path, identity: dict[str, Any], spec: CompareSpec, log):
    """Train (or resume, to the same budget) one run into `run_dir`, its identity recorded first."""
    from hrmzoo.persistence.generations import has_generations
    from hrmzoo.train.trainer import Trainer

    resume = has_generations(run_dir)
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        # stopped before its first checkpoint: start again for an equal budget
        import shutil

        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / IDENTITY_FILE).write_text(json.dumps(identity, indent=1))
    log(f"{run_dir.name}: {'resuming' if resume else 'training'}")
    trainer = Trainer(recipe, overrides, run_dir=run_dir, data_root=spec.data, resume=resume)
    return trainer, trainer.run()


class WarmupStage(NamedTuple):
    """A recipe's warm-up stage for one seed: its recipe, spec (its own steps, no time budget), identity and run directory."""

    recipe: str
    spec: CompareSpec
    identity: dict[str, Any]
    run_dir: Path


def _warmup_for(recipe: str, seed: int, spec: CompareSpec) -> WarmupStage | None:
    """The recipe's warm-up stage for this seed, or None."""
    stage = warmup_stage(recipe, spec.overrides)
    if stage is None:
        return None
    if spec.data is not None:  # data=DIR would replace the warm-up's own data section (its depth-1 subset) too
        raise HrmzooError(f"compare: {recipe} trains its warm-up stage {stage} on that stage's own data; data={spec.data} would "
                          "replace it; leave data= out (overrides such as data.num_train=N reach both stages), or compare "
                          "from scratch with train.init_from=null")
    stage_spec = dataclasses.replace(spec, steps=None, budget=None)
    identity = run_identity(stage, seed, stage_spec)
    return WarmupStage(stage, stage_spec, identity, pick_run_dir(stage, seed, stage_spec, identity))


def train_warmup(stage: WarmupStage, seed: int, log) -> dict[str, Any]:
    """Train (or reuse) a recipe's warm-up stage for one seed; its record (`STAGE_DONE`)."""
    run_dir, spec, identity = stage.run_dir, stage.spec, stage.identity
    done = run_dir / STAGE_DONE
    if done.is_file():
        log(f"{run_dir.name}: reusing the finished warm-up stage")
        return json.loads(done.read_text())
    if not spec.train:
        raise HrmzooError(f"compare: {run_dir} holds no finished warm-up stage for this seed and settings; train it first "
                          "(leave out the score-only option)")
    _, summary = _train(stage.recipe, run_overrides(spec, seed), run_dir, identity, spec, log)
    record = {"recipe": stage.recipe, "run_dir": str(run_dir), "identity": identity["digest"], "steps": summary.steps,
              "wall_s": round(summary.wall_s, 1)}
    done.write_text(json.dumps(record, indent=1))
    return record


def train_or_reuse(recipe: str, seed: int, spec: CompareSpec, log) -> dict[str, Any]:
    """Train one recipe x seed (after its warm-up stage, if it has one; or reuse a finished run of the
    same identity) and evaluate it at every budget."""
    from hrmzoo.analysis.evalrun import dataset_batches
    from hrmzoo.persistence.checkpoint import load_model

    warm = _warmup_for(recipe, seed, spec)
    identity = run_identity(recipe, seed, spec, warm)
    run_dir = pick_run_dir(recipe, seed, spec, identity)
    record = _find_eval(run_dir, spec)
    if record is not None:
        log(f"{run_dir.name}: reusing the finished run (same resolved recipe and data)")
        return record
    finished = any(run_dir.glob("compare_eval*.json"))  # trained and scored under other settings: score again only
    load = None
    if finished:
        how = f"evaluating at segments {list(spec.segments)}" if spec.scorer is None else f"scoring with {spec.scorer.name}"
        log(f"{run_dir.name}: finished; {how}")
        data_root = Path(json.loads(next(run_dir.glob("compare_eval*.json")).read_text())["data"])
        steps = wall = None
    elif not spec.train:
        raise HrmzooError(f"compare: {run_dir} holds no finished run of this recipe, seed and settings; train it first (leave out the score-only option)")
    else:
        stage = None if warm is None else train_warmup(warm, seed, log)
        extra = [] if warm is None else [f"train.init_from={warm.run_dir}"]
        # an interrupted run continues from its newest checkpoint to the same budget
        load_before = _load_average()
        trainer, summary = _train(recipe, [*run_overrides(spec, seed), *extra], run_dir, identity, spec, log)
        steps, wall = summary.steps, round(summary.wall_s, 1)
        data_root = trainer.data_root
        load_after = _load_average()
        load = None if None in (load_before, load_after) else [load_before, load_after]  # before and after training
    eval_root = data_root if spec.eval_data is None else Path(spec.eval_data)
    if spec.scorer is None:
        # the saved weights (the EMA average when EMA is on), allowed to run every segment budget;
        # budgets past the recipe's max_segments measure inference-time scaling
        model = load_model(run_dir, [f"model.halting.max_segments={max(spec.segments)}", "model.halting.eval_mode=adaptive"])
        model.eval()
        batches = dataset_batches(eval_root, "test", 256, spec.limit)
        scores = segment_scores(model, batches, list(spec.segments), spec.limit)
    else:
        model = load_model(run_dir)
        model.eval()
        scores = {"scorer": spec.scorer.name, **spec.scorer.score(model, Path(eval_root))}
    if steps is None:
        first = json.loads(next(run_dir.glob("compare_eval*.json")).read_text())
        steps, wall, load, stage = first.get("steps"), first.get("wall_s"), first.get("load"), first.get("warmup")
    record = {"recipe": recipe, "seed": seed, "run_dir": str(run_dir), "identity": identity["digest"], "steps": steps, "wall_s": wall,
              "load": load, **({"warmup": stage} if stage else {}), "params": model.num_parameters(), "segments": list(spec.segments),
              "limit": spec.limit, "data": str(data_root),
              **({"eval_data": _eval_identity(spec), "eval_root": str(eval_root)} if spec.eval_data is not None else {}), **scores}
    # RUN_DONE is the first evaluation's file on the training build; every other one (a RunScorer's, eval_data's) has its own name
    done = run_dir / (RUN_DONE if not finished and spec.scorer is None and spec.eval_data is None else _eval_file(spec))
    done.write_text(json.dumps(record, indent=1))
    return record


def summarise(values: list[float]) -> dict[str, float | None]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
    }


def check_spec(spec: CompareSpec) -> None:
    """The mistakes found without training (or importing torch): no recipe, a recipe that does not
    exist or is named twice, no seed or a repeated one."""
    from hrmzoo.recipe.shipped import find_recipe

    if not spec.recipes:
        raise HrmzooError("compare: name at least one recipe")
    if not spec.seeds:
        raise HrmzooError("compare: seeds=[...] must list at least one seed")
    twice = sorted({r for r in spec.recipes if spec.recipes.count(r) > 1})
    if twice:
        raise HrmzooError(f"compare: recipe '{twice[0]}' named twice; name each recipe once (to compare two settings of one "
                          "recipe, copy it: 'hrmzoo recipes copy NAME other.yaml' and edit the copy)")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise HrmzooError(f"compare: seeds={spec.seeds} repeats a seed; list each seed once")
    for recipe in spec.recipes:
        find_recipe(recipe)
    if spec.eval_data is not None and not (Path(spec.eval_data) / "test").is_dir():
        raise HrmzooError(f"compare: eval_data={spec.eval_data}: no test split there (expected {Path(spec.eval_data) / 'test'}); "
                          "name a dataset directory built by 'hrmzoo data' (or leave eval_data out to score on each run's own build)")


def paired_runs(spec: CompareSpec, log=print) -> tuple[dict[int, list[list[str]]], dict[str, list[dict[str, Any]]]]:
    """The seed-paired loop of every comparison: check the spec, find which recipes share their base
    weights per seed, then train (or reuse) and score every recipe x seed in the spec's order.

    Returns:
        (pairing: seed -> groups of recipe stems that start from the same base weights,
         runs: recipe -> one record per seed, in `spec.seeds` order).

    Raises:
        HrmzooError: a bad spec, or with `require_paired` recipes whose starts differ (before any training).
    """
    import torch

    check_spec(spec)
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    Path(spec.out).mkdir(parents=True, exist_ok=True)
    pairing = {}
    for seed in spec.seeds:
        digests = {r: base_digest(r, run_overrides(spec, seed), seed, skip=spec.pair_skip) for r in spec.recipes}
        groups: dict[str, list[str]] = {}
        for r, d in digests.items():
            groups.setdefault(d, []).append(Path(r).stem)
        pairing[seed] = [sorted(g) for g in groups.values()]
        if spec.require_paired and len(groups) > 1:
            raise HrmzooError(f"compare: seed {seed}: the recipes start from different base weights (outside "
                              f"{', '.join(spec.pair_skip)}: {pairing[seed]}); the comparison would not be paired")
    order = ([(r, s) for s in spec.seeds for r in spec.recipes] if spec.interleave
             else [(r, s) for r in spec.recipes for s in spec.seeds])
    runs: dict[str, list[dict]] = {r: [] for r in spec.recipes}
    for recipe, seed in order:
        runs[recipe].append(train_or_reuse(recipe, seed, spec, log))
    return pairing, runs


def run_compare(spec: CompareSpec, log=print) -> dict[str, Any]:
    """Train and evaluate every recipe x seed; write `compare.json`, the table and the plot."""
    pairing, runs = paired_runs(spec, log)
    out = Path(spec.out)
    table = {}
    for recipe, rows in runs.items():
        table[recipe] = {mode: {str(k): summarise([r[mode][str(k)] for r in rows]) for k in spec.segments}
                         for mode in ("fixed", "adaptive")}
    report = {
        "recipes": spec.recipes, "seeds": spec.seeds, "steps": spec.steps, "budget_minutes": spec.budget,
        "segments": spec.segments, "overrides": spec.overrides, "paired_base_weights": {str(k): v for k, v in pairing.items()},
        "runs": runs, "table": table,
    }
    (out / "compare.json").write_text(json.dumps(report, indent=1))
    (out / "compare.md").write_text(format_table(report) + "\n")
    try:
        plot_compare(report, out / "compare.png")
    except ImportError:
        log("compare: matplotlib is not installed; skipped compare.png (pip install 'hrmzoo[plot]')")
    return report


def compare_command(spec: CompareSpec) -> str:
    """The `hrmzoo compare` command line that measures this spec (recorded beside each result)."""
    import shlex

    items = [*spec.recipes, f"seeds={json.dumps(list(spec.seeds), separators=(',', ':'))}"]
    items += [f"{k}={v}" for k, v in (("steps", spec.steps), ("budget", spec.budget), ("data", spec.data), ("eval_data", spec.eval_data), ("limit", spec.limit),
                                       ("threads", spec.threads)) if v is not None]
    items += [f"segments={json.dumps(list(spec.segments), separators=(',', ':'))}", *spec.overrides]
    return "hrmzoo compare " + " ".join(shlex.quote(i) for i in items)


def results_rows(report: dict[str, Any], spec: CompareSpec, *, hardware: str, date: str) -> list[dict[str, Any]]:
    """The catalogue rows of a comparison (the fields of `hrmzoo.catalog.Result`): per recipe, exact accuracy
    at each segment budget, fixed and adaptive, as mean and sample std over seeds."""
    rows = []
    for recipe, modes in report["table"].items():
        runs = report["runs"][recipe]
        steps = sorted({r["steps"] for r in runs})
        budget = f"{steps[0]} steps per seed" if len(steps) == 1 else f"{'/'.join(str(r['steps']) for r in runs)} steps by seed"
        if spec.budget is not None:
            budget += f" (wall-clock budget {spec.budget:g} min per run)"
        paired = next((g for g in report["paired_base_weights"].get(str(runs[0]["seed"]), []) if Path(recipe).stem in g), [])
        others = [g for g in paired if g != Path(recipe).stem]
        notes = (f"{budget}; seeds {', '.join(str(r['seed']) for r in runs)}; {runs[0]['params']:,} params"
                 + (f"; seed-paired base weights with {', '.join(others)}" if others else ""))
        limit = f", first {spec.limit}" if spec.limit is not None else ""
        scored = runs[0].get("eval_root", runs[0]["data"])
        dataset = f"test split of {Path(scored).name} ({runs[0]['examples']} examples{limit})"
        for mode, cells in modes.items():
            for k, cell in cells.items():
                rows.append({"recipe": Path(recipe).stem, "metric": f"exact_accuracy/{mode}@{k}seg", "value": round(cell["mean"], 2),
                             "std": None if cell["std"] is None else round(cell["std"], 2), "seeds": len(runs), "unit": "%",
                             "dataset": dataset, "command": compare_command(spec), "hardware": hardware, "date": date,
                             "notes": f"{notes}; min-max over seeds {cell['min']:.1f}-{cell['max']:.1f}"})
    return rows


def _cell(s: dict[str, float | None]) -> str:
    spread = f" ± {s['std']:.1f}" if s["std"] is not None else ""
    return f"{s['mean']:.1f}{spread} ({s['min']:.1f}-{s['max']:.1f})"


def format_table(report: dict[str, Any]) -> str:
    """A Markdown table: exact accuracy (%) per recipe at each segment budget, fixed and adaptive."""
    segs = report["segments"]
    lines = [f"exact accuracy (%), mean ± std (min-max) over seeds {report['seeds']}", ""]
    lines.append("| recipe | mode | " + " | ".join(f"{k} seg" for k in segs) + " |")
    lines.append("|---|---|" + "---|" * len(segs))
    for recipe, modes in report["table"].items():
        for mode, cells in modes.items():
            lines.append(f"| `{Path(recipe).stem}` | {mode} | " + " | ".join(_cell(cells[str(k)]) for k in segs) + " |")
    return "\n".join(lines)


def plot_compare(report: dict[str, Any], path: Path) -> Path:
    """Accuracy against segments, one line per recipe (fixed: solid, adaptive: dashed), bands min-max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segs = report["segments"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for i, (recipe, modes) in enumerate(report["table"].items()):
        color = f"C{i % 10}"
        for mode, style in (("fixed", "-"), ("adaptive", "--")):
            cells = [modes[mode][str(k)] for k in segs]
            ax.plot(segs, [c["mean"] for c in cells], style, color=color, marker="o", label=f"{Path(recipe).stem} ({mode})")
            ax.fill_between(segs, [c["min"] for c in cells], [c["max"] for c in cells], color=color, alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(segs, [str(k) for k in segs])
    ax.set_xlabel("segments (evaluation budget)")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_title(f"{len(report['seeds'])} seeds per recipe; bands: min-max")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def parse_list(value: str, key: str) -> list[int]:
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = None
    if isinstance(parsed, int) and not isinstance(parsed, bool):
        parsed = [parsed]
    if not isinstance(parsed, list) or not parsed or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in parsed):
        raise HrmzooError(f"compare: {key}={value}: expected a list of non-negative integers, e.g. {key}=[0,1,2]")
    return parsed


def spec_from_args(items: Iterable[str]) -> CompareSpec:
    """`RECIPE ... [seeds=[..]] [steps=N | budget=MIN] [segments=[..]] [out=DIR] [data=DIR] [eval_data=DIR] [limit=N] [threads=N]
    [results=DIR [supersede=WHY] [hardware=TEXT]] [key=value ...]`."""
    recipes, overrides, named = [], [], {}
    own = {"seeds", "steps", "budget", "segments", "out", "data", "eval_data", "limit", "threads", "results", "supersede", "hardware"}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            recipes.append(item)
        elif key in own:
            named[key] = value
        else:
            overrides.append(item)
    spec = CompareSpec(recipes=recipes, overrides=overrides)
    if "seeds" in named:
        spec.seeds = parse_list(named["seeds"], "seeds")
    if "segments" in named:
        spec.segments = sorted(set(parse_list(named["segments"], "segments")))
        if spec.segments[0] < 1:
            raise HrmzooError("compare: segments must be >= 1")
    for key in ("steps", "limit", "threads"):
        if key in named:
            v = parse_list(named[key], key)
            if len(v) != 1 or v[0] < 1:
                raise HrmzooError(f"compare: {key}={named[key]}: expected one positive integer")
            setattr(spec, key, v[0])
    if "budget" in named:
        try:
            spec.budget = float(named["budget"])
        except ValueError:
            raise HrmzooError(f"compare: budget={named['budget']}: expected minutes, e.g. budget=5") from None
        if spec.budget <= 0:
            raise HrmzooError("compare: budget must be > 0 minutes")
    if "out" in named:
        spec.out = Path(named["out"])
    spec.data, spec.eval_data = named.get("data"), named.get("eval_data")
    spec.results, spec.supersede, spec.hardware = named.get("results"), named.get("supersede"), named.get("hardware")
    if spec.supersede is not None and spec.results is None:
        raise HrmzooError("compare: supersede= names why recorded rows are replaced; it needs results=DIR (e.g. results=registry)")
    return spec
