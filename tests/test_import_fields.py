"""`hrmzoo import`: key=value fields anywhere on the line, and seq_len from the original's dataset.

The original trainers size the model from their dataset's metadata
(`<data_path>/train/dataset.json`, TRM's `PuzzleDataset._load_metadata`) and
save the dataset folders in all_config.yaml (HRM: `data_path`, TRM:
`data_paths`). RoPE and mlp_t weights do not hold the sequence length, so the
importer reads it there when the folder is at hand.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from hrmzoo import build_model, load_model
from hrmzoo.cli import main
from hrmzoo.errors import CheckpointError
from hrmzoo.interop import import_trm
from tests.test_interop import HRM_ARCH, batch, hrm_zoo_model, outputs, write_original


def trm_zoo_model(block: str):
    blk = ("{type: mlp_mixer, num_layers: 1, expansion: 4.0, token_expansion: 2.0}" if block == "mlp_mixer"
           else "{type: transformer, num_layers: 1, num_heads: 4, expansion: 4.0}")
    return build_model("trm_sudoku", [
        "model.hidden_size=32", "model.seq_len=9", "model.num_puzzle_identifiers=3", "model.puzzle_emb_ndim=32",
        "model.prefix_len=4", f"model.l_block={blk}", "model.coupling.t_cycles=2", "model.coupling.n_cycles=3",
        "model.pos_encoding=rope", "model.halting={type: trm, max_segments: 4}",
    ], seed=1)


def original_trm_run(tmp_path, block: str, data_paths: list[str]):
    """An original TRM run's files: checkpoints/<project>/<run>/{step_100, all_config.yaml} under `tmp_path`."""
    zoo = trm_zoo_model(block)
    run = tmp_path / "checkpoints" / "Sudoku" / "run"
    run.mkdir(parents=True)
    arch = {"H_cycles": 2, "L_cycles": 3, "L_layers": 1, "H_layers": 0, "hidden_size": 32, "num_heads": 4,
            "puzzle_emb_len": 4, "mlp_t": block == "mlp_mixer", "no_ACT_continue": True, "halt_max_steps": 4,
            "pos_encodings": "rope"}
    ckpt, config = write_original(zoo, run, arch)
    config.write_text(yaml.safe_dump({"arch": arch, "data_paths": data_paths, "data_paths_test": [], "global_batch_size": 768}))
    return zoo, ckpt, config


def dataset_folder(root, split="train", seq_len=9):
    (root / split).mkdir(parents=True)
    (root / split / "dataset.json").write_text(json.dumps({"seq_len": seq_len, "vocab_size": 11, "pad_id": 0}))
    return root


@pytest.mark.parametrize("block", ["mlp_mixer", "transformer"])
def test_trm_seq_len_comes_from_the_dataset_of_data_paths(tmp_path, monkeypatch, block):
    # relative to the original's working directory, the folder above checkpoints/: found from anywhere
    dataset_folder(tmp_path / "data" / "sudoku-extreme-1k-aug-1000")
    zoo, ckpt, config = original_trm_run(tmp_path, block, ["data/sudoku-extreme-1k-aug-1000"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    imported = import_trm(ckpt, config)
    assert imported.cfg.seq_len == 9 and imported.cfg.l_block.type == block
    if block == "transformer":  # the mlp_t layout itself is tested in test_interop
        b = {**batch(zoo), "puzzle_identifiers": torch.tensor([0, 2, 1])}
        for got, want in zip(outputs(imported, b), outputs(zoo, b)):
            assert torch.equal(got, want)


def test_seq_len_from_a_test_split_and_an_absolute_path(tmp_path):
    data = dataset_folder(tmp_path / "maze", split="test", seq_len=9)
    _, ckpt, config = original_trm_run(tmp_path, "transformer", [str(data)])
    assert import_trm(ckpt, config).cfg.seq_len == 9


def test_a_missing_dataset_without_seq_len_is_one_line_naming_both(tmp_path, monkeypatch):
    _, ckpt, config = original_trm_run(tmp_path, "transformer", ["data/not-here"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as err:
        import_trm(ckpt, config)
    msg = str(err.value)
    assert "\n" not in msg and "data/not-here" in msg and "seq_len=N" in msg
    assert import_trm(ckpt, config, {"seq_len": 9}).cfg.seq_len == 9  # the field still wins


def test_cli_import_accepts_fields_after_the_flags(tmp_path, capsys):
    zoo = hrm_zoo_model()
    ckpt, config = write_original(zoo, tmp_path, HRM_ARCH)
    out = tmp_path / "model.safetensors"
    assert main(["import", "hrm", str(ckpt), "--config", str(config), "--out", str(out), "seq_len=9"]) == 0, capsys.readouterr().err
    b = batch(zoo)
    assert torch.equal(outputs(load_model(out), b)[0], outputs(zoo, b)[0])
    # fields on both sides of a flag, and out= as a field
    again = tmp_path / "again.safetensors"
    assert main(["import", "hrm", str(ckpt), "H_cycles=3", "--config", str(config), "seq_len=9", f"out={again}"]) == 0
    assert load_model(again).cfg.seq_len == 9
    # an unknown flag among them is still argparse's error
    with pytest.raises(SystemExit) as exit_:
        main(["import", "hrm", str(ckpt), "--out", str(tmp_path / "o.safetensors"), "seq_len=9", "--bogus"])
    assert exit_.value.code == 2


def test_cli_build_accepts_overrides_after_its_flags(tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    assert main(["build", "tiny_sudoku4", "--out", str(out), "model.hidden_size=32"]) == 0
    assert load_model(out).cfg.hidden_size == 32
