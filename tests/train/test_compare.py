"""``hrmzoo compare``: recipes x seeds under one budget, table + JSON + plot, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrmzoo.analysis.compare import run_compare, spec_from_args
from hrmzoo.errors import HrmzooError
from tests.train.conftest import TINY

# two cycles (tiny_sudoku4's): with TINY's one, H_then_L is [H] L L, whose output never reads the
# input, which building refuses
FAST = [o for o in TINY if not o.startswith(("train.progress", "train.final_eval", "model.coupling.h_cycles"))]


@pytest.fixture
def flat_recipe(tmp_path):
    path = tmp_path / "tiny_h_then_l.yaml"
    path.write_text("extends: tiny_sudoku4\nname: tiny_h_then_l\nmodel:\n  coupling: {order: H_then_L}\n")
    return str(path)


def test_compare_two_recipes_three_seeds_and_resume(tmp_path, sudoku4, flat_recipe, capsys):
    out = tmp_path / "cmp"
    items = ["tiny_sudoku4", flat_recipe, "seeds=[0,1,2]", "steps=3", "segments=[1,2,8]", f"out={out}", f"data={sudoku4}",
             "threads=1", *FAST]
    spec = spec_from_args(items)
    assert spec.recipes == ["tiny_sudoku4", flat_recipe] and spec.seeds == [0, 1, 2] and spec.steps == 3
    report = run_compare(spec, log=lambda m: None)
    saved = json.loads((out / "compare.json").read_text())
    assert saved["table"] == report["table"]
    for recipe in spec.recipes:
        runs = saved["runs"][recipe]
        assert [r["seed"] for r in runs] == [0, 1, 2] and all(r["steps"] == 3 for r in runs)
        for mode in ("fixed", "adaptive"):
            for k in ("1", "2", "8"):
                cell = saved["table"][recipe][mode][k]
                values = [r[mode][k] for r in runs]
                assert cell["min"] == min(values) and cell["max"] == max(values)
                assert cell["mean"] == pytest.approx(sum(values) / 3)
                assert 0.0 <= cell["min"] <= cell["max"] <= 100.0
    # the two recipes share blocks, embedding and head: paired starts for every seed
    assert all(len(groups) == 1 for groups in saved["paired_base_weights"].values())
    table = (out / "compare.md").read_text()
    assert "| `tiny_sudoku4` | fixed |" in table and "| `tiny_h_then_l` | adaptive |" in table
    assert (out / "compare.png").stat().st_size > 1000

    # a second call reuses every finished run (no training)
    messages = []
    again = run_compare(spec_from_args(items), log=messages.append)
    assert again["table"] == report["table"]
    assert len(messages) == 6 and all("reusing" in m for m in messages)


def test_compare_rejects_bad_arguments():
    with pytest.raises(HrmzooError, match="seeds=.*list of non-negative integers"):
        spec_from_args(["tiny_sudoku4", "seeds=abc"])
    with pytest.raises(HrmzooError, match="budget"):
        spec_from_args(["tiny_sudoku4", "budget=-1"])
    with pytest.raises(HrmzooError, match="at least one recipe"):
        run_compare(spec_from_args(["seeds=[0]"]))


def test_time_budget_stops_the_run(tmp_path, sudoku4, capsys):
    from hrmzoo.train.trainer import Trainer

    trainer = Trainer("tiny_sudoku4", [*TINY, "train.steps=100000", "train.time_budget=0.002"], run_dir=tmp_path / "r", data_root=sudoku4)
    summary = trainer.run()
    assert 0 < summary.steps < 100000
    assert (tmp_path / "r").is_dir()
    # the summary counts the steps the budget allowed, not the steps asked for
    assert f"done: {summary.steps} steps ({summary.steps} in this run," in capsys.readouterr().out


def test_an_interrupted_run_resumes_to_the_same_budget(tmp_path, sudoku4):
    from hrmzoo.analysis.compare import IDENTITY_FILE, run_identity, run_name
    from hrmzoo.train.trainer import Trainer

    out = tmp_path / "cmp"
    items = ["tiny_sudoku4", "seeds=[0]", "steps=4", "segments=[1]", f"out={out}", f"data={sudoku4}", *FAST]
    spec = spec_from_args(items)
    # a run that stopped at step 2 of 4 (its identity and checkpoint written)
    run_dir = out / run_name("tiny_sudoku4", 0)
    run_dir.mkdir(parents=True)
    (run_dir / IDENTITY_FILE).write_text(json.dumps(run_identity("tiny_sudoku4", 0, spec)))
    Trainer("tiny_sudoku4", [*FAST, "train.seed=0", "train.steps=2", "train.final_eval=false", "train.progress=false"],
            run_dir=out / run_name("tiny_sudoku4", 0), data_root=sudoku4).run()
    messages = []
    report = run_compare(spec, log=messages.append)
    assert messages == ["tiny_sudoku4-seed0: resuming"]
    assert report["runs"]["tiny_sudoku4"][0]["steps"] == 4


def _files(run_dir):
    return {p.relative_to(run_dir): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_changed_override_neither_reuses_nor_relabels_the_old_run(tmp_path, sudoku4):
    out = tmp_path / "cmp"
    common = ["tiny_sudoku4", "seeds=[0]", "segments=[1]", f"out={out}", f"data={sudoku4}", "threads=1", *FAST]
    first = run_compare(spec_from_args([*common, "steps=3"]), log=lambda m: None)
    old_dir = out / "tiny_sudoku4-seed0"
    assert first["runs"]["tiny_sudoku4"][0]["run_dir"] == str(old_dir)
    before = _files(old_dir)

    messages = []
    second = run_compare(spec_from_args([*common, "steps=4", "model.gradient.type=bptt"]), log=messages.append)
    new = second["runs"]["tiny_sudoku4"][0]
    # trained afresh, in another directory, for its own budget; the old run is byte for byte untouched
    assert len(messages) == 1 and "training" in messages[0] and "reusing" not in messages[0]
    assert new["run_dir"] != str(old_dir) and new["run_dir"].startswith(str(old_dir) + "-") and new["steps"] == 4
    assert _files(old_dir) == before
    assert "type: one_step" in (old_dir / "recipe.yaml").read_text()
    assert "type: bptt" in (tmp_path / new["run_dir"]).joinpath("recipe.yaml").read_text()

    # each setting now finds its own run again
    messages.clear()
    again = run_compare(spec_from_args([*common, "steps=3"]), log=messages.append)
    assert messages == ["tiny_sudoku4-seed0: reusing the finished run (same resolved recipe and data)"]
    assert again["runs"] == first["runs"]
    messages.clear()
    run_compare(spec_from_args([*common, "steps=4", "model.gradient.type=bptt"]), log=messages.append)
    assert len(messages) == 1 and "reusing" in messages[0] and Path(new["run_dir"]).name in messages[0]


def test_new_segment_budgets_score_a_finished_run_without_touching_its_files(tmp_path, sudoku4):
    out = tmp_path / "cmp"
    common = ["tiny_sudoku4", "seeds=[0]", "steps=3", f"out={out}", f"data={sudoku4}", "threads=1", *FAST]
    run_compare(spec_from_args([*common, "segments=[1]"]), log=lambda m: None)
    run_dir = out / "tiny_sudoku4-seed0"
    before = _files(run_dir)
    messages = []
    report = run_compare(spec_from_args([*common, "segments=[1,2]"]), log=messages.append)
    assert messages == ["tiny_sudoku4-seed0: finished; evaluating at segments [1, 2]"]
    assert report["runs"]["tiny_sudoku4"][0]["steps"] == 3 and set(report["table"]["tiny_sudoku4"]["fixed"]) == {"1", "2"}
    after = _files(run_dir)
    assert {k: v for k, v in after.items() if k in before} == before and len(after) == len(before) + 1


def test_a_recipe_named_twice_is_an_error(tmp_path):
    with pytest.raises(HrmzooError, match="'tiny_sudoku4' named twice"):
        run_compare(spec_from_args(["tiny_sudoku4", "tiny_sudoku4", "seeds=[0]", f"out={tmp_path}"]))
    with pytest.raises(HrmzooError, match="repeats a seed"):
        run_compare(spec_from_args(["tiny_sudoku4", "seeds=[0,0]", f"out={tmp_path}"]))
