"""``train.tensorboard: true``: events beside metrics.jsonl, readable by TensorBoard's own reader."""

from __future__ import annotations

import importlib.util
import json

import pytest

from hrmzoo.cli import main
from hrmzoo.train import runlog
from hrmzoo.train.trainer import Trainer
from tests.train.conftest import TINY

HAS_TB = importlib.util.find_spec("tensorboard") is not None


@pytest.mark.skipif(not HAS_TB, reason="the tb extra (tensorboard) is not installed: pip install 'hrmzoo[tb]'")
def test_events_hold_the_logged_scalars(tmp_path, sudoku4):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    Trainer("tiny_sudoku4", [*TINY, "train.steps=4", "train.log_interval=2", "train.final_eval=true", "train.tensorboard=true"],
            run_dir=run, data_root=sudoku4).run()
    assert list(run.glob("events.out.tfevents.*")), "no event file beside metrics.jsonl"
    acc = EventAccumulator(str(run))
    acc.Reload()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    events = acc.Scalars("train/loss")
    assert [e.step for e in events] == [r["step"] for r in train]
    assert [e.value for e in events] == pytest.approx([r["loss"] for r in train], rel=1e-6)  # stored as float32
    final = [r for r in rows if r["kind"] == "eval"][-1]
    assert acc.Scalars("eval/exact_accuracy")[-1].value == pytest.approx(final["exact_accuracy"], rel=1e-6)


def test_missing_tensorboard_is_one_clear_line(tmp_path, sudoku4, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(runlog.importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    run = tmp_path / "run"
    code = main(["train", "recipe=tiny_sudoku4", f"data={sudoku4}", f"train.out_dir={run}", "train.tensorboard=true",
                 "train.steps=2", "train.progress=false"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'hrmzoo[tb]'" in err
    assert not run.exists()  # failed before making the run directory
