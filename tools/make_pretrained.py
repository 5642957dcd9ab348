"""Export a finished comparison run as a shipped pretrained model: `hrmzoo/weights/NAME.{safetensors,json}`.

    python tools/make_pretrained.py RUN_DIR NAME [--data-cache DIR] [--out DIR] [--threads N]

RUN_DIR is one run of `tools/time_compare.py` (or `hrmzoo compare`), e.g.
`runs/tn9/cpu_sudoku9-seed0`: finished means it holds its comparison evaluation
(`compare_eval.json`) beside its checkpoints. The exporter

1. copies the weights that evaluation scores: the checkpoint's `model.safetensors`
   (the EMA average when the recipe trains with `train.ema_decay`, which the
   trainer saves as its evaluation model; the card records `weights: ema|raw`),
   re-saved with the recipe in the metadata and checked tensor for tensor;
2. evaluates the exported file on its generator's test split at 1/2/4/8/16 segments,
   fixed and adaptive (`hrmzoo.analysis.compare.segment_scores`, the comparison's own
   scorer), and checks the figures against the run's `compare_eval.json`;
3. writes the model card `NAME.json`: recipe, data spec and its fingerprint, seed,
   steps, training CPU time and wall time with the load average (from the
   comparison's `measure.json`), the machine (CPU model and flags, torch), the
   accuracies, the file's sha256 and size, and the commands that reproduce it.

The dataset is the recipe's own generator spec, prepared in `--data-cache`
(default `data_cache`; point it at the cache the run used to skip regenerating).
The training timing comes from the comparison's `measure.json`, or with
`--log FILE` from the `timing: {...}` lines `time_compare.py` prints (a later
invocation into the same folder overwrites measure.json).

Example (the shipped cpu_sudoku6):

    python tools/make_pretrained.py /work/main/runs/tn6/cpu_sudoku6-seed0 cpu_sudoku6 \
        --data-cache /work/main/data_cache --log /work/main/runs/logs/queueA.log
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

import hrmzoo
from hrmzoo.analysis.compare import DEFAULT_SEGMENTS, RUN_DONE, segment_scores
from hrmzoo.persistence.generations import sha256_file
from hrmzoo.analysis.evalrun import dataset_batches
from hrmzoo.persistence.checkpoint import load_model, model_file, read_checkpoint, save_model
from hrmzoo.data.prepare import parse_config, spec_hash
from hrmzoo.data.splits import prepare_dataset
from hrmzoo.errors import HrmzooError
from hrmzoo.persistence.hub import WEIGHTS_DIR

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")
#: the figures the card must reproduce against the run's own comparison evaluation (percentage points)
AGREE_POINTS = 0.01


def machine() -> dict:
    """CPU model and flags (from /proc/cpuinfo, as lscpu shows them), cores, torch, Python."""
    model, flags = platform.processor() or "unknown", []
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), model)
        words = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
        flags = [f for f in CPU_FLAGS if f in words]
    except OSError:
        pass
    import os

    return {"cpu": model, "cpu_flags": flags, "cpus": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


def training_record(run_dir: Path, log: Path | None = None) -> dict:
    """This run's training timing (CPU seconds, wall, load): from the comparison's measure.json, or
    from a log of `time_compare.py` (its `timing: {...}` lines) when measure.json is not (yet) written
    or was overwritten by a later invocation into the same folder."""
    measure = run_dir.parent / "measure.json"
    args = None
    if measure.is_file():
        record = json.loads(measure.read_text())
        args = record.get("args")
        timing = next((t for t in record.get("timings", []) if Path(t["run_dir"]).name == run_dir.name), None)
        if timing is not None:
            return {"args": args, "timing": timing}
    if log is not None:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("timing: "):
                timing = json.loads(line[len("timing: "):])
                if Path(timing["run_dir"]).name == run_dir.name and Path(timing["run_dir"]).parent.name == run_dir.parent.name:
                    return {"args": args, "timing": timing}
    return {"args": args, "timing": None}


def reproduce_commands(recipe, seed: int, run_dir: Path, name: str, args: list[str] | None) -> list[str]:
    """The commands that retrain this one run and export it. A comparison's runs are independent
    (sequential, seed-stable construction), so one recipe and one seed reproduce it."""
    budget = [a for a in (args or []) if a.split("=", 1)[0] in ("steps", "budget", "segments", "limit")]
    out = f"runs/{run_dir.parent.name}"
    train = ["python", "tools/time_compare.py", recipe, f"seeds=[{seed}]", *budget, "threads=1", f"out={out}"]
    return [" ".join(shlex.quote(a) for a in train), f"python tools/make_pretrained.py {out}/{run_dir.name} {name}"]


def export(run_dir: Path, name: str, out: Path, data_cache: str | None, threads: int, log: Path | None = None) -> dict:
    torch.set_num_threads(threads)
    done = run_dir / RUN_DONE
    if not done.is_file():
        raise HrmzooError(f"{run_dir}: not finished (no {RUN_DONE}); wait for its comparison to end, then rerun")
    run_eval = json.loads(done.read_text())
    source = model_file(run_dir)
    _, meta = read_checkpoint(source)
    model = load_model(source).eval()
    recipe = model.recipe
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.safetensors"
    weights = meta.get("hrmzoo.weights", "raw")
    step = int(meta.get("hrmzoo.step", run_eval.get("steps", 0)))
    save_model(model, target, {"hrmzoo.weights": weights, "hrmzoo.step": str(step), "hrmzoo.pretrained": name})
    target.chmod(0o644)  # package data: readable by every user of an installed wheel
    # the exported file must hold exactly the evaluated weights
    exported, _ = read_checkpoint(target)
    for key, tensor in model.state_dict().items():
        if not torch.equal(exported[key], tensor):
            raise HrmzooError(f"{target}: '{key}' differs from {source}; export failed")

    segments = list(DEFAULT_SEGMENTS)
    root = prepare_dataset(recipe, data_cache if data_cache is not None else recipe.train.data_cache)
    scored = load_model(target, [f"model.halting.max_segments={max(segments)}", "model.halting.eval_mode=adaptive"]).eval()
    c0 = time.process_time()
    scores = segment_scores(scored, dataset_batches(root, "test", 256), segments, None)
    eval_cpu = time.process_time() - c0
    for mode in ("fixed", "adaptive"):
        for k in map(str, segments):
            if k in run_eval.get(mode, {}) and abs(run_eval[mode][k] - scores[mode][k]) > AGREE_POINTS:
                raise HrmzooError(f"{mode} accuracy at {k} segments: {scores[mode][k]:.2f}% now but {run_eval[mode][k]:.2f}% in {done}; "
                                  "not the same weights or data")

    train = training_record(run_dir, log)
    timing = train["timing"]
    if timing is None:
        raise HrmzooError(f"{run_dir}: no training timing in {run_dir.parent / 'measure.json'}"
                          f"{' or ' + str(log) if log else ''}; pass --log with the time_compare.py output that trained it")
    data_cfg = parse_config(recipe.data.model_dump(mode="json"))
    recipe_arg = recipe.name if (Path(str(hrmzoo.__file__)).parent / "recipes" / f"{recipe.name}.yaml").is_file() else str(run_dir / "recipe.yaml")
    card = {
        "name": name,
        "recipe_name": recipe.name,
        "description": recipe.description,
        "recipe": recipe.to_dict(),
        "data": {"spec": recipe.data.model_dump(mode="json"), "fingerprint": f"{data_cfg.type}-{spec_hash(data_cfg)}", "split": "test"},
        "seed": recipe.train.seed,
        "steps": step,
        "weights": weights,
        "parameters": model.num_parameters(),
        "train_cpu_s": timing["train_cpu_s"],
        "train_wall_s": timing["train_wall_s"],
        "train_threads": recipe.train.threads,
        "train_loadavg": [timing.get("loadavg_start"), timing.get("loadavg_end")],
        "machine": machine(),
        "accuracy": {mode: {k: round(v, 2) for k, v in scores[mode].items()} for mode in ("fixed", "adaptive")} | {
                     "segments": segments, "mean_halt_step": round(scores["mean_halt"], 3), "metric": "exact (every cell right), %"},
        "test_examples": scores["examples"],
        "eval_cpu_s": round(eval_cpu, 1),
        "sha256": sha256_file(target),
        "file_bytes": target.stat().st_size,
        "hrmzoo_version": hrmzoo.__version__,
        "source_run": str(run_dir),
        "reproduce": reproduce_commands(recipe_arg, recipe.train.seed, run_dir, name, train["args"]),
    }
    (out / f"{name}.json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="a finished comparison run, e.g. runs/tn9/cpu_sudoku9-seed0")
    p.add_argument("name", help="the shipped name, e.g. cpu_sudoku9")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help=f"where to write NAME.safetensors and NAME.json (default {WEIGHTS_DIR})")
    p.add_argument("--data-cache", default=None, help="dataset cache holding (or to receive) the test split (default: the recipe's)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for the evaluation (default 1)")
    p.add_argument("--log", type=Path, help="time_compare.py's output, for the training timing when measure.json lacks this run")
    args = p.parse_args(argv)
    try:
        card = export(args.run_dir, args.name, args.out, args.data_cache, args.threads, args.log)
    except HrmzooError as exc:
        sys.exit(f"make_pretrained: error: {exc}")
    acc = card["accuracy"]
    print(f"{args.out / args.name}.safetensors: {card['file_bytes']:,} bytes, sha256 {card['sha256'][:16]}..., "
          f"{card['parameters']:,} parameters, {card['weights']} weights, step {card['steps']}")
    print("segments  " + "  ".join(f"{k:>6}" for k in acc["segments"]))
    for mode in ("fixed", "adaptive"):
        print(f"{mode:<9} " + "  ".join(f"{acc[mode][str(k)]:5.1f}%" for k in acc["segments"]))
    print(f"on {card['test_examples']} test puzzles; card {args.out / args.name}.json")
    return card


if __name__ == "__main__":
    main()
