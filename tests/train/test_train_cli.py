"""``hrmzoo train`` and ``hrmzoo eval`` end to end on a tiny dataset."""

from __future__ import annotations

import json

from hrmzoo.cli import main
from tests.train.conftest import TINY


def test_train_then_eval(tmp_path, sudoku4, capsys):
    run = tmp_path / "run"
    assert main(["train", "recipe=tiny_sudoku4", f"data={sudoku4}", *TINY, "train.steps=3", f"train.out_dir={run}", "train.final_eval=true"]) == 0
    out = capsys.readouterr().out
    assert "test exact accuracy:" in out
    assert (run / "checkpoints" / "step-00000003" / "model.safetensors").is_file() and (run / "recipe.yaml").is_file()
    assert (run / "checkpoints" / "latest").read_text().strip() == "step-00000003"

    trace = tmp_path / "trace.json"
    report = tmp_path / "report.json"
    # the data path was recorded in the run's recipe, so eval needs no data=
    assert main(["eval", f"ckpt={run}", "model.halting.eval_mode=adaptive", "batch_size=5",
                 f"out={report}", f"trace={trace}", "samples=true"]) == 0
    out = capsys.readouterr().out
    assert "exact accuracy" in out and "(adaptive)" in out
    body = json.loads(report.read_text())
    assert body["metrics"]["num_examples"] == 16 and body["metrics"]["eval_mode"] == "adaptive"
    assert len(body["samples"]["halt_step"]) == 16

    # one generation directory is a checkpoint too
    assert main(["eval", f"ckpt={run / 'checkpoints' / 'step-00000003'}", f"out={report}", "force=true"]) == 0
    capsys.readouterr()

    # resume through the CLI: the saved recipe is reused, overrides extend the run
    assert main(["train", f"resume={run}", "train.steps=4"]) == 0
    assert json.loads((run / "checkpoints" / "step-00000004" / "trainer_state.json").read_text())["step"] == 4


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "oops"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hrmzoo train: error:") and "\n" not in err
    assert main(["train"]) == 2
    assert "no recipe given" in capsys.readouterr().err
    assert main(["eval", f"ckpt={tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "checkpoint not found" in err and "\n" not in err
    assert main(["train", f"resume={tmp_path / 'nothing'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such run directory" in err and "\n" not in err
