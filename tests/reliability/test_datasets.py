"""Bad-dataset matrix x {train, eval}: each fault is one line naming the file, never a traceback mid-run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hrmzoo.cli import main
from hrmzoo.train.trainer import Trainer
from tests.reliability.conftest import TINY
from tests.reliability.harness import assert_safe


def _arr(root, split, field):
    return root / split / f"all__{field}.npy"


def _edit(root, split, field, fn):
    path = _arr(root, split, field)
    arr = np.load(path).copy()
    np.save(path, fn(arr))


def _set(arr, row, value):
    arr[row, 0] = value
    return arr


def _meta(root, split, fn):
    path = root / split / "dataset.json"
    body = json.loads(path.read_text())
    fn(body)
    path.write_text(json.dumps(body))


FAULTS = {
    "input id beyond vocab": lambda r: _edit(r, "train", "inputs", lambda a: _set(a, 3, 9)),
    "test label beyond vocab": lambda r: _edit(r, "test", "labels", lambda a: _set(a, 1, 6)),
    "negative token": lambda r: _edit(r, "train", "inputs", lambda a: _set(a.astype(np.int16), 2, -1)),
    "test labels all ignored": lambda r: _edit(r, "test", "labels", lambda a: np.zeros_like(a)),
    "train labels all ignored": lambda r: _edit(r, "train", "labels", lambda a: np.zeros_like(a)),
    "truncated inputs": lambda r: _arr(r, "train", "inputs").write_bytes(_arr(r, "train", "inputs").read_bytes()[:90]),
    "missing labels": lambda r: _arr(r, "train", "labels").unlink(),
    "float inputs": lambda r: _edit(r, "train", "inputs", lambda a: a.astype(np.float32)),
    "object array (pickle)": lambda r: np.save(_arr(r, "train", "inputs"), np.array([{"a": 1}], dtype=object), allow_pickle=True),
    "labels shape mismatch": lambda r: _edit(r, "train", "labels", lambda a: a[:, :8]),
    "metadata not json": lambda r: (r / "train" / "dataset.json").write_text("{oops"),
    "metadata not utf-8": lambda r: (r / "train" / "dataset.json").write_bytes(b'{"vocab_size": "\xff"}'),
    "metadata missing key": lambda r: _meta(r, "train", lambda b: b.pop("seq_len")),
    "metadata vocab shrunk": lambda r: _meta(r, "test", lambda b: b.update(vocab_size=4)),
    "metadata seq_len changed": lambda r: _meta(r, "train", lambda b: b.update(seq_len=9)),
    "metadata bool vocab": lambda r: _meta(r, "train", lambda b: b.update(vocab_size=True)),
    "puzzle id out of range": lambda r: _edit(r, "train", "puzzle_identifiers", lambda a: a + 5),
    "offsets not increasing": lambda r: _edit(r, "train", "puzzle_indices", lambda a: a[::-1].copy()),
    "identifiers missing": lambda r: (r / "identifiers.json").unlink(),
    "test split missing": lambda r: shutil.rmtree(r / "test"),
    "train split missing": lambda r: shutil.rmtree(r / "train"),
    "dataset dir is a file": lambda r: (shutil.rmtree(r), r.write_text("not a dataset")),
}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory, sudoku4):
    run = tmp_path_factory.mktemp("good") / "run"
    Trainer("tiny_sudoku4", [*TINY, "train.steps=1"], run_dir=run, data_root=sudoku4).run()
    return run


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_bad_dataset_matrix(tmp_path, sudoku4, good_run, fault):
    data = tmp_path / "data"
    shutil.copytree(sudoku4, data)
    FAULTS[fault](data)
    guard = [data]
    train = ["train", "recipe=tiny_sudoku4", f"data={data}", *TINY, "train.steps=2", "train.final_eval=true", f"train.out_dir={tmp_path / 'run'}"]
    detail = assert_safe("bad dataset: train", lambda: main(train), guard=guard)
    if fault != "test split missing":  # training without a test split is allowed; everything else must be refused
        assert detail, f"{fault}: training accepted a broken dataset"
    detail = assert_safe("bad dataset: eval", lambda: main(["eval", f"ckpt={good_run}", f"data={data}", f"out={tmp_path / 'r.json'}"]), guard=guard)
    if fault in TEST_SPLIT_FAULTS:  # eval reads only the test split; a fault there must be refused
        assert detail, f"{fault}: eval accepted a broken test split"


TEST_SPLIT_FAULTS = {"test label beyond vocab", "test labels all ignored", "metadata vocab shrunk", "test split missing", "dataset dir is a file"}
