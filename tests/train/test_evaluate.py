"""The evaluation loop: answers at each sample's own halt step, budgets, activity, ARC voting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrmzoo import build_model
from hrmzoo.evaluate import evaluate, format_activity
from hrmzoo.evaluate.arc import arc_pass_at_k
from tests.train.conftest import TINY

MODEL = [o for o in TINY if o.startswith("model.")]


def tiny(*overrides: str):
    return build_model("tiny_sudoku4", [*MODEL, *overrides], seed=1)


def batches(model, n_batches=2, B=6, seed=0):
    """Random puzzles; half of each batch is labelled with the model's own segment-1 answer (so exact)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        x = torch.randint(1, 6, (B, 16), generator=g)
        batch = {"inputs": x, "labels": torch.randint(2, 6, (B, 16), generator=g), "puzzle_identifiers": torch.zeros(B, dtype=torch.long)}
        with torch.no_grad():
            batch["labels"][: B // 2] = model(batch).logits.argmax(-1)[: B // 2]
        out.append(batch)
    return out


def spread_halting(model):
    """Random halt head, centred so that about half of a probe batch halts after segment 1
    and the rest later: samples then halt at different segments whatever the weights."""
    torch.manual_seed(0)
    head = model.halting.head
    with torch.no_grad():
        head.weight.normal_(0, 0.5)
        head.bias.zero_()
        probe = {"inputs": torch.randint(1, 6, (12, 16)), "puzzle_identifiers": torch.zeros(12, dtype=torch.long)}
        logits = model(probe).halt_logits
        margin = logits[:, 0] - logits[:, 1] if logits.shape[1] == 2 else logits[:, 0]
        head.bias[0] = -margin.median()


def manual(model, data):
    """Reference: the first segment at which each sample halts, and its exactness there."""
    steps, exact = [], []
    S = model.halting.max_segments
    for batch in data:
        state, done = None, torch.zeros(batch["inputs"].shape[0], dtype=torch.bool)
        stop = torch.zeros_like(done, dtype=torch.long)
        right = torch.zeros_like(done)
        with torch.no_grad():
            for s in range(1, S + 1):
                out = model(batch, state)
                state = out.state
                halt = model.halting.should_halt(out.halt_logits, torch.full_like(stop, s), None, False)
                ok = ((out.logits.argmax(-1) == batch["labels"]) | (batch["labels"] < 0)).all(-1)
                new = halt & ~done
                stop[new], right[new] = s, ok[new]
                done |= halt
        steps.append(stop)
        exact.append(right)
    return torch.cat(steps), torch.cat(exact)


@pytest.mark.parametrize("halting", ["trm", "q_learning"])
def test_adaptive_answers_at_own_halt_step(halting):
    model = tiny(f"model.halting.type={halting}", "model.halting.max_segments=4", "model.halting.eval_mode=adaptive")
    spread_halting(model)
    data = batches(model)
    result = evaluate(model, data, keep_predictions=True, run_all_segments=True)
    steps, exact = manual(model, data)
    assert torch.equal(result.samples["halt_step"], steps)
    assert len(set(steps.tolist())) > 1  # the test means something only if halting varies
    assert torch.equal(result.samples["exact"], exact)
    picked = result.samples["exact_per_segment"].gather(1, (steps - 1).unsqueeze(1)).squeeze(1)
    assert torch.equal(picked, exact)
    m = result.metrics
    assert m["mean_segments"] == pytest.approx(steps.float().mean().item())
    assert m["exact_accuracy"] == pytest.approx(exact.float().mean().item())
    assert m["exact_by_segment"][0] >= 0.5  # half the labels are the segment-1 answers
    agree = (result.samples["halt_decision"] == result.samples["exact"]).float().mean()
    assert m["halting_accuracy"] == pytest.approx(float(agree))
    assert result.samples["predictions"].shape == (12, 16)


def test_max_mode_and_budget():
    model = tiny("model.halting.type=trm", "model.halting.max_segments=3")  # eval_mode max (default)
    spread_halting(model)
    data = batches(model)
    full = evaluate(model, data)
    assert full.metrics["mean_segments"] == 3 and full.metrics["eval_mode"] == "max"
    assert full.samples["segment_ran"].all()
    short = evaluate(model, data, max_segments=2)
    assert short.samples["halt_step"].max() == 2 and short.metrics["max_segments"] == 2
    assert not short.samples["segment_ran"][:, 2:].any()
    fixed = evaluate(tiny("model.halting.type=fixed", "model.halting.max_segments=2"), data)
    assert fixed.metrics["halting_accuracy"] is None and fixed.metrics["mean_segments"] == 2


def test_evaluate_reads_a_dataset_directory(sudoku4):
    model = tiny()
    result = evaluate(model, sudoku4, batch_size=5, limit=12)
    assert result.metrics["num_examples"] == 12
    json.dumps(result.to_dict(with_samples=True))  # JSON-ready


def test_activity_table_from_controller_trace():
    model = tiny("model.controller.type=quaternion", "model.controller.head_width=8", "model.halting.max_segments=2")
    result = evaluate(model, batches(model, 1))
    act = result.activity
    assert act, "the quaternion controller reports a trace"
    # hierarchical h_cycles=1, l_cycles=2 in TINY: two L calls and one H call per segment
    per_seg = {name: a["calls_per_segment"] for name, a in act.items()}
    assert sorted(set(per_seg.values())) <= [1.0, 2.0]
    assert all(set(a["by_segment"]) == {"1", "2"} for a in act.values())
    table = format_activity(act)
    assert all(name in table for name in act)


def _arc_fixture(tmp_path):
    """An ARC-like test split: task 'a' with one test output, four augmented test examples."""
    from hrmzoo.data.arc import AugSpec, TEST_META_FILE, augment_example

    answer = np.array([[1, 2], [3, 0], [4, 4]])
    wrong = np.array([[5]])
    specs = [AugSpec(), AugSpec(1, (0, 2, 1, 3, 4, 5, 6, 7, 8, 9)), AugSpec(5, (0, 9, 8, 7, 6, 5, 4, 3, 2, 1)), AugSpec(2)]
    (tmp_path / "test").mkdir()
    meta = {"examples": [{"task_id": "a", "test_index": 0, "puzzle_identifier": i + 1, "aug": s.to_json(), "offset": [0, 0]} for i, s in enumerate(specs)],
            "test_outputs": {"a": [answer.tolist()]}}
    (tmp_path / "test" / TEST_META_FILE).write_text(json.dumps(meta))

    def preds(which):
        return torch.tensor(np.stack([augment_example(answer if w else wrong, s).reshape(-1) for w, s in zip(which, specs)]))

    return preds


def test_arc_voting(tmp_path):
    preds = _arc_fixture(tmp_path)
    conf = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # three of four variants agree after inverting their augmentation
    r = arc_pass_at_k(tmp_path, preds([1, 1, 1, 0]), conf)
    assert r["pass@1"] == 1.0 and r["pass@2"] == 1.0 and r["num_tasks"] == 1
    # the wrong answer wins the vote: pass@2 only
    r = arc_pass_at_k(tmp_path, preds([1, 0, 0, 0]), conf)
    assert r["pass@1"] == 0.0 and r["pass@2"] == 1.0
    # a tie: mean halt confidence decides
    assert arc_pass_at_k(tmp_path, preds([1, 1, 0, 0]), conf)["pass@1"] == 1.0
    assert arc_pass_at_k(tmp_path, preds([0, 0, 1, 1]), conf)["pass@1"] == 0.0
