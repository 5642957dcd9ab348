"""experiments/tiny_data/record.py: per-seed logic runs -> catalogue rows (mean ± sample std, like with like)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from hrmzoo.catalog import Result

TOOLS = Path(__file__).resolve().parents[2] / "experiments" / "tiny_data"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tiny_data_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


record_tool, plot_tool, sets_tool = _load("record"), _load("plot"), _load("eval_sets")


def _run(root: Path, seed: int, inrange: float, beyond: float, cpu_s: float, steps: int = 3500, warmup: int | None = 1500) -> Path:
    run = root / f"seed{seed}"
    run.mkdir(parents=True)
    train = {"seed": seed, "steps": steps, **({"init_from": str(run) + "_warmup"} if warmup else {})}
    (run / "recipe.yaml").write_text(yaml.safe_dump({"train": train, "model": {"halting": {"max_segments": 4}}}))
    if warmup:  # run_seed.sh's stage 1 beside the run
        (root / f"seed{seed}_warmup").mkdir()
        (root / f"seed{seed}_warmup/recipe.yaml").write_text(yaml.safe_dump({"train": {"seed": seed, "steps": warmup}}))
    buckets = [{"bucket": str(d), "n": 250, "exact_by_segment": [inrange] * 16} for d in (1, 2, 3, 4)]
    (run / "inrange.json").write_text(json.dumps({"metrics": {"exact_by_segment": [inrange / 2] + [inrange] * 15}, "by": {"buckets": buckets}}))
    (run / "beyond.json").write_text(json.dumps({"metrics": {"exact_by_segment": [beyond] * 32}}))
    (run / "cpu_seconds").write_text(f"{cpu_s}\n")
    return run


def test_rows_are_means_and_sample_stds_over_seeds_and_valid_catalogue_rows(tmp_path):
    runs = [_run(tmp_path, 0, 0.95, 0.40, 1200.0), _run(tmp_path, 1, 0.97, 0.50, 1320.0)]
    rows = record_tool.rows_for("cpu_logic", [record_tool.per_seed(r) for r in runs], "cmd", "hw", "2026-12-06")
    by = {r["metric"]: r for r in rows}
    assert by["exact_accuracy/depth 1-4@4seg"]["value"] == pytest.approx(96.0)
    assert by["exact_accuracy/depth 1-4@4seg"]["std"] == pytest.approx(1.41, abs=0.01)  # sample std of 95, 97
    assert by["exact_accuracy/depth 1-4@1seg"]["value"] == pytest.approx(48.0)
    assert by["exact_accuracy/depth 5-8@32seg"]["value"] == pytest.approx(45.0)
    assert by["exact_accuracy/depth 3@4seg"]["value"] == pytest.approx(96.0)
    assert by["CPU-minutes to train, one thread"]["value"] == pytest.approx(21.0)
    assert all(r["seeds"] == 2 for r in rows) and "per seed 95.0, 97.0" in by["exact_accuracy/depth 1-4@4seg"]["notes"]
    assert "1,500 warm-up steps on the depth-1 training instances, then 3,500 on all" in by["CPU-minutes to train, one thread"]["notes"]
    for row in rows:
        Result.model_validate(row)


def test_runs_that_differ_in_steps_or_lack_files_are_refused(tmp_path):
    a, b = _run(tmp_path, 0, 0.9, 0.4, 60.0), _run(tmp_path, 1, 0.9, 0.4, 60.0, steps=3000)
    with pytest.raises(SystemExit, match="differ in steps"):
        record_tool.rows_for("cpu_logic", [record_tool.per_seed(a), record_tool.per_seed(b)], "c", "h", "2026-12-06")
    c = _run(tmp_path, 2, 0.9, 0.4, 60.0, warmup=None)  # from scratch: not like a curriculum run
    with pytest.raises(SystemExit, match="differ in steps"):
        record_tool.rows_for("cpu_logic", [record_tool.per_seed(a), record_tool.per_seed(c)], "c", "h", "2026-12-06")
    import shutil
    shutil.rmtree(tmp_path / "seed1_warmup")
    with pytest.raises(SystemExit, match="seed1_warmup is not there"):
        record_tool.per_seed(b)
    (a / "beyond.json").unlink()
    with pytest.raises(SystemExit, match="lacks beyond.json"):
        record_tool.per_seed(a)


def test_plot_draws_means_per_budget_and_refuses_unevaluated_runs(tmp_path, capsys):
    runs = [_run(tmp_path / "it", 0, 0.90, 0.40, 60.0), _run(tmp_path / "it", 1, 1.00, 0.50, 60.0)]
    flat = _run(tmp_path / "flat", 0, 0.20, 0.25, 60.0)
    svg = tmp_path / "budget.svg"
    plot_tool.main([f"iter={runs[0]},{runs[1]}", f"flat={flat}", "--svg", str(svg)])
    out = capsys.readouterr().out
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    assert "iter | in range | 47.5 | 95.0 | 95.0 | 95.0 | 95.0 |" in out  # budget 1 is half of the others in _run
    assert "iter | beyond | 45.0 | 45.0 | 45.0 | 45.0 | 45.0 | 45.0" in out and "flat | beyond | 25.0" in out
    (flat / "beyond.json").unlink()
    with pytest.raises(SystemExit, match="no inrange.json/beyond.json"):
        plot_tool.main([f"flat={flat}", "--svg", str(svg)])


def test_eval_sets_are_the_recipes_instances_with_the_answers_alone(tmp_path):
    """The status set holds the recipe's own train and test instances (mentions unlabelled); the deep set is depth 5-8."""
    from hrmzoo.data.prepare import prepare_data
    from hrmzoo.recipe import load_recipe

    status, deep = sets_tool.eval_sets("cpu_logic", tmp_path / "sets")
    assert sets_tool.eval_sets("cpu_logic", tmp_path / "sets") == (status, deep)  # built once, found again
    trained = prepare_data(load_recipe("cpu_logic").data, tmp_path / "cache")
    for split in ("train", "test"):
        assert (np.load(status / f"{split}/all__inputs.npy") == np.load(trained / f"{split}/all__inputs.npy")).all()
    labels = np.load(status / "test/all__labels.npy")
    assert (labels[:, 0:32:2] == 0).all() and (labels[:, 32:] == 0).all() and (labels[:, 1:32:2] > 0).all()
    assert set(np.load(deep / "test/extra__depth.npy")) == {5, 6, 7, 8}
    assert (np.load(deep / "train/all__inputs.npy") == np.load(trained / "train/all__inputs.npy")).all()
