"""experiments/halting/record.py: halting.json -> catalogue rows, with earlier seeds merged in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "halting"))
import record  # noqa: E402


def _run(tmp_path: Path, name: str, at_halt: float, unsolvable: float | None, threshold: float | None = None) -> Path:
    run = tmp_path / name
    run.mkdir()
    clean = {"exact_at_halt": at_halt, "exact_at_max": 0.99, "mean_halt_step": 2.5,
             "calibration_all_segments": {"ece": 0.02}, "auroc_at_halt": 0.97}
    stress = {"unsolvable_inputs": {"confident_halt": unsolvable}} if unsolvable is not None else None
    (run / "halting.json").write_text(json.dumps({"info": {"max_segments": 8, "halting": "q_learning"}, "clean": clean, "stress": stress}))
    if threshold is not None:
        (run / "halt_threshold.json").write_text(json.dumps({"threshold": threshold}))
    (tmp_path / f"{name}.train.time").write_text("600.0 user 6.0 sys 700.0 wall\n")
    return run


KW = dict(dataset="d", command="c", hardware="h", date="2026-12-06")


def test_rows_average_the_seeds_and_say_each_one(tmp_path):
    runs = [_run(tmp_path, "maze-after-0", 0.90, 0.01, 0.95), _run(tmp_path, "maze-after-1", 0.94, 0.03, 0.97)]
    rows = {r["metric"]: r for r in record.rows_for("after", "cpu_maze15", runs, None, **KW)}
    acc = rows["issue30 after (brier + stress + auto threshold): exact_accuracy at halt, budget 8"]
    assert acc["value"] == pytest.approx(92.0) and acc["std"] == pytest.approx(2.83, abs=0.01) and acc["seeds"] == 2
    assert "seeds 0, 1; per seed 90.00, 94.00" in acc["notes"] and "10.1, 10.1 CPU-minutes" in acc["notes"]
    assert "fitted thresholds 0.95, 0.97" in acc["notes"]
    assert rows["issue30 after (brier + stress + auto threshold): unsolvable inputs halted with confidence > 0.9"]["value"] == pytest.approx(2.0)


def test_prior_seeds_come_first_and_are_named(tmp_path):
    runs = [_run(tmp_path, "s9-before-0", 0.88, 0.9)]
    prior = {"source": "old rows", "seeds": [1, 2], "exact_at_halt": [90.0, 92.0], "exact_at_max": [97.0, 97.0],
             "mean_segments": [2.0, 2.0], "ece": [0.01, 0.01], "auroc": [0.95, 0.95], "unsolvable_confident": [90.0, 90.0]}
    rows = record.rows_for("before", "cpu_sudoku9", runs, prior, **KW)
    acc = next(r for r in rows if "at halt" in r["metric"])
    assert acc["metric"].startswith("issue30 before (q_learning, bce, own rule)")
    assert acc["seeds"] == 3 and acc["value"] == pytest.approx(90.0)
    assert "seeds 1, 2, 0; per seed 90.00, 92.00, 88.00" in acc["notes"] and "old rows" in acc["notes"]


def test_a_run_without_its_seed_in_the_name_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="does not end in its seed"):
        record.seed_of(tmp_path / "maze-after")
