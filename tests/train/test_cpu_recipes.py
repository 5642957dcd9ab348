"""The shipped CPU recipes: their task definitions match the issue's, and each builds and trains on tiny data.

Their measured accuracies (registry/results.md) take minutes of CPU each and are not re-run here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hrmzoo import load_recipe
from hrmzoo.train import train

CPU_RECIPES = ["cpu_sudoku6", "cpu_sudoku9", "cpu_maze15", "cpu_sudoku_hard", "cpu_maze30"]

#: Shrinks a recipe's data and batch so two steps run in about a second; the model stays as shipped.
TINY_RUN = ["data.num_train=24", "data.num_test=8", "train.batch_size=8", "train.steps=2", "train.warmup_steps=1",
            "train.progress=false", "train.final_eval=true", "train.log_interval=1", "train.threads=1"]


@pytest.mark.parametrize("name", CPU_RECIPES)
def test_cpu_recipe_builds_and_trains_two_steps(name, tmp_path):
    overrides = list(TINY_RUN)
    if load_recipe(name).data.type == "sudoku":
        overrides.append("data.num_aug=0")
    summary = train(name, [*overrides, f"train.data_cache={tmp_path / 'cache'}"], run_dir=tmp_path / "run")
    assert summary.steps == 2
    assert math.isfinite(summary.train["loss"])
    assert summary.test is not None and 0.0 <= summary.test.metrics["exact_accuracy"] <= 1.0


def test_cpu_sudoku6_is_6x6_with_2x3_boxes():
    from hrmzoo.data.sudoku_solver import BOX_SHAPES

    r = load_recipe("cpu_sudoku6")
    assert r.data.size == 6 and BOX_SHAPES[6] == (2, 3)
    assert r.model.seq_len == 36 and r.model.vocab_size == 8


def test_cpu_sudoku9_givens_average_about_41():
    from hrmzoo.data.sudoku import generate_puzzles

    r = load_recipe("cpu_sudoku9")
    assert r.data.size == 9 and r.model.seq_len == 81
    lo, hi = r.data.givens
    assert (lo + hi) / 2 == 41
    s = generate_puzzles(40, 9, r.data.givens, seed=r.data.seed)
    assert lo <= s.givens.min() and s.givens.max() <= hi
    assert abs(s.givens.mean() - 41) < 1.5


def test_cpu_maze15_paths_are_at_least_10_moves():
    from hrmzoo.data.maze import generate_mazes

    r = load_recipe("cpu_maze15")
    assert r.data.size == 15 and r.model.seq_len == 225 and r.data.min_path_len == 10
    _, labels, lens = generate_mazes(30, 15, r.data.min_path_len, seed=r.data.seed)
    assert lens.min() >= 10


def test_cpu_sudoku_hard_every_puzzle_needs_a_guess():
    from hrmzoo.data.sudoku import generate_puzzles

    r = load_recipe("cpu_sudoku_hard")
    assert r.data.size == 9 and r.model.seq_len == 81 and tuple(r.data.givens) == (22, 27) and r.data.min_backtracks == 1
    s = generate_puzzles(30, 9, r.data.givens, seed=r.data.seed, min_backtracks=r.data.min_backtracks)
    assert (s.backtracks >= 1).all() and 22 <= s.givens.min() and s.givens.max() <= 27


def test_cpu_maze30_paths_are_at_least_60_moves():
    from hrmzoo.data.maze import generate_mazes

    r = load_recipe("cpu_maze30")
    assert r.data.size == 30 and r.model.seq_len == 900 and r.data.min_path_len == 60
    _, _, lens = generate_mazes(30, 30, r.data.min_path_len, seed=r.data.seed)
    assert lens.min() >= 60


def canonical_keys(name: str, inputs: np.ndarray) -> set[bytes]:
    """Keys equal for two inputs iff one is an augmentation of the other (the generators' own de-duplication keys)."""
    if load_recipe(name).data.type == "maze":
        from hrmzoo.data.maze import _canonical

        side = int(round(inputs.shape[1] ** 0.5))
        return {_canonical(row.reshape(side, side).astype(np.uint8)) for row in inputs}
    from hrmzoo.data.sudoku import canonical_key, from_tokens, spatial_maps

    n = int(round(inputs.shape[1] ** 0.5))
    maps = spatial_maps(n) if n <= 6 else None
    return {canonical_key(from_tokens(row), n, maps) for row in inputs}


@pytest.mark.parametrize("name", CPU_RECIPES)
def test_cpu_recipe_test_split_shares_no_puzzle_with_train(name, tmp_path):
    from hrmzoo.data.prepare import prepare_data

    spec = load_recipe(name).data.model_copy(update={"num_train": 40, "num_test": 20})
    root = prepare_data(spec, tmp_path / "cache")
    train_keys = canonical_keys(name, np.load(root / "train" / "all__inputs.npy"))
    test_keys = canonical_keys(name, np.load(root / "test" / "all__inputs.npy"))
    assert len(test_keys) == 20  # distinct among themselves too
    assert not train_keys & test_keys


def test_time_compare_records_cpu_time_beside_the_table(tmp_path, sudoku4):
    import json
    import sys
    from pathlib import Path

    from tests.train.conftest import TINY

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    import time_compare

    out = time_compare.main(["tiny_sudoku4", "seeds=[0]", "steps=2", "segments=[1,2]", "limit=8", "threads=1",
                             f"out={tmp_path / 'cmp'}", f"data={sudoku4}", *TINY])
    saved = json.loads((tmp_path / "cmp" / "measure.json").read_text())
    assert saved["timings"] == out["timings"] and len(out["timings"]) == 1
    timing = out["timings"][0]
    assert timing["steps"] == 2 and timing["train_cpu_s"] > 0 and timing["train_wall_s"] > 0
    assert set(saved["table"]["tiny_sudoku4"]["fixed"]) == {"1", "2"}
