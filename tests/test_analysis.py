"""Inference-budget sweep and halting analysis: unit checks on hand-made records, and
end-to-end runs (API and CLI) on a tiny Sudoku-4 checkpoint trained for a few steps."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from hrmzoo import build_model, load_model, save_model
from hrmzoo.analysis.evalrun import load_for_eval
from hrmzoo.analysis.halting import analyze_halting, corrupt_givens, halting_stats, reliability, threshold_tradeoff
from hrmzoo.analysis.sweep import budget_rows, run_sweep
from hrmzoo.cli import main
from hrmzoo.data.prepare import prepare_data
from hrmzoo.evaluate import evaluate
from hrmzoo.heads.lm import IGNORE_INDEX
from hrmzoo.model.segment_loop import new_carry, segment_step
from tests.helpers import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run dir, dataset root): tiny_sudoku4 shrunk, trained 6 steps on its own generated data."""
    tmp = tmp_path_factory.mktemp("analysis")
    overrides = [*TINY, "data.num_train=64", "data.num_test=24", "data.num_aug=0", f"train.data_cache={tmp / 'cache'}"]
    model = build_model("tiny_sudoku4", overrides, seed=0)
    root = prepare_data(model.recipe.data, tmp / "cache")
    from hrmzoo.data.splits import open_split, ordered_batches

    batches = list(ordered_batches(open_split(root, "train"), 16))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    carry = new_carry(model, batches[0])
    for i in range(6):
        carry, res = segment_step(model, carry, batches[i % len(batches)], training=True, generator=torch.Generator().manual_seed(i))
        res.loss.backward()
        opt.step()
        opt.zero_grad()
    run = tmp / "run"
    save_model(model, run / "model.safetensors")
    return run, root


def _records(exact, halt, conf=None):
    exact = torch.tensor(exact, dtype=torch.bool)
    conf = torch.full(exact.shape, float("nan")) if conf is None else torch.tensor(conf)
    halt = torch.tensor(halt)
    return {"exact_per_segment": exact, "halt_confidence_per_segment": conf, "halt_step": halt,
            "exact": exact.gather(1, (halt - 1).unsqueeze(1)).squeeze(1)}


def test_budget_rows_fixed_and_adaptive():
    rec = _records([[0, 1, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0]], [2, 4, 1], conf=[[0.1] * 4] * 3)
    rows = {r["segments"]: r for r in budget_rows(rec, [1, 2, 4], 10.0, 2)}
    assert rows[1]["exact_accuracy"] == pytest.approx(1 / 3)
    assert rows[2]["exact_accuracy"] == pytest.approx(2 / 3)
    assert rows[4]["exact_accuracy"] == pytest.approx(2 / 3)
    assert rows[4]["flops_per_sample"] == 40.0
    # adaptive under a budget of 2: stops at (2, 2, 1) -> right, wrong, right
    assert rows[2]["adaptive_accuracy"] == pytest.approx(2 / 3)
    assert rows[2]["adaptive_mean_segments"] == pytest.approx(5 / 3)
    assert rows[4]["adaptive_mean_segments"] == pytest.approx(7 / 3)
    assert "adaptive_accuracy" not in budget_rows(_records([[1]], [1]), [1], 1.0, 1)[0]


def test_halting_stats_early_stop_and_overthinking():
    rec = _records(
        [[0, 0, 1, 1],   # halts at 1 wrong, right later: stopped too early
         [1, 1, 0, 0],   # halts at 4 wrong, was right at 1: overthinking, wrong at halt
         [0, 1, 1, 1],   # halts at 3 right, right since 2: overthinking (1 wasted segment)
         [0, 0, 0, 0]],  # never right
        [1, 4, 3, 2],
        conf=[[0.9, 0.9, 0.9, 0.9]] * 4,
    )
    st = halting_stats(rec, bins=10)
    assert st["halt_step_counts"] == {"1": 1, "2": 1, "3": 1, "4": 1}
    assert st["accuracy_by_halt_step"] == {"1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0}
    assert st["stopped_too_early"] == 0.25
    assert st["overthinking"] == 0.5
    assert st["overthinking_wrong_at_halt"] == 0.25
    assert st["mean_wasted_segments"] == pytest.approx((3 + 1) / 2)
    assert st["oracle_exact"] == 0.75 and st["exact_at_halt"] == 0.25
    right_share = rec["exact_per_segment"].float().mean().item()
    assert st["calibration_all_segments"]["ece"] == pytest.approx(abs(0.9 - right_share))


def test_threshold_tradeoff_halts_at_first_confident_segment():
    exact = torch.tensor([[0, 1, 1, 1], [0, 0, 0, 1], [1, 0, 0, 0]], dtype=torch.bool)
    conf = torch.tensor([[0.6, 0.8, 0.95, 0.99], [0.2, 0.3, 0.4, 0.5], [float("nan")] * 4])
    rows = {r["threshold"]: r for r in threshold_tradeoff(exact, conf, [0.5, 0.9, 0.99])}
    # 0.5: steps (1, 4, 4) -> wrong, right, wrong; 0.9: (3, 4, 4); 0.99: nothing above it, all at the budget
    assert rows[0.5]["mean_segments"] == pytest.approx(9 / 3) and rows[0.5]["exact"] == pytest.approx(1 / 3)
    assert rows[0.9]["mean_segments"] == pytest.approx(11 / 3) and rows[0.9]["exact"] == pytest.approx(2 / 3)
    assert rows[0.99]["mean_segments"] == 4.0 and rows[0.99]["exact"] == pytest.approx(2 / 3)
    assert halting_stats(_records(exact.int().tolist(), [1, 4, 4], conf.tolist()), thresholds=[0.9])["threshold_tradeoff"][0] == rows[0.9]


@pytest.mark.parametrize("halting", ["q_learning", "trm", "pondernet"])
def test_eval_halt_threshold_replaces_the_rule_at_evaluation_only(halting):
    policy = build_model("tiny_sudoku4", [*TINY, f"model.halting.type={halting}", "model.halting.eval_mode=adaptive",
                                          "model.halting.max_segments=4", "model.halting.eval_halt_threshold=0.8"]).halting
    logits = torch.tensor([[2.0, 5.0], [1.0, -3.0], [-1.0, -4.0]])[:, : policy.head.out_features]
    steps = torch.ones(3, dtype=torch.long)
    # sigmoid(2) = 0.88 > 0.8 halts even where q_continue is larger; sigmoid(1) = 0.73 does not
    assert policy.should_halt(logits, steps, None, training=False).tolist() == [True, False, False]
    if halting != "pondernet":  # pondernet samples its training decisions
        assert torch.equal(policy.should_halt(logits, steps, None, training=True), policy.wants_halt(logits))
    policy.cfg = policy.cfg.model_copy(update={"eval_halt_threshold": None})
    assert torch.equal(policy.should_halt(logits, steps, None, training=False), policy.wants_halt(logits))
    # under eval_mode=max the threshold changes nothing, not even the recorded halt wish
    policy.cfg = policy.cfg.model_copy(update={"eval_halt_threshold": 0.8, "eval_mode": "max"})
    assert torch.equal(policy.eval_wants_halt(logits), policy.wants_halt(logits))


@pytest.mark.parametrize("overrides,needle", [
    (["model.halting.eval_mode=adaptive", "model.halting.eval_halt_threshold=1.5"], "eval_halt_threshold"),
    (["model.halting.eval_halt_threshold=0.9"], "model.halting.eval_mode=adaptive"),  # a silent no-op otherwise
])
def test_eval_halt_threshold_errors_are_one_line(overrides, needle):
    from hrmzoo.errors import RecipeError

    with pytest.raises(RecipeError) as exc:
        build_model("tiny_sudoku4", [*TINY, *overrides])
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_threshold_table_matches_evaluation_at_that_threshold(trained, tmp_path):
    """The analysis's offline table is what `eval_halt_threshold` does when evaluating."""
    run, root = trained
    model = load_model(run)
    with torch.no_grad():  # a head whose confidence varies over samples and segments
        torch.manual_seed(0)
        model.halting.head.weight.normal_(0, 0.15)
        model.halting.head.bias.zero_()
    ckpt = tmp_path / "varied.safetensors"
    save_model(model, ckpt)
    thresholds = (0.3, 0.5, 0.8)
    rep = analyze_halting(ckpt, root, noise=0.0, batch_size=16, thresholds=thresholds)
    rows = rep.clean["threshold_tradeoff"]
    assert len({r["mean_segments"] for r in rows}) > 1, "the head should halt at different segments per threshold"
    for row in rows:
        m = load_for_eval(ckpt, ["model.halting.eval_mode=adaptive", f"model.halting.eval_halt_threshold={row['threshold']}"])
        metrics = evaluate(m, root, batch_size=16).metrics
        assert metrics["mean_segments"] == pytest.approx(row["mean_segments"])
        assert metrics["exact_accuracy"] == pytest.approx(row["exact"])
    # a threshold already set (recipe or override) does not change the report's "own rule" figures
    with_t = analyze_halting(ckpt, root, noise=0.0, batch_size=16, thresholds=thresholds,
                             overrides=["model.halting.eval_mode=adaptive", "model.halting.eval_halt_threshold=0.8"])
    assert with_t.clean["mean_halt_step"] == rep.clean["mean_halt_step"]
    assert with_t.clean["exact_at_halt"] == rep.clean["exact_at_halt"]


def test_reliability_ece():
    conf = torch.tensor([0.05, 0.05, 0.95, 0.95])
    assert reliability(conf, torch.tensor([0, 0, 1, 1]))["ece"] == pytest.approx(0.05)
    out = reliability(torch.ones(4), torch.tensor([1, 0, 1, 0]))
    assert out["ece"] == pytest.approx(0.5) and out["bin_count"][-1] == 4
    assert reliability(torch.tensor([float("nan")]), torch.tensor([1]))["count"] == 0


def test_corrupt_givens_changes_only_givens():
    labels = torch.tensor([[2, 3, 4, 5] * 4] * 8)
    inputs = labels.clone()
    inputs[:, ::2] = 1  # blanks
    labels[0, 0] = IGNORE_INDEX
    batch = {"inputs": inputs, "labels": labels, "puzzle_identifiers": torch.zeros(8, dtype=torch.long)}
    out = corrupt_givens(batch, 0.5, torch.Generator().manual_seed(0))
    changed = out["inputs"] != inputs
    assert changed.any()
    assert not changed[:, ::2].any()  # blanks untouched
    assert torch.equal(out["labels"], labels)
    assert ((out["inputs"][changed] >= 2) & (out["inputs"][changed] <= 5)).all()
    assert 0.3 < changed[:, 1::2].float().mean() < 0.7
    assert torch.equal(corrupt_givens(batch, 0.0, torch.Generator())["inputs"], inputs)


def test_sweep_matches_evaluator(trained):
    run, root = trained
    res = run_sweep(run, root, l_cycles=[1, 2], segments=[1, 2, 4], batch_size=16)
    assert [(r["l_cycles"], r["segments"]) for r in res.rows] == [(l, k) for l in (1, 2) for k in (1, 2, 4)]
    assert res.info["trained"] == {"l_cycles": 2, "max_segments": 4}
    # the trained setting at its full budget is what the evaluator reports with eval_mode=max
    ref = evaluate(load_model(run), root, batch_size=16).metrics["exact_accuracy"]
    row = next(r for r in res.rows if r["l_cycles"] == 2 and r["segments"] == 4)
    assert row["exact_accuracy"] == pytest.approx(ref)
    flops = {r["l_cycles"]: r["flops_per_sample"] for r in res.rows if r["segments"] == 1}
    assert flops[1] < flops[2]
    for r in res.rows:
        assert 1 <= r["adaptive_mean_segments"] <= r["segments"]


def test_halting_analysis_runs(trained):
    run, root = trained
    rep = analyze_halting(run, root, noise=0.3, batch_size=16)
    for st in (rep.clean, rep.noisy):
        assert sum(st["halt_step_counts"].values()) == st["num_examples"] == 24
        assert 0 <= st["calibration_all_segments"]["ece"] <= 1
        assert st["stopped_too_early"] + st["exact_at_halt"] <= st["oracle_exact"] + 1e-9


def test_cli_sweep_and_halting_write_png(trained, tmp_path, capsys):
    run, root = trained
    out = tmp_path / "out"
    assert main(["sweep", f"ckpt={run}", "l_cycles=[1,2]", "segments=[1,2]", "device=cpu", "batch_size=16", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "l_cycles" in text and "JSON: " in text
    assert len(json.loads((out / "sweep.json").read_text())["rows"]) == 4
    assert main(["halting", f"ckpt={run}", f"data={root}", "noise=0.2", "device=cpu", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "stopped too early" in text and "ECE" in text and "confidence > 0.99" in text
    assert main(["halting", f"ckpt={run}", f"data={root}", "noise=0", "device=cpu", f"out={out}", "thresholds=[0.6,0.9]"]) == 0
    text = capsys.readouterr().out
    assert "confidence > 0.6 " in text and "confidence > 0.99" not in text
    for name in ("sweep.png", "halting.png"):
        with Image.open(out / name) as img:
            img.verify()
            assert img.format == "PNG"


def test_cli_threads_option_and_recipe_default(trained, tmp_path, monkeypatch):
    run, root = trained
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    base = ["eval", f"ckpt={run}", f"data={root}", "device=cpu", "limit=4", f"out={tmp_path / 'e.json'}", "force=true"]
    assert main([*base, "threads=1"]) == 0 and calls == [1]
    assert main(base) == 0 and calls == [1]  # the recipe sets no train.threads: torch's default stays
    assert main([*base, "train.threads=2"]) == 0 and calls == [1, 2]  # the recipe's threads are the default
    assert main(["halting", f"ckpt={run}", f"data={root}", "noise=0", "device=cpu", "threads=1", f"out={tmp_path}"]) == 0
    assert calls == [1, 2, 1]


@pytest.mark.parametrize("args,needle", [
    (["sweep", "l_cycles=[1]"], "no checkpoint"),
    (["sweep", "ckpt={run}", "l_cycles=[0,2]"], "positive integers"),
    (["halting", "ckpt={run}", "noise=2"], "noise=2"),
    (["halting", "ckpt={run}", "bogus"], "one CKPT per command"),
    (["halting", "ckpt={run}", "bogus=1"], "neither"),
    (["halting", "ckpt={run}", "thresholds=[0.5,1.2]"], "thresholds="),
    (["halting", "ckpt={run}", "thresholds=[a]"], "thresholds="),
    (["eval", "ckpt={run}", "threads=0"], "threads=0"),
    (["sweep", "ckpt={run}", "l_cycles=[1]", "threads=x"], "threads=x"),
])
def test_cli_errors_are_one_line(trained, capsys, args, needle):
    run, _ = trained
    assert main([a.format(run=run) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
