"""experiments/hard_tasks: the curve along a run's checkpoints, and per-seed runs -> catalogue rows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from hrmzoo.persistence.hub import card
from hrmzoo.train.trainer import Trainer
from tests.train.conftest import TINY

TOOLS = Path(__file__).resolve().parents[2] / "experiments" / "hard_tasks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"hard_tasks_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


curve_tool, record_tool = _load("curve"), _load("record")


def _measure(out: Path, run: Path, steps: int, cpu_s: float) -> None:
    (out / "measure.json").write_text(json.dumps({"timings": [{"run_dir": str(run), "steps": steps, "train_cpu_s": cpu_s}]}))


def test_curve_scores_every_checkpoint_and_adds_the_warm_start_cost(tmp_path, sudoku4):
    out = tmp_path / "out"
    run = out / "tiny_sudoku4-seed0"
    trainer = Trainer("tiny_sudoku4", ["train.progress=false", "train.final_eval=false", "train.steps=4", "train.checkpoint_interval=2",
                                       "train.keep_checkpoints=4", "train.init_from=pretrained:tiny_sudoku4"], run_dir=run, data_root=sudoku4)
    trainer.run()
    _measure(out, run, 4, 120.0)  # 30 CPU-s per step
    c = curve_tool.curve(run, sudoku4, limit=8, top=4)
    assert [p["step"] for p in c["points"]] == [2, 4]
    source = card("tiny_sudoku4")["train_cpu_s"] / 60
    assert c["source_cpu_min"] == pytest.approx(source, abs=0.01)
    assert [p["total_cpu_min"] for p in c["points"]] == pytest.approx([1.0 + source, 2.0 + source], abs=0.01)
    assert set(c["points"][0]["fixed"]) == {"1", "2", "4"} and c["start"] is not None  # the shipped weights scored too
    assert c["start"]["fixed"]["4"] >= 50.0  # the shipped tiny_sudoku4 model solves most 4x4 puzzles before any step here
    saved = tmp_path / "curve.json"
    curve_tool.main([str(run), "--data", str(sudoku4), "--limit", "8", "--segments", "4", "--json", str(saved)])
    curve_tool.main([str(saved), str(saved), "--svg", str(tmp_path / "curve.svg")])  # redrawn from saved curves, no evaluation
    assert (tmp_path / "curve.svg").read_text().lstrip().startswith("<?xml")


def test_curve_refuses_a_run_without_its_cpu_time(tmp_path, sudoku4):
    run = tmp_path / "run"
    Trainer("tiny_sudoku4", [*TINY, "train.steps=1"], run_dir=run, data_root=sudoku4).run()
    with pytest.raises(SystemExit, match="measure.json is missing"):
        curve_tool.curve(run, sudoku4, limit=4, top=2)


def _seed(tmp_path: Path, seed: int, fixed16: float, bucket16: float, bucket32: float, cpu_s: float) -> Path:
    out = tmp_path / f"maze-{seed}"
    run = out / f"cpu_maze30-seed{seed}"
    run.mkdir(parents=True)
    scores = {k: 0.0 for k in ("1", "2", "4")}
    (run / "compare_eval.json").write_text(json.dumps({
        "seed": seed, "steps": 1600, "examples": 1000, "mean_halt": 12.0,
        "fixed": {**scores, "8": 10.0, "16": fixed16}, "adaptive": {**scores, "8": 10.0, "16": fixed16 - 5}}))
    by_seg = [0.0] * 15 + [bucket16] + [0.0] * 15 + [bucket32]
    (run / "eval_by.json").write_text(json.dumps({
        "metrics": {"max_segments": 32, "num_examples": 1000, "exact_by_segment": [x / 2 for x in by_seg]},
        "by": {"name": "path_len", "buckets": [{"bucket": "60-85", "n": 250, "exact_by_segment": by_seg}]}}))
    (run / "recipe.yaml").write_text(yaml.safe_dump({"train": {"init_from": "pretrained:cpu_maze15"}}))
    _measure(out, run, 1600, cpu_s)
    return out


def test_record_rows_average_seeds_and_count_the_warm_start(tmp_path):
    outs = [_seed(tmp_path, 0, 70.0, 0.6, 0.9, 1800.0), _seed(tmp_path, 1, 80.0, 0.8, 0.94, 1920.0)]
    seeds = [record_tool.per_seed("cpu_maze30", out) for out in outs]
    rows = {r["metric"]: r for r in record_tool.rows_for("cpu_maze30", seeds, "d", "c", "h", "2026-12-06")}
    assert rows["exact_accuracy/fixed@16seg"]["value"] == 75.0 and rows["exact_accuracy/fixed@16seg"]["seeds"] == 2
    assert rows["exact_accuracy/adaptive@16seg"]["value"] == 70.0
    assert rows["exact_accuracy@16seg, path_len 60-85"]["value"] == pytest.approx(70.0)
    assert rows["exact_accuracy@32seg, path_len 60-85"]["value"] == pytest.approx(92.0)
    assert rows["exact_accuracy/fixed@32seg"]["value"] == pytest.approx(46.0)  # the by-difficulty evaluation's whole split
    source = card("cpu_maze15")["train_cpu_s"] / 60
    cpu = rows["CPU-minutes to train, one thread (warm start's source included)"]
    assert cpu["value"] == pytest.approx(31.0 + source, abs=0.05) and cpu["unit"] == "min"
    assert "warm start from pretrained:cpu_maze15" in cpu["notes"]
    assert "training 30.0, 32.0 CPU-min per seed" in cpu["notes"]


def test_record_needs_the_by_difficulty_evaluation(tmp_path):
    out = _seed(tmp_path, 0, 70.0, 0.6, 0.9, 1800.0)
    (out / "cpu_maze30-seed0" / "eval_by.json").unlink()
    with pytest.raises(SystemExit, match="eval_by.json is missing"):
        record_tool.per_seed("cpu_maze30", out)
