"""`train.dtype: auto` on a CPU: a measured, cached float32 / bfloat16 choice; the compile cache location."""

from __future__ import annotations

import json

import pytest
import torch

from hrmzoo import build_model
from hrmzoo.train import precision_probe as pp
from hrmzoo.recipe import load_recipe
from tests.train.conftest import TINY

MODEL = [o for o in TINY if o.startswith("model.")]


@pytest.fixture
def measuring(monkeypatch, tmp_path):
    monkeypatch.delenv(pp.FORCE_ENV, raising=False)
    monkeypatch.setenv("HRMZOO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / pp.CACHE_FILE


def tiny_batch(model, B=8):
    g = torch.Generator().manual_seed(0)
    return {"inputs": torch.randint(1, 6, (B, 16), generator=g), "labels": torch.randint(2, 6, (B, 16), generator=g),
            "puzzle_identifiers": torch.zeros(B, dtype=torch.long)}


def test_measures_both_dtypes_caches_and_reuses(measuring, monkeypatch):
    recipe = load_recipe("tiny_sudoku4", MODEL)
    model = build_model(recipe, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    batch = tiny_batch(model)
    first = pp.choose_cpu_dtype(model, batch, recipe.model, 8)
    assert not first.cached and first.cache_file == str(measuring)
    assert first.float32_ms > 0 and first.bfloat16_ms > 0
    want = "bfloat16" if first.bfloat16_ms < (1 - pp.MIN_GAIN) * first.float32_ms else "float32"
    assert first.dtype == want and (first.autocast is torch.bfloat16) == (want == "bfloat16")
    assert "float32" in first.describe() and "ms" in first.describe()
    # the probe ran on a copy with the random state restored: the run itself is unchanged
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng) and all(p.grad is None for p in model.parameters())

    def no_measuring(*a, **k):
        raise AssertionError("a cached choice must not be measured again")

    monkeypatch.setattr(pp, "time_steps", no_measuring)
    again = pp.choose_cpu_dtype(model, batch, recipe.model, 8)
    assert again.cached and again.dtype == first.dtype and again.float32_ms == pytest.approx(first.float32_ms)
    assert "cached in" in again.describe()
    # another batch size or model is another entry
    monkeypatch.setattr(pp, "time_steps", lambda *a, **k: {"float32": 0.010, "bfloat16": 0.005})
    other = pp.choose_cpu_dtype(model, batch, recipe.model, 16)
    assert not other.cached and other.dtype == "bfloat16"
    entries = json.loads(measuring.read_text())
    assert len(entries) == 2 and all(e["machine"]["torch"] == torch.__version__ for e in entries.values())


@pytest.mark.parametrize("fp32,bf16,want", [(0.100, 0.060, "bfloat16"), (0.100, 0.097, "float32"), (0.100, 0.140, "float32")])
def test_bf16_must_be_clearly_faster(measuring, monkeypatch, fp32, bf16, want):
    recipe = load_recipe("tiny_sudoku4", MODEL)
    monkeypatch.setattr(pp, "time_steps", lambda *a, **k: {"float32": fp32, "bfloat16": bf16})
    assert pp.choose_cpu_dtype(None, {}, recipe.model, 8).dtype == want


def test_damaged_cache_is_remeasured(measuring, monkeypatch):
    recipe = load_recipe("tiny_sudoku4", MODEL)
    measuring.parent.mkdir(parents=True)
    measuring.write_text("{not json")
    monkeypatch.setattr(pp, "time_steps", lambda *a, **k: {"float32": 0.01, "bfloat16": 0.02})
    choice = pp.choose_cpu_dtype(None, {}, recipe.model, 8)
    assert choice.dtype == "float32" and json.loads(measuring.read_text())


def test_forced_by_environment_and_bad_value(monkeypatch):
    monkeypatch.setenv(pp.FORCE_ENV, "bfloat16")
    choice = pp.choose_cpu_dtype(None, {}, None, 8)
    assert choice.forced and choice.autocast is torch.bfloat16 and "not measured" in choice.describe()
    monkeypatch.setenv(pp.FORCE_ENV, "fp16")
    from hrmzoo.errors import HrmzooError

    with pytest.raises(HrmzooError, match="HRMZOO_DTYPE_AUTO=fp16"):
        pp.choose_cpu_dtype(None, {}, None, 8)


def test_trainer_uses_the_choice_and_says_so(measuring, monkeypatch, tmp_path, sudoku4, capsys):
    from hrmzoo.train.trainer import Trainer

    monkeypatch.setattr(pp, "time_steps", lambda *a, **k: {"float32": 0.010, "bfloat16": 0.005})
    t = Trainer("tiny_sudoku4", [*TINY, "train.steps=1"], run_dir=tmp_path / "run", data_root=sudoku4)
    assert t.amp_dtype is torch.bfloat16 and t.dtype_choice.dtype == "bfloat16"
    assert "train.dtype auto: bfloat16 autocast (a training step took 10.0 ms in float32, 5.0 ms in bfloat16" in capsys.readouterr().err
    fixed = Trainer("tiny_sudoku4", [*TINY, "train.steps=1", "train.dtype=float32"], run_dir=tmp_path / "run2", data_root=sudoku4)
    assert fixed.amp_dtype is None and fixed.dtype_choice is None


def test_compile_cache_goes_under_the_cache_dir(monkeypatch, tmp_path):
    from hrmzoo.common.user_cache import cache_dir, use_persistent_compile_cache

    monkeypatch.setenv("HRMZOO_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "recorded")  # so monkeypatch restores whatever was there
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    assert cache_dir() == tmp_path / "c"
    assert use_persistent_compile_cache() == tmp_path / "c" / "inductor"
    import os

    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "c" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert use_persistent_compile_cache() == tmp_path / "mine"  # an explicit setting wins
    monkeypatch.delenv("HRMZOO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "hrmzoo"
