"""Exact accuracy by a stored per-puzzle rating (`hrmzoo eval RUN by=NAME`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate.buckets import by_bucket, default_edges, example_ratings, format_buckets, parse_edges
from tests.train.conftest import TINY


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    from hrmzoo.data.sudoku import build_sudoku

    return build_sudoku(tmp_path_factory.mktemp("rated") / "s4", size=4, num_train=10, num_test=12, num_aug=2, seed=5)


def test_group_ratings_repeat_over_each_groups_examples(rated):
    stored = np.load(rated / "train" / "extra__givens.npy")
    per_example = example_ratings(rated, "train", "givens")
    assert stored.shape == (10,) and per_example.shape == (30,)  # 1 + 2 augmented variants per puzzle
    assert (per_example == np.repeat(stored, 3)).all()
    # the variants of a puzzle keep its number of givens: the expansion lines up with the inputs
    inputs = np.load(rated / "train" / "all__inputs.npy")
    assert ((inputs > 1).sum(1) == per_example).all()
    assert (example_ratings(rated, "test", "givens") == np.load(rated / "test" / "extra__givens.npy")).all()


def test_missing_rating_names_those_there_are(rated):
    with pytest.raises(HrmzooError, match=r"no extra__path_len\.npy; ratings stored there: backtracks, givens"):
        example_ratings(rated, "test", "path_len")


def samples(exact_per_segment):
    e = torch.tensor(exact_per_segment, dtype=torch.bool)
    return {"exact": e[:, -1], "exact_per_segment": e, "segment_ran": torch.ones_like(e)}


def test_by_bucket_counts_and_accuracies():
    s = samples([[0, 1], [1, 1], [0, 0], [0, 1], [1, 1], [0, 0]])
    ratings = np.array([0, 0, 1, 3, 5, 9, 99])  # one more rating than samples (a limit=): ignored
    rows = by_bucket(s, ratings, [0, 1, 4])
    assert [(r["bucket"], r["n"]) for r in rows] == [("0", 2), ("1-3", 2), (">=4", 2)]
    assert [r["exact"] for r in rows] == [1.0, 0.5, 0.5]
    assert rows[0]["exact_by_segment"] == [0.5, 1.0] and rows[1]["exact_by_segment"] == [0.0, 0.5]
    table = format_buckets("backtracks", rows)
    assert table.splitlines()[1].split()[:3] == ["0", "2", "100.00%"]


def test_default_edges_values_or_quartiles():
    assert default_edges(np.array([3, 1, 1, 2])) == [1.0, 2.0, 3.0]
    wide = np.arange(60, 160)
    assert default_edges(wide) == [60.0, 84.0, 109.0, 134.0]


def test_parse_edges_errors_are_one_line():
    assert parse_edges("[0,1,2,4]") == [0, 1, 2, 4]
    for bad in ("[2,1]", "[a]", "[]"):
        with pytest.raises(HrmzooError, match="buckets=") as info:
            parse_edges(bad)
        assert "\n" not in str(info.value)


def test_eval_cli_by_rating(rated, tmp_path, capsys):
    from hrmzoo.cli import main
    from hrmzoo.train import train

    run = tmp_path / "run"
    train("tiny_sudoku4", [*TINY, "train.steps=2", "train.threads=1"], run_dir=run, data_root=rated)
    assert main(["eval", str(run), f"data={rated}", "by=givens", "buckets=[0,8]", "threads=1"]) == 0
    out = capsys.readouterr().out
    assert "by givens" in out
    report = json.loads((run / "eval_report.json").read_text())
    rows = report["by"]["buckets"]
    givens = np.load(rated / "test" / "extra__givens.npy")
    assert sum(r["n"] for r in rows) == 12 and rows[0]["n"] == int((givens < 8).sum())
    assert main(["eval", str(run), f"data={rated}", "by=path_len"]) == 2
    assert "ratings stored there" in capsys.readouterr().err
