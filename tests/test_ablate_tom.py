"""experiments/controllers/ablate_tom.py pieces on a tiny theory-of-mind mix: per-kind scoring, belief split, floors, activity."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hrmzoo import build_model
from hrmzoo.data.prepare import prepare_data
from tests.helpers import tuned_heads_plugin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "controllers"))

import ablate_tom  # noqa: E402

KINDS = ("visibility", "belief", "reality", "path")


@pytest.fixture(scope="module")
def mix_root(tmp_path_factory):
    spec = {"type": "mix", "tasks": [{"name": k, "data": {"type": "tom", "kind": k, "view_radius": 2, "max_goal_dist": 4,
                                                         "num_train": 4, "num_test": 10, "seed": 1}} for k in KINDS]}
    return prepare_data(spec, tmp_path_factory.mktemp("cache"))


def test_score_run_reports_every_kind_and_the_belief_split(mix_root):
    torch.manual_seed(0)
    model = build_model(str(ROOT / "experiments" / "controllers" / "tom_quaternion.yaml"), seed=0)
    out = ablate_tom.score_run(model, Path(mix_root), batch_size=7)
    exact = out["exact"]
    assert set(exact) == {*KINDS, "belief_true_belief", "belief_false_belief", "reality_true_belief", "reality_false_belief", "all"}
    assert all(0.0 <= v <= 100.0 for v in exact.values())
    # every head reports, for every kind, at every one of the 4 segments
    for kind in KINDS:
        assert {n.split("/")[0] for n in out["activity"][kind]} == {"FF", "FE", "SF", "SE"}
        assert all(len(by_seg) == 4 for by_seg in out["activity"][kind].values())


def test_belief_floor_follows_the_recorded_flag(mix_root):
    """Answering the object's current cell is right exactly on the true-belief questions; the floor is the better fixed rule."""
    from hrmzoo.data import tom

    task = next(t for t in ablate_tom.read_mix(Path(mix_root)) if t.name == "belief")
    fb = np.load(task.root / "test" / "extra__false_belief.npy").astype(bool)
    assert fb.any() and (~fb).any()
    floors = ablate_tom.floors(Path(mix_root))
    x = np.load(task.root / "test" / "all__inputs.npy")
    y = np.load(task.root / "test" / "all__labels.npy")
    now = (x[:, 8:] == tom.OBJ_AFTER) == (y[:, 8:] == tom.YES)
    assert (now.all(axis=1) == ~fb).all()
    best = max((~fb).mean(), fb.mean()) * 100
    assert floors["belief"].startswith(f"{best:.1f}%")
    assert floors["reality"].startswith("100.0%")


def test_score_run_counts_which_object_cells_the_belief_answers_mark(mix_root):
    torch.manual_seed(0)
    model = build_model(str(ROOT / "experiments" / "controllers" / "tom_none.yaml"), seed=0)
    marks = ablate_tom.score_run(model, Path(mix_root), batch_size=7)["marks"]
    assert set(marks) == {"belief", "reality"}
    for m in marks.values():
        assert sum(m[k] for k in ("first_only", "now_only", "both", "neither")) == pytest.approx(100.0)


def test_object_marks_tells_the_failure_modes_apart():
    from hrmzoo.data import tom

    size = 6  # 42 tokens: a header row of 6, then the 6x6 map
    x = np.full((4, 42), tom.OPEN, np.uint8)
    x[:, 6], x[:, 7] = tom.OBJ_BEFORE, tom.OBJ_AFTER
    p = np.full((4, 42), tom.NO, np.uint8)
    p[0, 6] = tom.YES  # first cell only (right on a false-belief question)
    p[1, 7] = tom.YES  # cell now only
    p[2, 6] = p[2, 7] = tom.YES  # both
    m = ablate_tom.object_marks(x, p, np.array([1, 0, 0, 1]))  # row 3: neither
    assert size * (size + 1) == x.shape[1]
    assert m == {"first_only": 25.0, "now_only": 25.0, "both": 25.0, "neither": 25.0, "false_belief_first_only": 50.0, "true_belief_now_only": 50.0}


def test_steps_text_lists_each_seeds_steps_under_a_wall_budget():
    assert ablate_tom.steps_text([{"steps": 300}, {"steps": 300}]) == "300"
    assert ablate_tom.steps_text([{"steps": 310}, {"steps": 295}]) == "310/295"


def test_merge_runs_takes_the_named_recipes_and_lets_later_rows_replace_earlier(tmp_path):
    import json

    def saved(folder, args, runs):
        folder.mkdir()
        (folder / "ablate_tom.json").write_text(json.dumps({"args": args, "runs": runs, "mix_root": "/data/mix"}))

    row = lambda seed, steps, **kw: {"seed": seed, "steps": steps, "exact": {"belief": float(seed)}, **kw}  # noqa: E731
    old_args = {"recipes": ["tom_none", "tom_film"], "seeds": [0, 1], "budget_s": 300.0, "steps": None, "threads": 1, "overrides": []}
    saved(tmp_path / "old", old_args, {"tom_none": [row(0, 1824), row(1, 2227)], "tom_film": [row(0, 2886)]})
    new_cmd = "python experiments/controllers/ablate_tom.py --recipes tom_none --seeds 1 --steps 2000 --threads 1"
    saved(tmp_path / "new", {**old_args, "steps": 2000}, {"tom_none": [row(1, 2000, budget="2000 steps", command=new_cmd)], "tom_film": [row(2, 2000)]})

    runs, mix_root = ablate_tom.merge_runs([f"{tmp_path / 'old'}=tom_none", str(tmp_path / "new")])
    assert mix_root == Path("/data/mix")
    assert list(runs) == ["tom_none", "tom_film"]  # the script's order; the old tom_film row was not asked for
    assert [(r["seed"], r["steps"], r["budget"]) for r in runs["tom_none"]] == [(0, 1824, "300 s"), (1, 2000, "2000 steps")]
    assert runs["tom_none"][0]["command"] == "python experiments/controllers/ablate_tom.py --recipes tom_none --seeds 0 --budget-s 300 --threads 1"
    assert runs["tom_none"][1]["command"] == new_cmd
    assert [r["seed"] for r in runs["tom_film"]] == [2] and runs["tom_film"][0]["budget"] == "2000 steps"


def test_a_merged_report_writes_each_seeds_budget_and_command(mix_root, tmp_path):
    import argparse

    import yaml

    exact = {k: 50.0 for k in KINDS}
    rows = [{"seed": 0, "steps": 1824, "budget": "300 s", "command": "cmd-a", "train_wall_s": 300.1, "params": 10, "exact": exact, "activity": {}},  # saved before loads were
            {"seed": 2, "steps": 2000, "budget": "2000 steps", "command": "cmd-b", "train_wall_s": 700.0, "load": [7.0, 8.25], "params": 10, "exact": exact, "activity": {}}]
    args = argparse.Namespace(plot=None, results=str(tmp_path), hardware="test box", threads=1, steps=None, budget_s=240.0, seeds=[0, 2], overrides=[])
    ablate_tom.report(args, {"tom_none": rows}, Path(mix_root))
    out = yaml.safe_load((tmp_path / "results_history.yaml").read_text())["results"]  # tom_none is an experiment recipe
    assert {r["metric"] for r in out} == {f"exact_accuracy/{k}" for k in KINDS}
    r = out[0]
    assert r["command"] == "cmd-a; cmd-b" and r["seeds"] == 2
    assert r["notes"].startswith("per seed: seed 0 300 s (1824 steps), seed 2 2000 steps (2000 steps)")
    assert "load average 7.0 to 8.2 at the runs' starts and ends (recorded for 1 of 2 runs)" in r["notes"] and "seed-paired seeds 0, 2" in r["notes"]


def test_trace_controller_logs_activity_state_scale_and_logits(tmp_path):
    import trace_controller

    tiny = ["model.hidden_size=16", "model.l_block.num_layers=1", "model.h_block.num_layers=1", "train.batch_size=4",
            "imports=[experiments.controllers.tuned_heads]",
            "model.controller={type: quaternion_tuned, num_task_families: 1, head_width: 4, modulation_bound: 0.5}"]
    with tuned_heads_plugin():
        rows = trace_controller.main(["tiny_sudoku4", "--steps", "3", "--every", "2", "--run-dir", str(tmp_path / "run"), *tiny])
    assert [r["step"] for r in rows] == [1, 2]
    first, last = rows
    assert set(first["activity"]) == {"FF/l_step", "FE/l_context", "SF/h_message", "SE/h_step"}
    assert all(v == 0.0 for v in first["activity"].values())  # identity at init
    assert all(0.0 < v <= 0.5 for v in last["activity"].values())  # moved after one step, within the bound
    assert set(first["state_rms"]) == {"z_H", "z_L"} and first["logit_abs_mean"] > 0
    assert "loss/lm" in first["loss"] and "lr" not in first["loss"]


@pytest.fixture
def fake_compare_runs(monkeypatch, mix_root):
    """`compare.train_or_reuse` replaced by a scorer call on one untrained model (no training): the harnesses
    must reach it through `compare.paired_runs`; the calls, in order, with the spec each saw."""
    import ablate_controller

    from hrmzoo.analysis import compare

    model = build_model(str(ROOT / "experiments" / "controllers" / "tom_none.yaml"), seed=0)
    calls = []

    def fake(recipe, seed, spec, log):
        calls.append((Path(recipe).stem, seed, spec))
        scores = spec.scorer.score(model, Path(mix_root))
        return {"recipe": recipe, "seed": seed, "steps": 7, "wall_s": 1.5, "load": [0.5, 0.75], "params": model.num_parameters(),
                "data": str(mix_root), **scores}

    def no_trainer(*args, **kwargs):
        raise AssertionError("the harness trained outside hrmzoo.analysis.compare's loop")

    monkeypatch.setattr(compare, "train_or_reuse", fake)
    for harness in (ablate_tom, ablate_controller):
        monkeypatch.setattr(harness, "Trainer", no_trainer, raising=False)
    return calls


def test_ablate_tom_trains_and_scores_through_compares_loop(fake_compare_runs, tmp_path, capsys):
    out = ablate_tom.main(["--recipes", "tom_none", "tom_quaternion", "--seeds", "0", "1", "--steps", "30", "--out", str(tmp_path),
                           "--eval-batch-size", "7"])
    # seed-major, every recipe of a seed before the next seed; the script's budget and scorer in compare's spec
    assert [(r, s) for r, s, _ in fake_compare_runs] == [("tom_none", 0), ("tom_quaternion", 0), ("tom_none", 1), ("tom_quaternion", 1)]
    spec = fake_compare_runs[0][2]
    assert spec.steps == 30 and spec.budget is None and spec.interleave and spec.scorer.name == "tom_kinds"
    rows = out["runs"]["tom_none"]
    assert [r["seed"] for r in rows] == [0, 1] and rows[0]["steps"] == 7 and rows[0]["load"] == [0.5, 0.75]
    assert set(rows[0]["exact"]) >= {*KINDS, "all"} and set(rows[0]["marks"]) == {"belief", "reality"}
    assert rows[0]["command"].endswith("--recipes tom_none --seeds 0 --steps 30 --threads 1")
    assert set(out["report"]) == {"tom_none", "tom_quaternion"}
    saved = json.loads((tmp_path / "ablate_tom.json").read_text())
    assert saved["runs"]["tom_quaternion"][1]["seed"] == 1
    assert "| tom_none |" in capsys.readouterr().out


def test_ablate_controller_trains_and_scores_through_compares_loop(fake_compare_runs, tmp_path, capsys):
    import ablate_controller

    out = ablate_controller.main(["--recipes", "tiny_quaternion_mix_none", "tiny_quaternion_mix", "--seeds", "0", "1",
                                  "--out", str(tmp_path), "--eval-batch-size", "7", "train.steps=30"])
    # recipe-major; pairing required with the controllers left out of the digest (checked by paired_runs before training)
    assert [(r, s) for r, s, _ in fake_compare_runs] == [("tiny_quaternion_mix_none", 0), ("tiny_quaternion_mix_none", 1),
                                                         ("tiny_quaternion_mix", 0), ("tiny_quaternion_mix", 1)]
    spec = fake_compare_runs[0][2]
    assert spec.require_paired and spec.pair_skip == ("controller",) and "train.steps=30" in spec.overrides
    rows = out["runs"]["tiny_quaternion_mix"]
    assert [r["seed"] for r in rows] == [0, 1] and rows[0]["wall_s"] == 1.5
    assert set(rows[0]["exact"]) == {*KINDS, "all"} and set(rows[0]["token"]) == {*KINDS, "all"}
    assert set(out["report"]["tiny_quaternion_mix"]) == {f"{m}_accuracy/{t}" for m in ("exact", "token") for t in (*KINDS, "all")}
    text = capsys.readouterr().out
    assert "seed 1: base weights paired across 2 recipes" in text and "| tiny_quaternion_mix |" in text
