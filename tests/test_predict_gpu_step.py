"""benchmarks/gpu/predict_gpu_step.py: FLOPs of one counted step, scaled to the recipe's batch, over an assumed MFU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "gpu"))


def test_prediction_scales_with_batch_and_mfu():
    from predict_gpu_step import predict

    small = predict("cpu_sudoku9", ["train.batch_size=64"], mfus=(0.25, 0.5))
    big = predict("cpu_sudoku9", ["train.batch_size=128"], mfus=(0.25, 0.5))
    assert big["flops_per_step"] == pytest.approx(2 * small["flops_per_step"])
    a, b = small["predicted"]
    assert a["step_s"] == pytest.approx(small["flops_per_step"] / (0.25 * small["gpu_bf16_peak"]))
    assert a["step_s"] == pytest.approx(2 * b["step_s"])
    assert a["total_h"] == pytest.approx(a["step_s"] * small["steps"] / 3600)
    # cpu_sudoku9: H=L=2 with the last cycle carrying gradient, TRM halting (no extra forward)
    assert small["block_calls"] == {"l_block": [4, 2], "h_block": [2, 1]}
