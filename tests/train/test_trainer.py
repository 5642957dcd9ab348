"""The trainer: exact resume, NaN stop, atomic checkpoints, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from hrmzoo.persistence import generations as gens
from hrmzoo.persistence.checkpoint import load_model
from hrmzoo.errors import CheckpointError, HrmzooError
from hrmzoo.persistence import trainer_state as st
from hrmzoo.data.splits import DataMismatchError
from hrmzoo.train.trainer import Trainer, TrainingError
from tests.train.conftest import TINY

# exploration, EMA, a puzzle embedding (sign-SGD) and AdamW: every piece of state that resume must restore
STATEFUL = [*TINY, "model.puzzle_emb_ndim=32", "model.halting.exploration_prob=0.5", "train.ema_decay=0.9", "train.log_interval=1"]


def losses(run_dir) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["kind"] == "train"]


def newest(run_dir):
    """The newest committed generation directory of a run."""
    return gens.committed(run_dir)[0].path


def train(run_dir, data, overrides, resume=False):
    trainer = Trainer("tiny_sudoku4", [*STATEFUL, *overrides], run_dir=run_dir, data_root=data, resume=resume)
    trainer.run()
    return trainer


@pytest.mark.parametrize("optimizer", ["adam_atan2", "adamw"])
def test_resume_is_exact(tmp_path, sudoku4, optimizer):
    opt = f"train.optimizer={optimizer}"
    full = train(tmp_path / "full", sudoku4, [opt, "train.steps=10"])
    train(tmp_path / "half", sudoku4, [opt, "train.steps=5"])
    resumed = train(tmp_path / "half", sudoku4, [opt, "train.steps=10"], resume=True)
    assert resumed.step == 10
    assert losses(tmp_path / "half") == losses(tmp_path / "full")  # bitwise
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(full.ema.module.state_dict().values(), resumed.ema.module.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_holds_eval_weights_and_loads(tmp_path, sudoku4):
    trainer = train(tmp_path / "run", sudoku4, ["train.steps=3"])
    model = load_model(tmp_path / "run")
    for name, value in trainer.ema.module.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)  # EMA weights are what model.safetensors holds
    state = json.loads((newest(tmp_path / "run") / st.STATE_JSON).read_text())
    assert state["step"] == 3 and state["data"]["cursor"] == 24


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, sudoku4, monkeypatch):
    import hrmzoo.train.trainer as mod

    real = mod.segment_step
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        carry, res = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 5:  # the fifth step blows up
            res.loss = res.loss * float("nan")
        return carry, res

    monkeypatch.setattr(mod, "segment_step", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as info:
        train(run, sudoku4, ["train.steps=10", "train.checkpoint_interval=2"])
    msg = str(info.value)
    # the step-4 weights gave the NaN loss, so that generation is uncommitted and step 2 is named
    assert "\n" not in msg and "nan" in msg and "step 5" in msg and "(step 2;" in msg and "step-00000002" in msg
    assert json.loads((newest(run) / st.STATE_JSON).read_text())["step"] == 2
    model = load_model(run)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    monkeypatch.setattr(mod, "segment_step", real)
    resumed = train(run, sudoku4, ["train.steps=6"], resume=True)  # the kept checkpoint resumes
    assert resumed.step == 6


def test_interrupted_save_leaves_previous_checkpoint(tmp_path, sudoku4, monkeypatch):
    run = tmp_path / "run"
    trainer = train(run, sudoku4, ["train.steps=2"])
    before = {p.relative_to(run): p.read_bytes() for p in (run / gens.CHECKPOINTS).rglob("*") if p.is_file()}

    import safetensors.torch

    import hrmzoo.persistence.checkpoint as ck

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", crash)
    trainer.step += 1
    with pytest.raises(OSError, match="disk full"):
        trainer.save()
    after = {p.relative_to(run): p.read_bytes() for p in (run / gens.CHECKPOINTS).rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    monkeypatch.setattr(ck, "save_file", safetensors.torch.save_file)
    assert train(run, sudoku4, ["train.steps=3"], resume=True).step == 3


def test_corrupt_or_mismatched_state_is_one_line_error(tmp_path, sudoku4):
    run = tmp_path / "run"
    train(run, sudoku4, ["train.steps=2"])
    tensors = newest(run) / st.STATE_TENSORS
    good = tensors.read_bytes()
    tensors.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError) as info:
        train(run, sudoku4, ["train.steps=4"], resume=True)
    assert "truncated" in str(info.value) and "\n" not in str(info.value)
    tensors.write_bytes(good)
    jpath = newest(run) / st.STATE_JSON
    state = json.loads(jpath.read_text())
    jpath.write_text(json.dumps({**state, "step": 7}))
    with pytest.raises(CheckpointError, match="manifest"):
        train(run, sudoku4, ["train.steps=9"], resume=True)
    jpath.write_text(json.dumps(state, indent=1, sort_keys=True))
    with pytest.raises(CheckpointError, match="shape"):
        train(run, sudoku4, ["train.steps=4", "model.hidden_size=64"], resume=True)
    with pytest.raises(CheckpointError, match="batch_size"):
        train(run, sudoku4, ["train.steps=4", "train.batch_size=16"], resume=True)
    with pytest.raises(CheckpointError, match="run directory not found"):
        train(tmp_path / "missing", sudoku4, [], resume=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no trainer state"):
        train(tmp_path / "empty", sudoku4, [], resume=True)


def test_existing_run_dir_needs_resume(tmp_path, sudoku4):
    train(tmp_path / "run", sudoku4, ["train.steps=1"])
    with pytest.raises(HrmzooError, match="resume="):
        train(tmp_path / "run", sudoku4, ["train.steps=1"])


def test_model_must_fit_dataset(tmp_path, sudoku4):
    with pytest.raises(DataMismatchError) as info:
        train(tmp_path / "run", sudoku4, ["model.vocab_size=11"])
    assert "vocab_size=6" in str(info.value) and "model.vocab_size=11" in str(info.value)


def test_per_segment_metrics_and_summary(tmp_path, sudoku4, capsys):
    trainer = Trainer("tiny_sudoku4", [*TINY, "train.steps=6", "train.log_interval=3", "train.final_eval=true"], run_dir=tmp_path / "run", data_root=sudoku4)
    summary = trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [3, 6]
    seg = train_rows[-1]["by_segment"]
    assert sum(v["n"] for v in seg.values()) == 3 * 8  # every slot of every step lands in one segment bucket
    assert set(seg) <= {"1", "2", "3", "4"}
    assert summary.test is not None and summary.test.metrics["num_examples"] == 16
    out = capsys.readouterr().out
    assert "test exact accuracy:" in out and "hrmzoo eval ckpt=" in out
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["metrics"]["num_examples"] == 16


def test_short_run_ema_is_not_dominated_by_the_initialisation(tmp_path, sudoku4):
    from hrmzoo import build_model

    moved = {}
    for warmup in (True, False):
        overrides = [*TINY, "train.steps=40", "train.ema_decay=0.999", f"train.ema_warmup={str(warmup).lower()}"]
        trainer = train(tmp_path / f"run{warmup}", sudoku4, overrides)
        init = build_model(trainer.recipe, seed=trainer.recipe.train.seed).state_dict()
        live, ema = trainer.model.state_dict(), trainer.ema.module.state_dict()
        keys = [k for k in init if k.startswith("l_block")]
        moved[warmup] = sum(float((ema[k] - init[k]).norm()) for k in keys) / sum(float((live[k] - init[k]).norm()) for k in keys)
    # with warmup the average sits nearer the trained weights than the start; a constant
    # 0.999 barely leaves the first step's weights in 40 steps
    assert moved[True] > 0.5 > moved[False] + 0.2


def test_ema_runs_report_live_and_averaged_weights(tmp_path, sudoku4, capsys):
    overrides = [*TINY, "train.steps=6", "train.ema_decay=0.999", "train.final_eval=true"]
    trainer = Trainer("tiny_sudoku4", [*STATEFUL, *overrides], run_dir=tmp_path / "r", data_root=sudoku4)
    summary = trainer.run()
    assert summary.test is not None and summary.test_live is not None
    out = capsys.readouterr().out
    assert "EMA weights (saved):" in out and "live weights:" in out
    report = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert report["live_weights"]["metrics"]["exact_accuracy"] == summary.test_live.metrics["exact_accuracy"]
    kinds = {json.loads(line)["kind"] for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()}
    assert {"eval", "eval_live"} <= kinds


def test_init_from_starts_from_the_checkpoint_weights(tmp_path, sudoku4):
    """train.init_from: step 0's weights (live and EMA) are the source checkpoint's saved weights,
    the optimizer and step count start fresh, and the warm run trains on from there."""
    train(tmp_path / "src", sudoku4, ["train.steps=4"])
    saved = load_model(tmp_path / "src").state_dict()
    warm = Trainer("tiny_sudoku4", [*STATEFUL, "train.steps=3", f"train.init_from={tmp_path / 'src'}"],
                   run_dir=tmp_path / "warm", data_root=sudoku4)
    assert warm.step == 0
    for name, value in saved.items():
        assert torch.equal(warm.model.state_dict()[name], value), name
        assert torch.equal(warm.ema.module.state_dict()[name], value), name
    cold = Trainer("tiny_sudoku4", [*STATEFUL, "train.steps=3"], run_dir=tmp_path / "cold", data_root=sudoku4)
    assert not all(torch.equal(cold.model.state_dict()[k], v) for k, v in saved.items())
    cold.close()
    warm.run()
    assert warm.step == 3
    assert load_model(tmp_path / "warm").recipe.train.init_from == str(tmp_path / "src")  # the run says where it started


def test_init_from_pretrained_and_a_file(tmp_path, sudoku4):
    """`pretrained:NAME` and a .safetensors file are accepted as sources (the shipped tiny_sudoku4 weights)."""
    from hrmzoo.persistence.hub import weights_path

    shipped = load_model(weights_path("tiny_sudoku4")).state_dict()
    for source in ("pretrained:tiny_sudoku4", str(weights_path("tiny_sudoku4"))):
        trainer = Trainer("tiny_sudoku4", ["train.progress=false", "train.final_eval=false", "train.steps=1", f"train.init_from={source}"],
                          run_dir=tmp_path / source.replace(":", "_").replace("/", "_"), data_root=sudoku4)
        assert all(torch.equal(trainer.model.state_dict()[k], v) for k, v in shipped.items())
        trainer.close()


@pytest.mark.parametrize("source, says", [
    ("missing", "no such run or checkpoint"),
    ("pretrained:no_such_model", "no pretrained model 'no_such_model'"),
    ("other_shape", "has shape"),
])
def test_init_from_refuses_clearly(tmp_path, sudoku4, source, says):
    if source == "other_shape":
        train(tmp_path / "other_shape", sudoku4, ["train.steps=1", "model.hidden_size=16"])
        source = str(tmp_path / "other_shape")
    elif source == "missing":
        source = str(tmp_path / "missing")
    with pytest.raises(CheckpointError) as err:
        Trainer("tiny_sudoku4", [*STATEFUL, "train.steps=1", f"train.init_from={source}"], run_dir=tmp_path / "run", data_root=sudoku4)
    message = str(err.value)
    assert message.startswith(f"train.init_from={source}: ") and says in message and "\n" not in message
    if says.startswith("no such"):  # refused before any data is built or the run directory is made
        assert not (tmp_path / "run").exists()


def test_a_missing_warm_up_run_names_the_recipe_to_train_first(tmp_path, monkeypatch):
    """cpu_logic starts from its stage-1 run (cpu_logic_warmup): without it, one line says to train that first."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as err:
        Trainer("cpu_logic", ["train.progress=false"])
    assert "run 'hrmzoo train cpu_logic_warmup' first" in str(err.value) and "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())  # no data built, no run directory


def test_resume_ignores_init_from(tmp_path, sudoku4):
    """A resumed warm-started run continues from its own checkpoint, even when the source is gone."""
    import shutil

    train(tmp_path / "src", sudoku4, ["train.steps=2"])
    warm = [f"train.init_from={tmp_path / 'src'}"]
    train(tmp_path / "run", sudoku4, [*warm, "train.steps=2"])
    shutil.rmtree(tmp_path / "src")
    resumed = train(tmp_path / "run", sudoku4, [*warm, "train.steps=4"], resume=True)
    assert resumed.step == 4
