"""experiments/tom/ablate.py (theory of mind v2): scoring a saved run on its test split and on a generalisation
build, and the protocol's table (mean ± std, median, success, seed-paired differences)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "tom"))

import ablate  # noqa: E402

TINY = ["model.hidden_size=16", "model.controller.head_width=8", "data.num_train=6", "data.num_test=6", "train.batch_size=4"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from hrmzoo.train.trainer import Trainer

    tmp = tmp_path_factory.mktemp("tom2")
    trainer = Trainer("tom2_perspective",
                      [*TINY, "train.steps=1", "train.warmup_steps=0", "train.dtype=float32", f"train.data_cache={tmp / 'cache'}"], run_dir=tmp / "run")
    trainer.train_step()
    trainer.save()
    trainer.close()
    return tmp / "run"


def test_score_run_breaks_down_by_group_and_pair_and_reads_generalisation_builds(run_dir):
    out = ablate.score_run(run_dir, batch_size=5)
    assert out["recipe"] == "tom2_perspective" and out["data"] == []
    assert set(ablate.COLUMNS) <= set(out["exact"])
    assert set(out["activity"]) == set(ablate.GROUPS)
    general = ablate.score_run(run_dir, batch_size=5, data_overrides=("data.test_num_agents=[4,4]", "data.test_num_events=[9,12]"))
    assert general["data"] == ["data.test_num_agents=[4,4]", "data.test_num_events=[9,12]"]
    with pytest.raises(SystemExit, match="event_slots"):  # another layout: one line, not a shape error from inside torch
        ablate.score_run(run_dir, data_overrides=("data.event_slots=16",))


def _row(recipe, seed, value, steps=100, run=None, **cols):
    exact = {c: value for c in ablate.COLUMNS}
    exact.update(cols)
    return {"run": run or f"runs/{recipe}-s{seed}", "recipe": recipe, "seed": seed, "steps": steps, "batch": 64, "exact": exact}


def test_table_summarises_seeds_and_pairs_them(tmp_path):
    rows = [_row("tom2_none", 0, 10.0), _row("tom2_none", 1, 30.0), _row("tom2_none", 2, 50.0),
            _row("tom2_perspective", 0, 20.0), _row("tom2_perspective", 1, 30.0), _row("tom2_perspective", 2, 95.0, belief=95.0),
            _row("tom2_none", 1, 40.0)]  # a later line of the same (recipe, seed) replaces the earlier one
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = ablate.read_scores([str(scores)])
    assert sorted(runs["tom2_none"]) == [0, 1, 2] and runs["tom2_none"][1]["exact"]["belief"] == 40.0
    s = ablate.summarise(runs["tom2_none"], ("belief", 90.0))
    assert s["belief"]["mean"] == pytest.approx(100 / 3) and s["belief"]["median"] == 40.0
    assert s["belief"]["std"] == pytest.approx(np.std([10, 40, 50], ddof=1))
    assert s["success"] == {"count": 0, "of": 3}
    assert ablate.summarise(runs["tom2_perspective"], ("belief", 90.0))["success"] == {"count": 1, "of": 3}
    d = ablate.paired(runs["tom2_none"], runs["tom2_perspective"])["belief"]
    assert (d["wins"], d["ties"], d["losses"]) == (2, 0, 1) and d["mean"] == pytest.approx((10 - 10 + 45) / 3)
    text = ablate.table_markdown(runs, {"reality": {"belief": 50.0}}, ("belief", 90.0), "tom2_none")
    assert "| `tom2_perspective` - `tom2_none`, seed-paired (wins/ties/losses) | 3 |" in text
    assert "| floor: reality | - |" in text and "1/3 |" in text


def test_table_refuses_two_runs_under_one_recipe_name_and_seed(tmp_path):
    # two variants trained from one recipe with different --set overrides keep its name: one must not hide the other
    scores = tmp_path / "scores.jsonl"
    scores.write_text(json.dumps(_row("tom2_none", 0, 10.0, run="runs/a")) + "\n" + json.dumps(_row("tom2_none", 0, 50.0, run="runs/b")) + "\n")
    with pytest.raises(SystemExit, match="runs/b and runs/a are both recipe 'tom2_none' seed 0"):
        ablate.read_scores([str(scores)])


def test_recorded_rows_carry_seeds_pairs_and_floors(tmp_path):
    import yaml

    runs = {"tom2_none": {0: _row("tom2_none", 0, 10.0, steps=5), 1: _row("tom2_none", 1, 30.0, steps=5)},
            "tom2_perspective": {0: _row("tom2_perspective", 0, 20.0, steps=5), 1: _row("tom2_perspective", 1, 20.0, steps=5)}}
    rows = ablate.result_rows(runs, {"cnn": {"belief": 26.9}, "other_view_only": {"belief": 85.3}}, "tom2_none", split="in range", dataset="d", command="c", hardware="h",
                              date="2026-12-06")
    from hrmzoo.catalog.record import record_results

    record_results(rows, tmp_path)
    got = {(r["recipe"], r["metric"]): r for r in yaml.safe_load((tmp_path / "results.yaml").read_text())["results"]}
    r = got[("tom2_perspective", "exact_accuracy/in range belief")]
    assert r["value"] == 20.0 and r["seeds"] == 2 and r["std"] == 0.0 and "median 20.0" in r["notes"]
    assert "per seed 20.0, 20.0" in r["notes"] and "minus tom2_none, seed-paired: +0.0 ± 14.1 (1 better, 0 equal, 1 worse)" in r["notes"]
    assert "best floor 26.9 (cnn)" in r["notes"] and "5 training steps of batch 64" in r["notes"]  # a partial solver is no floor
    assert len(got) == 2 * len(ablate.COLUMNS)



def test_record_can_take_one_recipe_beside_a_baseline_already_recorded(tmp_path):
    import yaml

    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps(_row(r, s, v)) + "\n" for r, v in (("tom2_none", 10.0), ("tom2_perspective", 30.0)) for s in (0, 1)))
    ablate.main(["table", str(scores), "--base", "tom2_none", "--record", str(tmp_path), "--recipes", "tom2_perspective"])
    got = yaml.safe_load((tmp_path / "results.yaml").read_text())["results"]
    assert {r["recipe"] for r in got} == {"tom2_perspective"} and len(got) == len(ablate.COLUMNS)
    assert all("minus tom2_none, seed-paired: +20.0" in r["notes"] for r in got)  # still paired with the baseline's scores
    with pytest.raises(SystemExit, match="--recipes: tom2_nope not in the scores"):
        ablate.main(["table", str(scores), "--record", str(tmp_path), "--recipes", "tom2_nope"])

def test_ladder_warm_starts_each_stage_and_scores_as_one_run(tmp_path):
    cache = f"train.data_cache={tmp_path / 'cache'}"
    out = tmp_path / "ladder"
    ablate.main(["ladder", "tom2_perspective", "--seed", "1", "--stage", "1,2:2 model.head.loss_weight=0.0", "--stage", "full:1", "--measure-every", "1",
                 "--out", str(out), "--set", *TINY, "train.warmup_steps=0", cache])
    lad = json.loads((out / "ladder.json").read_text())
    assert [s["stage"] for s in lad["stages"]] == ["stage1-1-2", "stage2-full"] and lad["final"] == "stage2-full"
    from hrmzoo.recipe import load_recipe

    first = load_recipe(out / "stage1-1-2" / "recipe.yaml")
    last = load_recipe(out / "stage2-full" / "recipe.yaml")
    assert list(first.data.num_events) == [1, 2] and first.train.init_from is None and first.train.steps == 2
    assert list(last.data.num_events) == [4, 8] and Path(last.train.init_from) == out / "stage1-1-2"
    assert first.model.head.loss_weight == 0.0 and last.model.head.loss_weight == 1.0  # a stage's own overrides stay its own
    scored = ablate.score_run(out, batch_size=5)
    assert scored["run"] == str(out) and scored["steps"] == 3 and scored["ladder"] == ["1,2:2 model.head.loss_weight=0.0", "full:1"]
    log = ablate.training_log(out)  # the stages' heads.jsonl in order, steps counted across the ladder
    assert [r["step"] for r in log] == [1, 2, 3] and all("grad/FE" in r and "FE/l_context/flat" in r for r in log)
    ablate.plot_activity([scored], tmp_path / "activity.png")
    assert (tmp_path / "activity.png").stat().st_size > 10_000
    with pytest.raises(SystemExit, match="already there"):  # never trains over a finished ladder
        ablate.main(["ladder", "tom2_perspective", "--stage", "full:1", "--out", str(out)])


@pytest.mark.parametrize("bad", ["1,2", "0,2:10", "3,2:10", "full:0", "a:5", "1:5", "", "1,2:10 loss_weight"])
def test_ladder_stage_errors_are_one_line(bad):
    with pytest.raises(SystemExit, match="EVENTS:STEPS"):
        ablate.parse_stage(bad)


def test_a_bad_override_is_one_line_not_a_traceback(tmp_path):
    """A recipe the zoo refuses (here warmup_steps > steps) ends `ablate.py` with the zoo's message, as `hrmzoo train` would."""
    with pytest.raises(SystemExit, match=r"ablate.py ladder: .*warmup_steps=100 exceeds steps=30") as e:
        ablate.main(["ladder", "tom2_none", "--stage", "1,2:30", "--out", str(tmp_path / "x"), "--set", "train.warmup_steps=100"])
    assert "\n" not in str(e.value)


def test_extend_trains_more_stages_after_a_finished_ladder_and_keeps_its_seed(tmp_path):
    cache = f"train.data_cache={tmp_path / 'cache'}"
    src, out = tmp_path / "ladder", tmp_path / "longer"
    ablate.main(["ladder", "tom2_perspective", "--seed", "3", "--stage", "1,2:2", "--measure-every", "1",
                 "--out", str(src), "--set", *TINY, "train.warmup_steps=0", cache])
    before = (src / "ladder.json").read_text()
    ablate.main(["extend", str(src), "--stage", "1,2:1", "--measure-every", "1", "--out", str(out)])
    assert (src / "ladder.json").read_text() == before and not (src / "stage2-1-2").exists()  # the source is left alone
    lad = json.loads((out / "ladder.json").read_text())
    assert [s["stage"] for s in lad["stages"]] == ["stage1-1-2", "stage2-1-2"] and lad["extended_from"] == str(src)
    assert lad["seed"] == 3 and [s["seed"] for s in lad["stages"]] == [3, 103]  # other batches, same ladder seed
    from hrmzoo.recipe import load_recipe

    last = load_recipe(out / "stage2-1-2" / "recipe.yaml")
    assert Path(last.train.init_from) == out / "stage1-1-2" and last.train.seed == 103 and last.model.hidden_size == 16
    assert (out / "stage1-1-2" / "recipe.yaml").read_bytes() == (src / "stage1-1-2" / "recipe.yaml").read_bytes()
    scored = ablate.score_run(out, batch_size=5)
    assert scored["seed"] == 3 and scored["steps"] == 3 and scored["ladder"] == ["1,2:2", "1,2:1"]
    assert [r["step"] for r in ablate.training_log(out)] == [1, 2, 3]
    with pytest.raises(SystemExit, match="already there"):
        ablate.main(["extend", str(src), "--stage", "1,2:1", "--out", str(out)])
    ablate.main(["extend", str(out), "--stage", "1,2:1", "--measure-every", "1", "--out", str(tmp_path / "longest")])
    lad = json.loads((tmp_path / "longest" / "ladder.json").read_text())  # extended twice: a third seed, not the second again
    assert [s["seed"] for s in lad["stages"]] == [3, 103, 203] and lad["seed"] == 3
    with pytest.raises(SystemExit, match="no ladder.json"):
        ablate.main(["extend", str(tmp_path / "cache"), "--stage", "1,2:1", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match=r"recipe does not load .*pass --recipe") as e:  # a ladder whose recipe file has moved
        (src / "ladder.json").write_text(json.dumps({**json.loads(before), "recipe": str(tmp_path / "moved.yaml")}))
        ablate.main(["extend", str(src), "--stage", "1,2:1", "--out", str(tmp_path / "y")])
    assert "\n" not in str(e.value) and not (tmp_path / "y").exists()
    ablate.main(["extend", str(src), "--recipe", "tom2_perspective", "--stage", "1,2:1", "--measure-every", "1", "--out", str(tmp_path / "z")])
    assert json.loads((tmp_path / "z" / "ladder.json").read_text())["recipe"] == "tom2_perspective"
