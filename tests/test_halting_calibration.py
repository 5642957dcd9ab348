"""Issue 30: calibration losses for halting heads, `eval_halt_threshold: auto` fitted without the
test split, training under stress (corrupted and unsolvable inputs), and the selective-prediction
figures of `hrmzoo halting`."""

from __future__ import annotations

import json
import shutil
from collections import deque

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hrmzoo import build_model
from hrmzoo.analysis.halting_risk import auroc, risk_coverage, segments_by_bucket, unsolvable_stats
from hrmzoo.cli import main
from hrmzoo.data import maze as maze_data
from hrmzoo.data.stress import StressConfig, stress_batch
from hrmzoo.errors import HrmzooError
from hrmzoo.halting.calibration import HALT_LOSSES, calibration_loss, continue_value_target
from hrmzoo.halting.threshold import THRESHOLD_FILE, choose_threshold
from hrmzoo.heads.lm import IGNORE_INDEX
from hrmzoo.model.segment_loop import new_carry, segment_step
from hrmzoo.recipe import load_recipe
from hrmzoo.train.halt_data import TrainingView, training_split
from tests.helpers import TINY

LOGITS = torch.tensor([-3.0, -0.5, 0.0, 0.7, 4.0])
TARGET = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])


# ------------------------------------------------------------------ calibration losses
def test_the_four_losses_are_registered_and_match_their_formulas():
    assert {"bce", "brier", "focal", "smoothed_bce"} <= set(HALT_LOSSES)
    p = torch.sigmoid(LOGITS)
    bce = F.binary_cross_entropy_with_logits(LOGITS, TARGET, reduction="none")
    assert torch.allclose(calibration_loss("bce", LOGITS, TARGET), bce)
    assert torch.allclose(calibration_loss("brier", LOGITS, TARGET), (p - TARGET) ** 2)
    assert torch.allclose(calibration_loss("focal", LOGITS, TARGET, 0.0), bce)  # gamma 0 is BCE
    p_t = torch.where(TARGET.bool(), p, 1 - p)
    assert torch.allclose(calibration_loss("focal", LOGITS, TARGET), (1 - p_t) ** 2 * bce)  # default gamma 2
    assert torch.allclose(calibration_loss("smoothed_bce", LOGITS, TARGET, 0.0), bce)
    smoothed = F.binary_cross_entropy_with_logits(LOGITS, TARGET * 0.9 + 0.05, reduction="none")
    assert torch.allclose(calibration_loss("smoothed_bce", LOGITS, TARGET), smoothed)  # default epsilon 0.1
    for spec in HALT_LOSSES.values():  # each names where it comes from
        assert len(spec.fn.__doc__) > 150


@pytest.mark.parametrize("policy", ["trm", "q_learning"])
def test_default_halt_loss_is_the_policy_s_bce(policy):
    model = build_model("tiny_sudoku4", [*TINY, f"model.halting.type={policy}", "model.halting.max_segments=3"], seed=0)
    assert model.halting.cfg.halt_loss == "bce"
    logits = torch.randn(5, 2 if policy == "q_learning" else 1)
    correct = torch.tensor([True, False, True, False, True])
    terms = model.halting.loss(logits, correct, torch.ones(5, dtype=torch.long), lambda: torch.zeros(5, 2))
    key = "q_halt" if policy == "q_learning" else "halt"
    expect = 0.5 * F.binary_cross_entropy_with_logits(logits[:, 0], correct.float(), reduction="none")
    assert torch.equal(terms[key], expect)


@pytest.mark.parametrize("policy", ["trm", "q_learning", "pondernet"])
def test_a_named_loss_replaces_or_adds_the_calibration_term(policy):
    model = build_model("tiny_sudoku4", [*TINY, f"model.halting.type={policy}", "model.halting.halt_loss=brier"], seed=0)
    logits = torch.randn(4, 2)
    correct = torch.tensor([True, False, True, False])
    terms = model.halting.loss(logits, correct, torch.ones(4, dtype=torch.long), lambda: torch.zeros(4, 2))
    key = {"trm": "halt", "q_learning": "q_halt", "pondernet": "ponder_calibration"}[policy]
    brier = (torch.sigmoid(logits[:, 0]) - correct.float()) ** 2
    assert torch.allclose(terms[key], model.halting.cfg.loss_weight * brier)


def test_pondernet_adds_no_calibration_term_by_default():
    model = build_model("tiny_sudoku4", [*TINY, "model.halting.type=pondernet"], seed=0)
    terms = model.halting.loss(torch.randn(3, 1), torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.long), None)
    assert set(terms) == {"ponder_task", "ponder_kl"}


@pytest.mark.parametrize("overrides, needle", [
    (["model.halting.halt_loss=brir"], "did you mean 'brier'"),
    (["model.halting.halt_loss=bce", "model.halting.halt_loss_param=0.3"], "takes no parameter"),
    (["model.halting.halt_loss=smoothed_bce", "model.halting.halt_loss_param=1.5"], "epsilon"),
    (["model.halting.type=fixed", "model.halting.eval_mode=adaptive", "model.halting.eval_halt_threshold=auto"], "eval_halt_threshold"),
    (["model.halting.eval_halt_threshold=auto"], "model.halting.eval_mode=adaptive"),
    (["train.stress={corrupt: 1.5}"], "train.stress.corrupt"),
    (["train.stress={corrupt: 0.6, unsolvable: 0.6}"], "keep the sum <= 1"),
])
def test_bad_values_are_one_line_recipe_errors(overrides, needle):
    with pytest.raises(HrmzooError) as err:
        load_recipe("cpu_sudoku6", overrides)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_continue_value_target_and_head():
    correct = torch.tensor([True, False, True])
    nxt = torch.tensor([0.9, 0.8, 0.3])
    target = continue_value_target(correct, nxt, torch.tensor([False, False, True]))
    assert torch.allclose(target, torch.tensor([0.1, 0.8, 0.0]))  # right -> may turn wrong; wrong -> may turn right; last: 0
    model = build_model("tiny_sudoku4", [*TINY, "model.halting.type=trm", "model.halting.continue_value_weight=0.5",
                                         "model.halting.max_segments=3"], seed=0)
    assert model.halting.head.out_features == 2
    terms = model.halting.loss(torch.zeros(3, 2), correct, torch.tensor([1, 1, 3]), lambda: torch.tensor([[2.0, 0.0]] * 3))
    assert set(terms) == {"halt", "continue_value"}
    default = build_model("tiny_sudoku4", [*TINY, "model.halting.type=trm"], seed=0)
    assert default.halting.head.out_features == 1  # TRM's checkpoints keep their shape


# ------------------------------------------------------------------ the threshold rule
def test_rule_takes_the_fewest_segments_within_the_tolerance():
    # 4 samples x 3 segments: all right at the budget; sample 3 is right only from segment 3
    exact = torch.tensor([[1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 0, 1]], dtype=torch.bool)
    conf = torch.tensor([[0.95, 0.99, 0.99], [0.92, 0.99, 0.99], [0.91, 0.96, 0.99], [0.2, 0.3, 0.5]])
    fitted = choose_threshold(exact, conf, tolerance=0.002)
    assert fitted["full_budget_exact"] == 1.0
    # 0.9 halts sample 2 at segment 1 while wrong; 0.93 keeps it to segment 2, right: mean (1 + 2 + 2 + 3) / 4
    assert fitted["threshold"] == 0.93 and fitted["exact"] == 1.0 and fitted["mean_segments"] == 2.0
    loose = choose_threshold(exact, conf, tolerance=0.25)  # one wrong in four is allowed: 0.5 is fewest
    assert loose["threshold"] == 0.5 and loose["exact"] == 0.75
    assert "within 0.2 points" in fitted["rule"]


# ------------------------------------------------------------------ auto never reads the test split
def _train_auto(data_root, run_dir):
    from hrmzoo.train.trainer import Trainer

    Trainer("tiny_sudoku4", [*TINY, "model.halting.type=trm", "model.halting.max_segments=3", "model.halting.eval_mode=adaptive",
                             "model.halting.eval_halt_threshold=auto", "model.halting.auto_threshold_examples=64",
                             "train.steps=8", "train.batch_size=16", "train.log_interval=4", "train.dtype=float32",
                             "train.threads=1", "train.progress=false"],
            run_dir=run_dir, data_root=data_root).run()
    return json.loads((run_dir / THRESHOLD_FILE).read_text())


def test_auto_threshold_never_reads_the_test_split(tmp_path):
    from hrmzoo.data.sudoku import build_sudoku

    root = build_sudoku(tmp_path / "s4", size=4, num_train=96, num_test=16, seed=3, num_aug=1)
    absent = tmp_path / "absent"
    shutil.copytree(root, absent)
    shutil.rmtree(absent / "test")  # no test split at all
    poisoned = tmp_path / "poisoned"
    shutil.copytree(root, poisoned)
    for name in ("all__inputs.npy", "all__labels.npy"):  # test arrays replaced by other puzzles' values
        arr = np.load(poisoned / "test" / name)
        np.save(poisoned / "test" / name, np.roll(arr, 1, axis=1))
    a = _train_auto(absent, tmp_path / "run_absent")
    b = _train_auto(poisoned, tmp_path / "run_poisoned")
    c = _train_auto(root, tmp_path / "run_clean")
    assert a == b == c  # the test split's presence and content change nothing
    assert a["held_out"]["split"] == "train" and a["held_out"]["examples"] >= 64
    assert 0 < a["threshold"] < 1 and "rule" in a
    # the held-out examples were not trained on: the sampler only sees the first ones
    from hrmzoo.data.splits import open_split

    recipe = load_recipe("tiny_sudoku4", [*TINY, "model.halting.type=trm", "model.halting.eval_mode=adaptive",
                                          "model.halting.eval_halt_threshold=auto", "model.halting.auto_threshold_examples=64"])
    view = training_split(recipe, open_split(absent, "train"))
    assert isinstance(view, TrainingView) and len(view) + len(view.held_out) == len(view.source)
    with pytest.raises(IndexError):
        view.get_batch([len(view)])
    # hrmzoo eval uses the fitted value and says which and why
    out = tmp_path / "eval.json"
    assert main(["eval", str(tmp_path / "run_clean"), f"data={root}", f"out={out}", "threads=1"]) == 0
    report = json.loads(out.read_text())
    assert report["halt_threshold"]["threshold"] == c["threshold"] and "unsure" in report["metrics"]


def test_auto_without_a_fitted_value_is_a_one_line_error():
    model = build_model("tiny_sudoku4", [*TINY, "model.halting.type=trm", "model.halting.eval_mode=adaptive",
                                         "model.halting.eval_halt_threshold=auto"], seed=0)
    with pytest.raises(HrmzooError, match="no fitted value"):
        model.halting.eval_wants_halt(torch.zeros(2, 1))


# ------------------------------------------------------------------ stress
def test_without_stress_or_auto_training_sees_the_dataset_itself(tmp_path):
    from hrmzoo.data.splits import open_split
    from hrmzoo.data.sudoku import build_sudoku

    root = build_sudoku(tmp_path / "s4", size=4, num_train=16, num_test=4, seed=1)
    data = open_split(root, "train")
    assert training_split(load_recipe("tiny_sudoku4"), data) is data


def test_stressed_sudoku_rows(tmp_path):
    from hrmzoo.data.splits import open_split
    from hrmzoo.data.sudoku import build_sudoku

    root = build_sudoku(tmp_path / "s6", size=6, num_train=64, num_test=4, seed=2)
    data = open_split(root, "train")
    idx = np.arange(64)
    clean = data.get_batch(idx)
    cfg = StressConfig(corrupt=0.3, unsolvable=0.3, seed=5)
    out = stress_batch(clean, idx, cfg, "sudoku")
    again = stress_batch(data.get_batch(idx), idx, cfg, "sudoku")
    assert all(torch.equal(out[k], again[k]) for k in out)  # a fixed draw per example
    bad = ~out["solvable"]
    changed = (out["inputs"] != clean["inputs"]).any(1)
    assert 8 < int(bad.sum()) < 32 and bool(changed[bad].all())
    for row in torch.nonzero(bad).flatten().tolist():
        grid = out["inputs"][row].view(6, 6)
        assert (out["labels"][row] == IGNORE_INDEX).all()
        assert any(len(set(r[r >= 2].tolist())) < int((r >= 2).sum()) for r in grid)  # a digit twice in a row
    corrupt = changed & ~bad
    assert int(corrupt.sum()) > 8
    assert torch.equal(out["labels"][corrupt], clean["labels"][corrupt])  # the original solution is the target
    untouched = ~changed
    assert torch.equal(out["inputs"][untouched], clean["inputs"][untouched])


def _reachable(inputs, n):
    grid = inputs.view(n, n)
    start = tuple(torch.nonzero(grid == maze_data.START)[0].tolist())
    goal = tuple(torch.nonzero(grid == maze_data.GOAL)[0].tolist())
    seen, todo = {start}, deque([start])
    while todo:
        y, x = todo.popleft()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            v = (y + dy, x + dx)
            if 0 <= v[0] < n and 0 <= v[1] < n and v not in seen and int(grid[v]) != maze_data.WALL:
                seen.add(v)
                todo.append(v)
    return goal in seen


def test_unsolvable_mazes_have_no_path(tmp_path):
    from hrmzoo.data.splits import open_split

    root = maze_data.build_maze(tmp_path / "m", size=8, num_train=24, num_test=2, seed=0)
    data = open_split(root, "train")
    idx = np.arange(24)
    clean = data.get_batch(idx)
    out = stress_batch(clean, idx, StressConfig(unsolvable=1.0), "maze")
    assert int((~out["solvable"]).sum()) >= 18  # all but mazes whose start touches the goal (nothing to wall)
    for row in range(24):
        assert _reachable(clean["inputs"][row], 8)
        assert _reachable(out["inputs"][row], 8) == bool(out["solvable"][row])


def test_unsolvable_needs_a_rule_for_the_task():
    recipe = load_recipe("cpu_logic", ["train.stress={unsolvable: 0.1}"])
    with pytest.raises(HrmzooError, match="no rule makes a 'logic' input unsolvable"):
        training_split(recipe, list(range(10)))


def test_an_unsolvable_row_is_never_right_for_the_halting_loss():
    model = build_model("tiny_sudoku4", [*TINY, "model.halting.type=trm", "model.halting.max_segments=2"], seed=0)
    batch = {"inputs": torch.full((2, 16), 2), "labels": torch.full((2, 16), IGNORE_INDEX),  # every answer "right"
             "puzzle_identifiers": torch.zeros(2, dtype=torch.long), "solvable": torch.tensor([True, False])}
    _, res = segment_step(model, new_carry(model, batch), batch, training=True)
    assert res.exact.tolist() == [True, False]


# ------------------------------------------------------------------ selective prediction figures
def test_auroc_and_risk_coverage():
    conf = torch.tensor([0.9, 0.8, 0.7, 0.2, 0.1])
    assert auroc(conf, torch.tensor([1, 1, 1, 0, 0])) == 1.0
    assert auroc(conf, torch.tensor([0, 0, 0, 1, 1])) == 0.0
    assert auroc(torch.full((4,), 0.5), torch.tensor([1, 0, 1, 0])) == 0.5  # ties count half
    assert auroc(conf, torch.ones(5)) is None
    rc = risk_coverage(conf, torch.tensor([1, 1, 0, 1, 0]), points=5)
    assert rc["accuracy"] == pytest.approx([1.0, 1.0, 2 / 3, 0.75, 0.6])


def test_segments_by_bucket_and_unsolvable_rates():
    rows = segments_by_bucket(torch.tensor([1, 3, 2, 4]), torch.tensor([1, 0, 1, 1]), np.array([9, 5, 9, 5]))
    assert [(r["bucket"], r["mean_segments"]) for r in rows] == [("5-8", 3.5), (">=9", 1.5)]
    conf = torch.tensor([[0.2, 0.95], [0.1, 0.3], [0.99, 0.99]])
    st = unsolvable_stats(conf, torch.tensor([2, 2, 1]), torch.tensor([False, False, True]))
    assert st["unsolvable"] == 2 and st["confident_halt"] == 0.5 and st["unsure"] == 1.0


def test_halting_cli_writes_the_new_panels(tmp_path):
    from hrmzoo.data.sudoku import build_sudoku

    root = build_sudoku(tmp_path / "s4", size=4, num_train=32, num_test=16, seed=3)
    model = build_model("tiny_sudoku4", [*TINY, "model.halting.type=trm", "model.halting.max_segments=3"], seed=0)
    from hrmzoo.persistence.checkpoint import save_model

    ckpt = save_model(model, tmp_path / "m.safetensors")
    out = tmp_path / "out"
    assert main(["halting", str(ckpt), f"data={root}", "by=givens", f"out={out}", "threads=1", "noise=0"]) == 0
    report = json.loads((out / "halting.json").read_text())
    for run in ("clean", "stress"):
        st = report[run]
        assert "auroc_at_halt" in st and st["risk_coverage"]["coverage"][-1] == 1.0 and st["segments_by_bucket"]
    assert report["stress"]["unsolvable_inputs"]["unsolvable"] > 0
    from PIL import Image

    assert Image.open(out / "halting.png").size[1] > 700  # two rows of panels


# ------------------------------------------------------------------ mixed difficulty under stress
MIXED = ("data={type: mix, tasks: [{name: easy, data: {type: sudoku, size: 4, num_train: 48, num_test: 16, givens: [10, 12], seed: 1}}, "
         "{name: hard, data: {type: sudoku, size: 4, num_train: 48, num_test: 16, givens: [4, 6], seed: 2}}]}")


def test_stress_task_reads_through_a_mixture_of_one_task():
    from hrmzoo.data.stress import stress_task

    assert stress_task(load_recipe("tiny_sudoku4", [MIXED]).data) == "sudoku"
    assert stress_task(load_recipe("tiny_sudoku4").data) == "sudoku" and stress_task(None) == "path"
    both = ("data={type: mix, tasks: [{name: s, data: {type: sudoku, size: 4, num_train: 8}}, "
            "{name: m, data: {type: maze, size: 4, num_train: 8}}]}")
    assert stress_task(load_recipe("tiny_sudoku4", [both]).data) == "mix"


def test_mixed_difficulty_trains_under_stress_and_its_halting_is_analysed(tmp_path):
    from hrmzoo.data.splits import open_split
    from hrmzoo.train.trainer import Trainer

    run = tmp_path / "run"
    Trainer("tiny_sudoku4", [*TINY, MIXED, "model.halting.type=trm", "model.halting.max_segments=2", "train.steps=4",
                             "train.batch_size=16", "train.warmup_steps=1", "train.dtype=float32", "train.threads=1",
                             "train.progress=false", f"train.data_cache={tmp_path / 'cache'}",
                             "train.stress={corrupt: 0.2, unsolvable: 0.3}"], run_dir=run).run()
    recipe = load_recipe("tiny_sudoku4", [MIXED, "train.stress={unsolvable: 0.3}"])
    view = training_split(recipe, open_split(next((tmp_path / "cache").iterdir()), "train"))
    batch = view.get_batch(np.arange(len(view)))
    assert 0 < int((~batch["solvable"]).sum()) < len(view)  # rows of both difficulties are made unsolvable
    out = tmp_path / "halting"
    assert main(["halting", str(run), "noise=0", "threads=1", f"out={out}"]) == 0
    stress = json.loads((out / "halting.json").read_text())["stress"]
    assert stress["unsolvable_inputs"]["unsolvable"] > 0
