"""experiments/tiny_data/record.py: per-seed logic runs -> catalogue rows (mean ± sample std, like with like)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from hrmzoo.catalog import Result

TOOL = Path(__file__).resolve().parents[2] / "experiments" / "tiny_data" / "record.py"
_spec = importlib.util.spec_from_file_location("tiny_data_record", TOOL)
record_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record_tool)


def _run(root: Path, seed: int, inrange: float, beyond: float, cpu_s: float, steps: int = 5000) -> Path:
    run = root / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "recipe.yaml").write_text(yaml.safe_dump({"train": {"seed": seed, "steps": steps}, "model": {"halting": {"max_segments": 4}}}))
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
    for row in rows:
        Result.model_validate(row)


def test_runs_that_differ_in_steps_or_lack_files_are_refused(tmp_path):
    a, b = _run(tmp_path, 0, 0.9, 0.4, 60.0), _run(tmp_path, 1, 0.9, 0.4, 60.0, steps=3000)
    with pytest.raises(SystemExit, match="differ in steps"):
        record_tool.rows_for("cpu_logic", [record_tool.per_seed(a), record_tool.per_seed(b)], "c", "h", "2026-12-06")
    (a / "beyond.json").unlink()
    with pytest.raises(SystemExit, match="lacks beyond.json"):
        record_tool.per_seed(a)
