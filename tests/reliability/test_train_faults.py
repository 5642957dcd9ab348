"""Kill inside a save at every file boundary (injected), and a run that really diverges."""

from __future__ import annotations

import json

import pytest

from hrmzoo.persistence import generations as gens
from hrmzoo.persistence.checkpoint import load_model
from hrmzoo.cli import main
from hrmzoo.train.trainer import Trainer
from tests.reliability.conftest import TINY
from tests.reliability.harness import assert_safe

RUN = [*TINY, "train.steps=6", "train.checkpoint_interval=2", "model.halting.exploration_prob=0.5"]
BOUNDARIES = ["after:model.safetensors", "after:trainer_state.safetensors", "after:trainer_state.json",
              "after:manifest", "after:rename", "after:pointer"]


class SimulatedKill(BaseException):
    """Stands for SIGKILL: not an Exception, so no cleanup handler runs."""


def _losses(run) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert steps == sorted(set(steps)), steps  # resume dropped the rows of the steps it replayed
    return {r["step"]: r["loss"] for r in rows if r["kind"] == "train"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sudoku4):
    run = tmp_path_factory.mktemp("ref") / "run"
    Trainer("tiny_sudoku4", RUN, run_dir=run, data_root=sudoku4).run()
    return _losses(run)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_kill_inside_save_resumes_exactly(tmp_path, sudoku4, reference, boundary, monkeypatch):
    run = tmp_path / "run"
    trainer = Trainer("tiny_sudoku4", RUN, run_dir=run, data_root=sudoku4)

    def fault(point):
        if point == boundary and trainer.step == 4:
            raise SimulatedKill(point)

    monkeypatch.setattr(gens, "FAULT_HOOK", fault)
    with pytest.raises(SimulatedKill):
        trainer.run()
    monkeypatch.setattr(gens, "FAULT_HOOK", None)
    committed = gens.pointer_step(run)
    assert committed == (4 if boundary == "after:pointer" else 2)

    def lost():
        return None if gens.committed(run) else "no committed generation left"

    assert_safe("kill inside save", lambda: main(["train", f"resume={run}", f"data={sudoku4}"]), lost=lost, expect="ok")
    assert _losses(run) == reference  # bitwise, whichever generation it resumed from
    assert not [p.name for p in (run / gens.CHECKPOINTS).iterdir() if p.name.startswith(".")]  # temp files cleaned
    assert [g.step for g in gens.committed(run)] == [6, 4]  # keep_checkpoints=2


def test_diverging_run_keeps_a_finite_generation_that_resumes(tmp_path, sudoku4):
    run = tmp_path / "run"
    args = ["train", "recipe=tiny_sudoku4", f"data={sudoku4}", *TINY, "train.steps=30", "train.checkpoint_interval=1",
            "train.optimizer=adamw", "train.lr=1.0e6", f"train.out_dir={run}"]
    detail = assert_safe("NaN run", lambda: main(args), expect="one-line")
    assert "not finite" in detail or "loss is nan" in detail or "loss is inf" in detail, detail
    newest = gens.committed(run)[0]
    assert newest.name in detail  # the message names the newest finite generation
    model = load_model(run)
    assert all(bool(p.isfinite().all()) for p in model.parameters())
    # resuming from it (with a sane learning rate) works
    assert_safe("NaN run", lambda: main(["train", f"resume={run}", f"data={sudoku4}", "train.lr=1.0e-3", f"train.steps={newest.step + 2}"]),
                expect="ok")
