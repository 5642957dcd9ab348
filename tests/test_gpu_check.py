"""benchmarks/gpu/gpu_check.py: its CPU-runnable part (--dry-run), so the GPU run is ready to go.

No GPU is needed: the dry run builds a tiny model on the CPU and goes through every
stage (matmul peak, bf16 training steps, MFU, the loss-curve checks, the JSON record).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu"
sys.path.insert(0, str(BENCH))

import gpu_check  # noqa: E402


def test_dry_run_reports_every_figure(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    rec = gpu_check.main(["--dry-run", "--compile", "off", "--out", str(out)])
    text = capsys.readouterr().out
    assert "MFU" in text and "tokens/s" in text and "loss curves bf16_vs_fp32" in text and "JSON: " in text
    mode = rec["modes"]["compile_off"]
    assert mode["step_s"] > 0 and mode["tokens_per_s"] > 0 and 0 < mode["mfu_measured_peak"]
    assert rec["block_calls"] == {"l_block": [8, 1], "h_block": [4, 1]}  # Q-learning's target forward counted
    check = rec["checks"]["bf16_vs_fp32"]
    assert len(check["curves"]["float32"]) == len(check["curves"]["bfloat16"]) == 4
    assert check["pass"], check  # a tiny model's bf16 curve stays within 2% of fp32 over 4 steps
    assert json.loads(out.read_text())["modes"]["compile_off"]["step_s"] == mode["step_s"]


def test_shell_wrappers_parse():
    for script in ("gpu_check.sh", "gpu_wheels.sh"):
        subprocess.run(["bash", "-n", str(BENCH / script)], check=True)


@pytest.mark.slow
def test_dry_run_compiled_matches_eager(capsys):
    rec = gpu_check.main(["--dry-run", "--compile", "both", "--curve-steps", "0"])
    on, off = rec["modes"]["compile_on"]["losses"], rec["modes"]["compile_off"]["losses"]
    assert len(on) == len(off) == 3
    assert max(abs(a - b) for a, b in zip(on, off)) < 1e-2
