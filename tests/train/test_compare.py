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


def test_paired_runs_with_a_scorer_seed_major_reused_and_kept_apart_from_segment_scores(tmp_path, sudoku4, flat_recipe):
    """The loop the controller harnesses share: their scorer, seed-major order, reuse by scorer name."""
    from hrmzoo.analysis.compare import RUN_DONE, RunScorer, paired_runs

    out = tmp_path / "cmp"
    common = ["tiny_sudoku4", flat_recipe, "seeds=[0,1]", "steps=2", "segments=[1]", f"out={out}", f"data={sudoku4}", "threads=1", *FAST]
    scored = []

    def probe(model, root):
        scored.append(Path(root))
        return {"params_seen": model.num_parameters()}

    spec = spec_from_args(common)
    spec.scorer, spec.interleave = RunScorer("probe", probe), True
    messages = []
    pairing, runs = paired_runs(spec, log=messages.append)
    assert messages == ["tiny_sudoku4-seed0: training", "tiny_h_then_l-seed0: training",
                        "tiny_sudoku4-seed1: training", "tiny_h_then_l-seed1: training"]
    assert all(len(groups) == 1 for groups in pairing.values()) and scored == [Path(sudoku4)] * 4
    first = runs["tiny_sudoku4"][0]
    assert first["scorer"] == "probe" and first["params_seen"] == first["params"] and first["steps"] == 2 and "fixed" not in first
    run_dir = out / "tiny_sudoku4-seed0"
    assert not (run_dir / RUN_DONE).exists() and len(list(run_dir.glob("compare_eval-probe-*.json"))) == 1

    # the same scorer reuses every run; segment scores are another evaluation of the same runs (no training)
    messages.clear()
    assert paired_runs(spec, log=messages.append)[1] == runs and all("reusing" in m for m in messages) and len(scored) == 4
    messages.clear()
    report = run_compare(spec_from_args(common), log=messages.append)
    assert messages[0] == "tiny_sudoku4-seed0: finished; evaluating at segments [1]" and len(messages) == 4
    assert report["runs"]["tiny_sudoku4"][0]["steps"] == 2 and "scorer" not in report["runs"]["tiny_sudoku4"][0]

    # score-only: a run never trained is an error, not a training
    spec.seeds, spec.train = [5], False
    with pytest.raises(HrmzooError, match="tiny_sudoku4-seed5 holds no finished run"):
        paired_runs(spec, log=messages.append)
    assert not (out / "tiny_sudoku4-seed5").exists()


def test_required_pairing_refuses_unpaired_starts_before_training(tmp_path, sudoku4):
    from hrmzoo.analysis.compare import paired_runs

    wide = tmp_path / "tiny_wide.yaml"
    wide.write_text("extends: tiny_sudoku4\nname: tiny_wide\nmodel:\n  hidden_size: 48\n")
    spec = spec_from_args(["tiny_sudoku4", str(wide), "seeds=[0]", "steps=2", f"out={tmp_path / 'cmp'}", f"data={sudoku4}"])
    spec.require_paired = True
    with pytest.raises(HrmzooError, match="seed 0: the recipes start from different base weights"):
        paired_runs(spec, log=lambda m: None)
    assert not any((tmp_path / "cmp").iterdir())


def test_compare_records_its_table_through_record_results(tmp_path, sudoku4, flat_recipe, capsys):
    import shlex

    import yaml

    from hrmzoo.cli import main

    reg = tmp_path / "reg"
    reg.mkdir()
    items = ["tiny_sudoku4", "seeds=[0,1]", "steps=2", "segments=[1,2]", f"out={tmp_path / 'cmp'}", f"data={sudoku4}", "threads=1", *FAST]
    assert main(["compare", *items, f"results={reg}", "hardware=test box"]) == 0
    rows = yaml.safe_load((reg / "results.yaml").read_text())["results"]  # tiny_sudoku4 is shipped
    assert {r["metric"] for r in rows} == {f"exact_accuracy/{m}@{k}seg" for m in ("fixed", "adaptive") for k in (1, 2)}
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    row = next(r for r in rows if r["metric"] == "exact_accuracy/fixed@2seg")
    cell = report["table"]["tiny_sudoku4"]["fixed"]["2"]
    assert row["value"] == round(cell["mean"], 2) and row["seeds"] == 2 and row["hardware"] == "test box" and row["unit"] == "%"
    assert row["notes"].startswith("2 steps per seed; seeds 0, 1;") and "recorded 4 rows" in capsys.readouterr().out
    # the recorded command measures the same thing again
    again = spec_from_args(shlex.split(row["command"])[2:])
    mine = spec_from_args(items)
    assert row["command"].startswith("hrmzoo compare tiny_sudoku4 ")
    assert (again.recipes, again.seeds, again.steps, again.segments, again.data, again.threads, sorted(again.overrides)) == \
           (mine.recipes, mine.seeds, mine.steps, mine.segments, mine.data, mine.threads, sorted(mine.overrides))

    # a recipe the catalogue keeps no results for is refused before any training
    assert main(["compare", flat_recipe, "seeds=[0]", "steps=2", f"out={tmp_path / 'other'}", f"data={sudoku4}", f"results={reg}"]) == 2
    assert "'tiny_h_then_l' is neither shipped nor in experiments/" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_a_recipe_with_a_warmup_stage_trains_both_stages_per_seed(tmp_path, sudoku4):
    """A curriculum (`train.init_from` + a `_warmup` sibling) runs per seed: stage 1 with the seed and overrides and
    its own steps, stage 2 from it; both reused; a changed stage 1 trains a new stage 2."""
    import yaml

    from hrmzoo.analysis.compare import STAGE_DONE, warmup_stage

    stage2 = tmp_path / "cur.yaml"
    stage2.write_text("extends: tiny_sudoku4\nname: cur\ntrain: {init_from: runs/cur_warmup}\n")
    (tmp_path / "cur_warmup.yaml").write_text("extends: tiny_sudoku4\nname: cur_warmup\ntrain: {steps: 2, init_from: null}\n")
    assert warmup_stage(str(stage2)) == str(tmp_path / "cur_warmup.yaml")
    assert warmup_stage(str(stage2), ["train.init_from=null"]) is None and warmup_stage("tiny_sudoku4") is None
    out = tmp_path / "cmp"
    # the recipes' own (small) data, cached in tmp: data=DIR would replace the warm-up's data section, which is refused
    small = ["data.num_train=16", "data.num_test=8", "data.num_aug=0", f"train.data_cache={tmp_path / 'cache'}"]
    with pytest.raises(HrmzooError, match="would replace it; leave data= out"):
        run_compare(spec_from_args([str(stage2), "seeds=[0]", f"out={out}", f"data={sudoku4}", *FAST]), log=lambda m: None)
    common = [str(stage2), "seeds=[0,1]", "segments=[1]", f"out={out}", "threads=1", "steps=3", *FAST, *small]
    messages = []
    report = run_compare(spec_from_args(common), log=messages.append)
    for seed, run in enumerate(report["runs"][str(stage2)]):
        first = out / f"cur_warmup-seed{seed}"
        stage1 = yaml.safe_load((first / "recipe.yaml").read_text())["train"]
        assert (stage1["seed"], stage1["steps"]) == (seed, 2)  # its own steps: steps= sets stage 2 only
        assert json.loads((first / STAGE_DONE).read_text())["steps"] == 2
        stage2_train = yaml.safe_load((Path(run["run_dir"]) / "recipe.yaml").read_text())["train"]
        assert stage2_train["init_from"] == str(first) and run["steps"] == 3
        assert run["warmup"]["run_dir"] == str(first) and run["warmup"]["steps"] == 2
    assert [m.split(":")[0] for m in messages] == ["cur_warmup-seed0", "cur-seed0", "cur_warmup-seed1", "cur-seed1"]

    messages.clear()
    again = run_compare(spec_from_args(common), log=messages.append)
    assert again["runs"] == report["runs"] and all("reusing" in m for m in messages) and len(messages) == 2

    (tmp_path / "cur_warmup.yaml").write_text("extends: tiny_sudoku4\nname: cur_warmup\ntrain: {steps: 1, init_from: null}\n")
    messages.clear()
    changed = run_compare(spec_from_args([*common, "seeds=[0]"]), log=messages.append)
    run = changed["runs"][str(stage2)][0]
    assert run["warmup"]["steps"] == 1 and run["run_dir"] != report["runs"][str(stage2)][0]["run_dir"]
    assert len(messages) == 2 and all("training" in m for m in messages)


def test_eval_data_scores_on_another_build_without_retraining_or_mixing_scores(tmp_path, sudoku4):
    """`eval_data=DIR` scores the same trained runs on DIR's test split, in a file of its own; a missing split is one line."""
    from hrmzoo.analysis.compare import RUN_DONE, check_spec
    from hrmzoo.data.sudoku import build_sudoku

    other = build_sudoku(tmp_path / "other", size=4, num_train=4, num_test=24, seed=11)
    out = tmp_path / "cmp"
    common = ["tiny_sudoku4", "seeds=[0]", "segments=[1,2]", f"out={out}", f"data={sudoku4}", "threads=1", "steps=3", *FAST]
    own = run_compare(spec_from_args(common), log=lambda m: None)["runs"]["tiny_sudoku4"][0]
    run_dir = Path(own["run_dir"])
    done = (run_dir / RUN_DONE).read_bytes()
    messages = []
    scored = run_compare(spec_from_args([*common, f"eval_data={other}"]), log=messages.append)["runs"]["tiny_sudoku4"][0]
    assert messages == [f"{run_dir.name}: finished; evaluating at segments [1, 2]"]  # no training
    assert own["examples"] == 16 and scored["examples"] == 24 and scored["eval_root"] == str(other)
    assert (run_dir / RUN_DONE).read_bytes() == done and len(list(run_dir.glob("compare_eval*.json"))) == 2
    messages.clear()
    assert run_compare(spec_from_args([*common, f"eval_data={other}"]), log=messages.append)["runs"]["tiny_sudoku4"][0] == scored
    assert "reusing" in messages[0]
    assert run_compare(spec_from_args(common), log=lambda m: None)["runs"]["tiny_sudoku4"][0] == own  # each finds its own scores
    with pytest.raises(HrmzooError, match=r"eval_data=.*no test split there"):
        check_spec(spec_from_args(["tiny_sudoku4", f"eval_data={tmp_path / 'nowhere'}"]))
