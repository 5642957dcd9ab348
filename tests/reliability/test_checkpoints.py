"""Corrupt-checkpoint matrix x {load, eval, resume}: one line or success, never a traceback or a lost generation."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from hrmzoo.persistence import generations as gens
from hrmzoo.persistence.checkpoint import RECIPE_KEY, load_model
from hrmzoo.cli import main
from hrmzoo.persistence import trainer_state as st
from hrmzoo.train.trainer import Trainer
from tests.reliability.conftest import TINY
from tests.reliability.harness import assert_safe

RUN = [*TINY, "train.steps=4", "train.checkpoint_interval=2", "train.optimizer=adamw", "model.halting.exploration_prob=0.5"]


SUDOKU4 = []


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, sudoku4):
    SUDOKU4[:] = [sudoku4]
    run = tmp_path_factory.mktemp("ckpt") / "run"
    Trainer("tiny_sudoku4", RUN, run_dir=run, data_root=sudoku4).run()
    assert [g.step for g in gens.committed(run)] == [4, 2]
    return run


def _newest(run):
    return gens.committed(run)[0].path


def _rehash(gen_dir):
    """Rewrite a generation's manifest after a deliberate forgery, so only the content checks can catch it."""
    body = json.loads((gen_dir / gens.MANIFEST).read_text())
    for name in body["files"]:
        body["files"][name] = {"sha256": gens.sha256_file(gen_dir / name), "bytes": (gen_dir / name).stat().st_size}
    (gen_dir / gens.MANIFEST).write_text(json.dumps(body))


def _rewrite(path, change_tensors=None, change_meta=None):
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if change_tensors:
        tensors = change_tensors(tensors)
    if change_meta:
        meta = change_meta(meta)
    save_file(tensors, str(path), metadata=meta)
    _rehash(path.parent)


def flip_byte(path, offset_from_end=5):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def c_flip_model_tensor(run):
    flip_byte(_newest(run) / st.MODEL_FILE)


def c_truncate_model(run):
    p = _newest(run) / st.MODEL_FILE
    p.write_bytes(p.read_bytes()[:100])


def c_flip_state_tensor(run):
    flip_byte(_newest(run) / st.STATE_TENSORS)


def c_delete_manifest(run):
    (_newest(run) / gens.MANIFEST).unlink()


def c_garble_manifest(run):
    (_newest(run) / gens.MANIFEST).write_text("{not json")


def c_delete_pointer(run):
    (run / gens.CHECKPOINTS / gens.POINTER).unlink()


def c_pointer_to_missing(run):
    (run / gens.CHECKPOINTS / gens.POINTER).write_text("step-00000099\n")


def c_pointer_garbage(run):
    (run / gens.CHECKPOINTS / gens.POINTER).write_bytes(b"\xff\x00garbage")


def c_remove_newest(run):
    shutil.rmtree(_newest(run))


def c_every_generation_corrupt(run):
    for g in gens.list_generations(run):
        flip_byte(g.path / st.MODEL_FILE)


def c_empty_checkpoints(run):
    shutil.rmtree(run / gens.CHECKPOINTS)
    (run / gens.CHECKPOINTS).mkdir()


def c_renamed_generation(run):
    gen = _newest(run)
    gen.rename(gen.with_name("step-00000003"))
    (run / gens.CHECKPOINTS / gens.POINTER).write_text("step-00000003\n")


def c_float16_weights(run):
    _rewrite(_newest(run) / st.MODEL_FILE, lambda t: {k: v.half() if v.is_floating_point() else v for k, v in t.items()})


def c_nan_weights(run):
    _rewrite(_newest(run) / st.MODEL_FILE, lambda t: {k: v * float("nan") if v.is_floating_point() else v for k, v in t.items()})


def c_recipe_extends(run):
    def meta(m):
        recipe = json.loads(m[RECIPE_KEY])
        recipe["extends"] = "/etc/passwd"
        return {**m, RECIPE_KEY: json.dumps(recipe)}
    _rewrite(_newest(run) / st.MODEL_FILE, change_meta=meta)


def c_recipe_not_json(run):
    _rewrite(_newest(run) / st.MODEL_FILE, change_meta=lambda m: {**m, RECIPE_KEY: "{oops"})


def c_pickle_model(run):
    p = _newest(run) / st.MODEL_FILE
    p.write_bytes(pickle.dumps({"weight": [1, 2, 3]}))
    _rehash(p.parent)


def c_missing_moment(run):
    _rewrite(_newest(run) / st.STATE_TENSORS, lambda t: {k: v for k, v in t.items() if not k.endswith("exp_avg_sq")})


def c_wrong_moment_shape(run):
    def change(t):
        key = next(k for k in t if k.endswith(".exp_avg"))
        return {**t, key: torch.zeros(3, 3)}
    _rewrite(_newest(run) / st.STATE_TENSORS, change)


def c_wrong_rng_size(run):
    _rewrite(_newest(run) / st.STATE_TENSORS, lambda t: {**t, "rng.explore": t["rng.explore"][:, :10].contiguous()})


def c_missing_rng(run):
    _rewrite(_newest(run) / st.STATE_TENSORS, lambda t: {k: v for k, v in t.items() if k != "rng.torch"})


def c_wrong_carry_shape(run):
    _rewrite(_newest(run) / st.STATE_TENSORS, lambda t: {**t, "carry.state.z_H": t["carry.state.z_H"][:, :3].contiguous()})


def c_state_json_garbage(run):
    p = _newest(run) / st.STATE_JSON
    p.write_text('{"format": 1, "step": "many", "data": null}')
    _rehash(p.parent)


def c_state_json_missing_keys(run):
    p = _newest(run) / st.STATE_JSON
    body = json.loads(p.read_text())
    del body["data"]
    p.write_text(json.dumps(body))
    _rehash(p.parent)


def c_weights_of_other_shape(run):
    _rewrite(_newest(run) / st.MODEL_FILE, lambda t: {k: torch.cat([v, v], 0) if v.dim() == 2 else v for k, v in t.items()})


def c_old_single_file_layout(run):
    gen = _newest(run)
    for name in (st.MODEL_FILE, st.STATE_TENSORS, st.STATE_JSON):
        shutil.copy(gen / name, run / name)
    shutil.rmtree(run / gens.CHECKPOINTS)


def c_generation_from_another_run(run):
    other = run.parent / "other"
    Trainer("tiny_sudoku4", RUN, run_dir=other, data_root=SUDOKU4[0]).run()
    shutil.rmtree(_newest(run))
    shutil.copytree(_newest(other), _newest(other).parents[2] / run.name / gens.CHECKPOINTS / _newest(other).name)


def c_leftover_temp(run):
    tmp = run / gens.CHECKPOINTS / ".tmp-step-00000006-123"
    tmp.mkdir()
    (tmp / st.MODEL_FILE).write_bytes(b"half")


CORRUPTIONS = {name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("c_")}


def _verifying(run) -> set[str]:
    out = set()
    for g in gens.list_generations(run):
        try:
            gens.verify_generation(g, (st.MODEL_FILE,))
            out.add(g.name)
        except Exception:  # noqa: BLE001
            pass
    return out


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_checkpoint_matrix(tmp_path, base_run, sudoku4, corruption):
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    CORRUPTIONS[corruption](run)
    snapshot = [run / gens.CHECKPOINTS] if (run / gens.CHECKPOINTS).exists() else [run / st.MODEL_FILE]
    # load and eval only read: every file must come out unchanged
    assert_safe("corrupt ckpt: load", lambda: load_model(run) and None, guard=snapshot)
    assert_safe("corrupt ckpt: eval", lambda: main(["eval", f"ckpt={run}", f"data={sudoku4}", f"out={tmp_path / 'report.json'}"]), guard=snapshot)
    good_before = _verifying(run)

    def lost():  # a resume may add a generation and prune old ones, but never leave fewer good ones
        after = _verifying(run)
        return None if len(after) >= min(2, len(good_before)) or not good_before else f"verified generations {sorted(good_before)} -> {sorted(after)}"

    detail = assert_safe("corrupt ckpt: resume", lambda: main(["train", f"resume={run}", f"data={sudoku4}", "train.steps=7"]), lost=lost)
    if corruption in MUST_REFUSE_RESUME:
        assert detail, f"{corruption}: resume accepted it"


MUST_REFUSE_RESUME = {"generation_from_another_run", "missing_moment", "wrong_moment_shape", "wrong_rng_size", "missing_rng",
                      "wrong_carry_shape", "state_json_garbage", "state_json_missing_keys", "float16_weights", "nan_weights",
                      "every_generation_corrupt", "empty_checkpoints", "pickle_model", "weights_of_other_shape"}
