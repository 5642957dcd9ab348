"""Writer/reader round trip, compatibility with the original layout, and rejection of broken directories."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import SplitBuilder, write_identifiers, write_split
from hrmzoo.data.reader import load_split, validate_dataset


def _write_small(root):
    b = SplitBuilder(seq_len=4)
    rng = np.random.default_rng(0)
    b.add_group([(1, [(rng.integers(1, 5, 4), rng.integers(0, 5, 4)) for _ in range(2)]), (2, [(np.ones(4), np.ones(4))])])
    b.add_group([(3, [(np.full(4, 2), np.full(4, 3))])])
    arrays = b.build()
    for split in ("train", "test"):
        write_split(root / split, arrays, vocab_size=5, num_puzzle_identifiers=4)
    write_identifiers(root, ["<blank>", "a", "b", "c"])
    return arrays


def test_round_trip(tmp_path):
    arrays = _write_small(tmp_path)
    d = load_split(tmp_path, "train", check_values=True)
    s = d.sets[0]
    assert (np.asarray(s.inputs) == arrays.inputs).all() and (np.asarray(s.labels) == arrays.labels).all()
    assert s.puzzle_indices.tolist() == [0, 2, 3, 4] and s.group_indices.tolist() == [0, 2, 3]
    assert s.puzzle_identifiers.tolist() == [1, 2, 3] and s.example_identifier.tolist() == [1, 1, 2, 3]
    assert isinstance(s.inputs, np.memmap)
    meta = json.loads((tmp_path / "train" / "dataset.json").read_text())
    assert meta == {"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 5, "seq_len": 4,
                    "num_puzzle_identifiers": 4, "total_groups": 2, "mean_puzzle_examples": 4 / 3, "sets": ["all"]}
    assert np.load(tmp_path / "train" / "all__group_indices.npy").dtype == np.int32


def test_original_builder_layout_loads(tmp_path):
    """Arrays exactly as the original Sudoku builder writes them (uint8 tokens, int32 indices, JSON spacing)."""
    d = tmp_path / "train"
    d.mkdir()
    inputs = (np.random.default_rng(0).integers(0, 10, (3, 81)) + 1).astype(np.uint8)
    np.save(d / "all__inputs.npy", inputs)
    np.save(d / "all__labels.npy", inputs)
    np.save(d / "all__group_indices.npy", np.array([0, 1, 2, 3], dtype=np.int32))
    np.save(d / "all__puzzle_indices.npy", np.array([0, 1, 2, 3], dtype=np.int32))
    np.save(d / "all__puzzle_identifiers.npy", np.zeros(3, dtype=np.int32))
    json.dump({"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 11, "seq_len": 81,
               "num_puzzle_identifiers": 1, "total_groups": 3, "mean_puzzle_examples": 1, "sets": ["all"]}, open(d / "dataset.json", "w"))
    shutil.copytree(d, tmp_path / "test")
    json.dump(["<blank>"], open(tmp_path / "identifiers.json", "w"))
    out = validate_dataset(tmp_path, check_values=True)
    assert out["train"].num_examples == 3 and out["test"].vocab_size == 11


def _truncate(p):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 7])


CORRUPTIONS = {
    "missing inputs": ("train/all__inputs.npy", lambda p: p.unlink()),
    "truncated inputs": ("train/all__inputs.npy", _truncate),
    "garbage labels": ("train/all__labels.npy", lambda p: p.write_bytes(b"not an npy file")),
    "bad json": ("train/dataset.json", lambda p: p.write_text("{\"pad_id\": 0,")),
    "missing key": ("train/dataset.json", lambda p: p.write_text(json.dumps({"pad_id": 0}))),
    "wrong seq_len": ("train/dataset.json", lambda p: p.write_text(p.read_text().replace('"seq_len":4', '"seq_len":5'))),
    "labels shape": ("train/all__labels.npy", lambda p: np.save(p, np.zeros((4, 3), np.uint8))),
    "offsets end": ("train/all__puzzle_indices.npy", lambda p: np.save(p, np.array([0, 2, 3, 5], np.int32))),
    "offsets order": ("train/all__puzzle_indices.npy", lambda p: np.save(p, np.array([0, 3, 2, 4], np.int32))),
    "group start": ("train/all__group_indices.npy", lambda p: np.save(p, np.array([1, 2, 3], np.int32))),
    "puzzle count": ("train/all__puzzle_identifiers.npy", lambda p: np.save(p, np.array([1, 2], np.int32))),
    "identifier range": ("train/all__puzzle_identifiers.npy", lambda p: np.save(p, np.array([1, 2, 9], np.int32))),
    "float array": ("train/all__group_indices.npy", lambda p: np.save(p, np.array([0.0, 2.0, 3.0]))),
    "total groups": ("train/dataset.json", lambda p: p.write_text(p.read_text().replace('"total_groups":2', '"total_groups":7'))),
    "missing identifiers": ("identifiers.json", lambda p: p.unlink()),
    "missing split": ("test", lambda p: shutil.rmtree(p)),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_rejects_broken_directory(tmp_path, case):
    _write_small(tmp_path)
    rel, corrupt = CORRUPTIONS[case]
    corrupt(tmp_path / rel)
    with pytest.raises(DataError) as e:
        validate_dataset(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and rel.split("/")[-1] in msg, msg
    assert "rebuild" in msg  # names the fix
    assert isinstance(e.value, ValueError)


def test_token_range_check(tmp_path):
    _write_small(tmp_path)
    np.save(tmp_path / "train" / "all__inputs.npy", np.full((4, 4), 7, np.uint8))
    load_split(tmp_path, "train", check_values=False)  # structure-only validation skips the scan
    with pytest.raises(DataError, match="all__inputs.npy: row 0, position 0: token id 7 .*vocab_size"):
        load_split(tmp_path, "train")  # the default scans every token
