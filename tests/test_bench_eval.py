"""benchmarks/speed/bench_eval.py on a tiny checkpoint: both halting modes, with and without CPU row chunks."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tests.helpers import TINY
from hrmzoo import build_model
from hrmzoo.persistence.checkpoint import save_model
from hrmzoo.data import prepare_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "speed"))

import bench_eval  # noqa: E402


def test_eval_benchmark_reports_both_modes(tmp_path, capsys):
    overrides = [*TINY, "data.num_train=16", "data.num_test=12", "data.num_aug=0"]
    model = build_model("tiny_sudoku4", overrides, seed=0)
    torch.nn.init.normal_(model.halting.head.weight, std=1.0)  # some samples halt early under adaptive
    root = prepare_data(model.recipe.data, tmp_path / "cache")
    save_model(model, tmp_path / "run" / "model.safetensors")
    rec = bench_eval.main([str(tmp_path / "run"), "--data", str(root), "--segments", "3", "--batch-size", "4",
                           "--rounds", "1", "--threads", "1", "--compare-chunks"])
    assert "puzzles/s" in capsys.readouterr().out
    assert set(rec["cases"]) == {"max/chunks", "adaptive/chunks", "max/whole batches", "adaptive/whole batches"}
    assert rec["cases"]["max/chunks"]["mean_segments"] == 3
    assert rec["cases"]["adaptive/chunks"]["mean_segments"] <= 3
    # chunking changes the speed, never the answers
    for mode in ("max", "adaptive"):
        assert rec["cases"][f"{mode}/chunks"]["exact_accuracy"] == rec["cases"][f"{mode}/whole batches"]["exact_accuracy"]
