"""Recipe data configs, prepare_data caching, metadata helpers and the CLI."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from hrmzoo.data.cli import main
from hrmzoo.data.config import DataConfig, MazeData, SudokuData
from hrmzoo.data.errors import DataError
from hrmzoo.data.prepare import config_metadata, dataset_metadata, describe, prepare_data

TA = TypeAdapter(DataConfig)


def test_discriminated_union_and_forbid():
    cfg = TA.validate_python({"type": "sudoku", "size": 4, "num_train": 5})
    assert isinstance(cfg, SudokuData) and cfg.num_test == 200
    with pytest.raises(ValidationError, match="path.*sudoku.*maze.*arc.*mix"):
        TA.validate_python({"type": "sudok"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        TA.validate_python({"type": "maze", "sise": 9})
    with pytest.raises(ValidationError):
        TA.validate_python({"type": "arc", "source": "dir"})
    with pytest.raises(ValidationError):
        TA.validate_python({"type": "sudoku", "size": 4, "givens": [3, 40]})
    with pytest.raises(ValidationError):
        cfg.size = 9  # frozen


def test_prepare_caches_atomically(tmp_path):
    spec = {"type": "maze", "size": 7, "num_train": 4, "num_test": 2, "seed": 1}
    root = prepare_data(spec, tmp_path)
    assert (root / "train" / "dataset.json").is_file() and root.parent == tmp_path
    mtime = (root / "train" / "all__inputs.npy").stat().st_mtime_ns
    assert prepare_data(MazeData(**{k: v for k, v in spec.items() if k != "type"}), tmp_path) == root
    assert (root / "train" / "all__inputs.npy").stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []
    assert prepare_data({**spec, "seed": 2}, tmp_path) != root
    assert prepare_data({"type": "path", "path": str(root)}) == root
    with pytest.raises(DataError, match="does not exist"):
        prepare_data({"type": "path", "path": str(tmp_path / "nope")})
    assert json.loads((root / "build.json").read_text())["spec"]["size"] == 7


def test_metadata_and_describe(tmp_path):
    root = prepare_data({"type": "sudoku", "size": 4, "num_train": 6, "num_test": 3, "num_aug": 1}, tmp_path)
    meta = dataset_metadata(root)
    assert (meta["vocab_size"], meta["seq_len"], meta["num_puzzle_identifiers"]) == (6, 16, 1)
    assert config_metadata({"type": "sudoku", "size": 4})["vocab_size"] == 6
    assert config_metadata({"type": "arc"})["seq_len"] == 900
    d = describe(root)
    assert d["train"]["examples"] == 12 and d["train"]["groups"] == 6 and d["test"]["puzzles"] == 3


def test_prepare_mix(tmp_path):
    cfg = {"type": "mix", "tasks": [{"name": "s4", "data": {"type": "sudoku", "size": 4, "num_train": 5, "num_test": 2}},
                                    {"name": "m7", "data": {"type": "maze", "size": 7, "num_train": 5, "num_test": 2}}]}
    root = prepare_data(cfg, tmp_path)
    meta = dataset_metadata(root)
    assert meta["seq_len"] == 49 and meta["vocab_size"] == 6 and meta["tasks"] == ["s4", "m7"]
    assert config_metadata(cfg)["seq_len"] == 49
    assert describe(root)["train"]["examples"] == 10
    assert prepare_data({"type": "path", "path": str(root)}) == root


def test_cli(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sudoku", "--size", "4", "--num-train", "5", "--num-test", "2", "--num-aug", "2", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "examples=" in text and "puzzle_ids=1" in text and "15" in text
    assert main(["sudoku", "--size", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert main(["maze", "--size", "2", "--out", str(tmp_path / "m")]) == 2
    assert main(["nope"]) == 2
    assert not (tmp_path / "m").exists()
    assert main(["describe", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["train"]["examples"] == 15
