"""experiments/tiny_data tools: per-seed runs -> catalogue rows (mean ± sample std, like with like), plots, evaluation sets, seeds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hrmzoo.catalog import Result

TOOLS = Path(__file__).resolve().parents[2] / "experiments" / "tiny_data"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tiny_data_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


record_tool, plot_tool, sets_tool, swap_tool = _load("record"), _load("plot"), _load("eval_sets"), _load("init_swap")
probe_tool = _load("init_probe")
floors_tool = _load("floors")


def _run(root: Path, seed: int, inrange: float, beyond: float, cpu_s: float, steps: int = 3500, warmup: int | None = 1500,
         num_train: int = 1000, family: str | None = None) -> Path:
    run = root / f"seed{seed}"
    run.mkdir(parents=True)
    train = {"seed": seed, "steps": steps, **({"init_from": str(run) + "_warmup"} if warmup else {})}
    recipe = {"train": train, "model": {"halting": {"max_segments": 4}}, "data": {"num_train": num_train, **({"type": family} if family else {})}}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    if warmup:  # run_seed.sh's stage 1 beside the run
        (root / f"seed{seed}_warmup").mkdir()
        (root / f"seed{seed}_warmup/recipe.yaml").write_text(yaml.safe_dump({"train": {"seed": seed, "steps": warmup}}))
    buckets = [{"bucket": str(d), "n": 250, "exact_by_segment": [inrange] * 16} for d in (1, 2, 3, 4)]
    (run / "inrange.json").write_text(json.dumps({"metrics": {"exact_by_segment": [inrange / 2] + [inrange] * 15}, "by": {"buckets": buckets}}))
    (run / "beyond.json").write_text(json.dumps({"metrics": {"exact_by_segment": [beyond] * 32}}))
    (run / "cpu_seconds").write_text(f"{cpu_s}\n")
    return run


def test_rows_are_means_and_sample_stds_over_seeds_and_valid_catalogue_rows(tmp_path):
    runs = [_run(tmp_path, 0, 0.95, 0.40, 1200.0), _run(tmp_path, 1, 0.97, 0.50, 1320.0)]
    rows = record_tool.rows_for("cpu_logic", [record_tool.per_seed(r) for r in runs], "cmd", "hw", "2026-12-06")
    by = {r["metric"]: r for r in rows}
    assert by["exact_accuracy/depth 1-4@4seg"]["value"] == pytest.approx(96.0)
    assert by["exact_accuracy/depth 1-4@4seg"]["std"] == pytest.approx(1.41, abs=0.01)  # sample std of 95, 97
    assert by["exact_accuracy/depth 1-4@1seg"]["value"] == pytest.approx(48.0)
    assert by["exact_accuracy/depth 5-8@32seg"]["value"] == pytest.approx(45.0)
    assert by["exact_accuracy/depth 3@4seg"]["value"] == pytest.approx(96.0)
    assert by["CPU-minutes to train, one thread"]["value"] == pytest.approx(21.0)
    assert all(r["seeds"] == 2 for r in rows) and "per seed 95.0, 97.0" in by["exact_accuracy/depth 1-4@4seg"]["notes"]
    assert "1,500 warm-up steps on the depth-1 training instances, then 3,500 on all" in by["CPU-minutes to train, one thread"]["notes"]
    for row in rows:
        Result.model_validate(row)


def test_runs_that_differ_in_steps_or_lack_files_are_refused(tmp_path):
    a, b = _run(tmp_path, 0, 0.9, 0.4, 60.0), _run(tmp_path, 1, 0.9, 0.4, 60.0, steps=3000)
    with pytest.raises(SystemExit, match="differ in steps"):
        record_tool.rows_for("cpu_logic", [record_tool.per_seed(a), record_tool.per_seed(b)], "c", "h", "2026-12-06")
    c = _run(tmp_path, 2, 0.9, 0.4, 60.0, warmup=None)  # from scratch: not like a curriculum run
    with pytest.raises(SystemExit, match="differ in steps"):
        record_tool.rows_for("cpu_logic", [record_tool.per_seed(a), record_tool.per_seed(c)], "c", "h", "2026-12-06")
    import shutil
    shutil.rmtree(tmp_path / "seed1_warmup")
    with pytest.raises(SystemExit, match="seed1_warmup is not there"):
        record_tool.per_seed(b)
    (a / "beyond.json").unlink()
    with pytest.raises(SystemExit, match="lacks beyond.json"):
        record_tool.per_seed(a)


def test_another_training_size_is_named_in_the_metrics_and_not_mixed_with_1000(tmp_path):
    small = [_run(tmp_path / "s", seed, 0.5, 0.1, 60.0, num_train=100) for seed in (0, 1)]
    rows = record_tool.rows_for("cpu_logic", [record_tool.per_seed(r) for r in small], "c", "h", "2026-12-06")
    by = {r["metric"]: r for r in rows}
    assert by["exact_accuracy/depth 1-4@4seg (100 train)"]["value"] == pytest.approx(50.0)
    assert all(r["metric"].endswith(" (100 train)") for r in rows)
    assert all(r["dataset"].startswith("logic (Horn-rule closure, 16 atoms, 16 rule slots): 100 train instances") for r in rows)
    full = _run(tmp_path / "f", 2, 0.9, 0.4, 60.0)
    with pytest.raises(SystemExit, match="training-set size"):
        record_tool.rows_for("cpu_logic", [record_tool.per_seed(small[0]), record_tool.per_seed(full)], "c", "h", "2026-12-06")


def test_listfn_and_flow_runs_are_named_by_their_own_ranges_and_not_mixed(tmp_path):
    runs = [_run(tmp_path / "l", seed, 0.02, 0.0, 60.0, warmup=None, steps=3000, family="listfn") for seed in (0, 1)]
    by = {r["metric"]: r for r in record_tool.rows_for("cpu_listfn", [record_tool.per_seed(r) for r in runs], "c", "h", "2026-12-07")}
    assert by["exact_accuracy/held-out 2-primitive programs@4seg"]["value"] == pytest.approx(2.0)
    assert "exact_accuracy/3-primitive programs@32seg" in by and "exact_accuracy/3 primitives@4seg" in by
    assert all(r["dataset"].startswith("listfn (") and "depth" not in r["metric"] for r in by.values())
    flow = _run(tmp_path / "f", 0, 0.0, 0.0, 60.0, warmup=None, steps=3000, family="flow")
    assert "exact_accuracy/8-9 nodes@1seg" in {r["metric"] for r in record_tool.rows_for("cpu_flow", [record_tool.per_seed(flow)], "c", "h", "d")}
    with pytest.raises(SystemExit, match="task family"):
        record_tool.rows_for("cpu_flow", [record_tool.per_seed(flow), record_tool.per_seed(runs[0])], "c", "h", "2026-12-07")


def test_record_cli_names_rows_by_the_recipe_a_file_holds_and_refuses_unknown_recipes_in_one_line(tmp_path, capsys, monkeypatch):
    runs = [str(_run(tmp_path, seed, 0.02, 0.0, 60.0, warmup=None, steps=3000, family="listfn")) for seed in (0, 1)]
    flags = ["--command", "c", "--hardware", "h", "--date", "2026-12-07"]
    record_tool.main([str(TOOLS / "cpu_listfn_onepass.yaml"), *runs, *flags])  # printed, not written
    assert "exact_accuracy/held-out 2-primitive programs@4seg: 2.0" in capsys.readouterr().out
    seen = []
    monkeypatch.setattr(record_tool, "record_results", lambda rows: seen.extend(rows) or ["ok"])
    record_tool.main([str(TOOLS / "cpu_listfn_onepass.yaml"), *runs, *flags, "--write"])
    assert {r["recipe"] for r in seen} == {"cpu_listfn_onepass"}  # the name the file holds, which the catalogue knows
    monkeypatch.undo()
    with pytest.raises(SystemExit, match="record.py: .*'no_such_recipe' is neither shipped nor in experiments/"):
        record_tool.main(["no_such_recipe", *runs, *flags, "--write"])


def test_plot_draws_means_per_budget_and_refuses_unevaluated_runs(tmp_path, capsys):
    runs = [_run(tmp_path / "it", 0, 0.90, 0.40, 60.0), _run(tmp_path / "it", 1, 1.00, 0.50, 60.0)]
    flat = _run(tmp_path / "flat", 0, 0.20, 0.25, 60.0)
    svg = tmp_path / "budget.svg"
    plot_tool.main([f"iter={runs[0]},{runs[1]}", f"flat={flat}", "--svg", str(svg)])
    out = capsys.readouterr().out
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    assert "iter | in range | 47.5 | 95.0 | 95.0 | 95.0 | 95.0 |" in out  # budget 1 is half of the others in _run
    assert "iter | beyond | 45.0 | 45.0 | 45.0 | 45.0 | 45.0 | 45.0" in out and "flat | beyond | 25.0" in out
    (flat / "beyond.json").unlink()
    with pytest.raises(SystemExit, match="no inrange.json/beyond.json"):
        plot_tool.main([f"flat={flat}", "--svg", str(svg)])


def test_plot_names_the_ranges_of_the_runs_family(tmp_path, capsys):
    runs = [_run(tmp_path / "l", 0, 0.02, 0.0, 60.0, warmup=None, family="listfn")]
    data = plot_tool.read([f"iter={runs[0]}"])
    assert data["iter"]["family"] == "listfn" and plot_tool.read([f"x={_run(tmp_path / 'g', 0, 0.5, 0.1, 60.0)}"])["x"]["family"] == "logic"
    plot_tool.main([f"iter={runs[0]}", "--svg", str(tmp_path / "l.svg")])
    assert "iter | in range | 1.0 | 2.0" in capsys.readouterr().out


def test_eval_sets_are_the_recipes_instances_with_the_answers_alone(tmp_path):
    """The status set holds the recipe's own train and test instances (mentions unlabelled); the deep set is depth 5-8."""
    from hrmzoo.data.prepare import prepare_data
    from hrmzoo.recipe import load_recipe

    status, deep, rating = sets_tool.eval_sets("cpu_logic", tmp_path / "sets")
    assert sets_tool.eval_sets("cpu_logic", tmp_path / "sets") == (status, deep, rating)  # built once, found again
    assert rating == "depth"
    trained = prepare_data(load_recipe("cpu_logic").data, tmp_path / "cache")
    for split in ("train", "test"):
        assert (np.load(status / f"{split}/all__inputs.npy") == np.load(trained / f"{split}/all__inputs.npy")).all()
    labels = np.load(status / "test/all__labels.npy")
    assert (labels[:, 0:32:2] == 0).all() and (labels[:, 32:] == 0).all() and (labels[:, 1:32:2] > 0).all()
    assert set(np.load(deep / "test/extra__depth.npy")) == {5, 6, 7, 8}
    assert (np.load(deep / "train/all__inputs.npy") == np.load(trained / "train/all__inputs.npy")).all()


@pytest.mark.parametrize("recipe, rating, beyond", [("cpu_listfn", "length", {3}), ("cpu_flow", "nodes", {8, 9})])
def test_eval_sets_of_listfn_and_flow_go_past_the_training_range(tmp_path, recipe, rating, beyond):
    """listfn and flow: the in-range set is the recipe's own build; the beyond set has its training split and harder tests."""
    from hrmzoo.data.prepare import prepare_data
    from hrmzoo.recipe import load_recipe

    small = ["data.num_train=30", "data.num_test=20"]
    inside, past, got = sets_tool.eval_sets(recipe, tmp_path / "sets", small)
    assert got == rating
    trained = prepare_data(load_recipe(recipe, small).data, tmp_path / "cache")
    for split in ("train", "test"):
        assert (np.load(inside / f"{split}/all__inputs.npy") == np.load(trained / f"{split}/all__inputs.npy")).all()
    assert (np.load(past / "train/all__inputs.npy") == np.load(trained / "train/all__inputs.npy")).all()
    assert set(np.load(past / f"test/extra__{rating}.npy")) == beyond
    assert set(np.load(inside / f"test/extra__{rating}.npy")).isdisjoint(beyond)


def test_eval_sets_refuse_a_family_they_do_not_know(tmp_path):
    with pytest.raises(SystemExit, match="knows logic, listfn, flow"):
        sets_tool.eval_sets("tiny_sudoku4", tmp_path / "sets")


def test_an_interrupted_eval_set_build_leaves_nothing_to_be_found(tmp_path, monkeypatch):
    """Two runs started together build the same set; a half-written one must never pass for built (it is built aside, then renamed)."""
    def half_build(cfg, out):
        (Path(out) / "test").mkdir(parents=True)
        (Path(out) / "build.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(sets_tool, "build_into", half_build)
    with pytest.raises(KeyboardInterrupt):
        sets_tool.eval_sets("cpu_logic", tmp_path / "sets", ["data.num_train=20", "data.num_test=10"])
    assert not (tmp_path / "sets").exists() or list((tmp_path / "sets").iterdir()) == []


def test_eval_sets_follow_overrides_of_the_training_data(tmp_path):
    """`run_seed.sh ... data.num_train=100` scores the run on the data it trained on: the overrides reach the sets."""
    status, _, _ = sets_tool.eval_sets("cpu_logic", tmp_path / "sets", ["data.num_train=100", "data.num_test=50"])
    assert len(np.load(status / "train/all__inputs.npy")) == 100 * 8  # each instance with its 7 renamed variants
    assert len(np.load(status / "test/all__inputs.npy")) == 50
    assert status != sets_tool.eval_sets("cpu_logic", tmp_path / "sets", ["data.num_train=100", "data.num_test=40"])[0]


def test_run_seed_passes_overrides_to_both_stages_and_the_evaluation(tmp_path):
    """The shell script end to end on a 2-step recipe with a warm-up sibling: both stages and both scores see the overrides."""
    import os
    import subprocess
    import sys

    base = {"extends": "cpu_logic", "name": "t", "train": {"steps": 2, "warmup_steps": 0, "checkpoint_interval": 2, "log_interval": 1, "init_from": None},
            "model": {"hidden_size": 16, "l_block": {"num_heads": 2}, "h_block": {"num_heads": 2}}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "t_warmup.yaml").write_text(yaml.safe_dump({"extends": str(tmp_path / "t.yaml"), "name": "t_warmup", "data": {"train_keep_depth": [1, 1]}}))
    env = {**os.environ, "TINY_DATA": str(tmp_path / "sets"), "PYTHONPATH": str(TOOLS.parents[1])}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    run = tmp_path / "grid" / "run"  # a folder that does not exist yet, as a grid's first run meets it
    sizes = ["data.num_train=24", "data.num_test=16", "train.batch_size=8"]
    proc = subprocess.run(["bash", str(TOOLS / "run_seed.sh"), str(tmp_path / "t.yaml"), "3", str(run), *sizes],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for stage in (run, tmp_path / "grid" / "run_warmup"):
        recipe = yaml.safe_load((stage / "recipe.yaml").read_text())
        assert (recipe["data"]["num_train"], recipe["data"]["num_test"], recipe["train"]["seed"]) == (24, 16, 3)
    assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["init_from"] == str(tmp_path / "grid" / "run_warmup")
    assert float((run / "cpu_seconds").read_text()) > 0
    assert json.loads((run / "inrange.json").read_text())["metrics"]["exact_by_segment"]  # scored at every budget
    assert sum(b["n"] for b in json.loads((run / "inrange.json").read_text())["by"]["buckets"]) == 16
    bad = subprocess.run(["bash", str(TOOLS / "run_seed.sh"), str(tmp_path / "t.yaml"), "0"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage: run_seed.sh" in bad.stderr


def test_init_swap_takes_the_named_tensors_from_the_other_seed(tmp_path):
    """A failing seed's initial weights with some tensors from a good seed's, saved as a checkpoint a run can start from."""
    from hrmzoo import build_model
    from hrmzoo.persistence.checkpoint import read_weights

    out = tmp_path / "mix.safetensors"
    swap_tool.main(["cpu_logic_warmup", "--seed", "2", "--from-seed", "0", "--take", "embedding,init_z", "--out", str(out)])
    mixed, _ = read_weights(out)  # what train.init_from reads
    a, b = build_model("cpu_logic_warmup", seed=2).state_dict(), build_model("cpu_logic_warmup", seed=0).state_dict()
    assert set(mixed) == set(a)
    for name, t in mixed.items():
        want = b if name.startswith(("embedding", "init_z")) else a
        assert torch.equal(t, want[name]), name
    assert not torch.equal(a["embedding.tokens.weight"], b["embedding.tokens.weight"])  # the seeds do differ
    with pytest.raises(SystemExit, match="no tensor"):
        swap_tool.main(["cpu_logic_warmup", "--seed", "2", "--from-seed", "0", "--take", "nothing_like_this", "--out", str(out)])


def test_init_probe_scores_the_first_steps_of_each_seeds_full_run_and_picks_the_lowest(tmp_path, capsys):
    """The probe is the start of the run the chosen seed then makes: same weights, batches and schedule."""
    from hrmzoo.train.trainer import Trainer

    sets = ["model.hidden_size=16", "model.l_block.num_heads=2", "model.h_block.num_heads=2", "data.num_train=24", "data.num_test=8",
            "train.batch_size=8", "train.steps=6", "train.warmup_steps=1", f"train.data_cache={tmp_path / 'cache'}"]
    probe_tool.main(["cpu_logic_warmup", "--seeds", "4", "5", "--steps", "3", "--window", "2", "--set", *sets])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for row in rows[:2]:
        full = Trainer("cpu_logic_warmup", [*sets, f"train.seed={row['seed']}", "train.threads=1"], run_dir=tmp_path / f"full{row['seed']}")
        losses = [float(full.train_step().metrics["loss"]) for _ in range(3)]
        full.close()
        assert row["loss"] == pytest.approx(sum(losses[1:]) / 2, rel=1e-6)
    assert rows[0]["loss"] != rows[1]["loss"]
    assert rows[2]["chosen_seed"] == min(rows[:2], key=lambda r: r["loss"])["seed"]
    with pytest.raises(SystemExit, match="past the recipe's 6 training steps"):
        probe_tool.main(["cpu_logic_warmup", "--seeds", "4", "--steps", "7", "--set", *sets])


def test_init_swap_from_a_checkpoint_takes_every_shared_tensor_and_leaves_the_new_part(tmp_path):
    """A model with a controller starts from a model without one: the shared tensors are the checkpoint's, the controller its own seed's."""
    from hrmzoo import build_model, load_recipe
    from hrmzoo.persistence.checkpoint import read_weights, save_model

    donor_file = tmp_path / "donor.safetensors"
    save_model(build_model("tom2_none", seed=3), donor_file)
    out = tmp_path / "mix.safetensors"
    swap_tool.main(["tom2_perspective", "--seed", "0", "--from-checkpoint", str(donor_file), "--set", "model.hidden_size=72", "--out", str(out)])
    mixed, _ = read_weights(out)
    donor, _ = read_weights(donor_file)
    fresh = build_model(load_recipe("tom2_perspective", ["model.hidden_size=72"]), seed=0).state_dict()
    assert set(donor) < set(mixed)
    for name, t in mixed.items():
        assert torch.equal(t, donor[name] if name in donor else fresh[name]), name
    assert any(name.startswith("controller.") for name in set(mixed) - set(donor))
    with pytest.raises(SystemExit, match="none shared"):  # nothing in common: refused, not a silent fresh model
        swap_tool.main(["cpu_logic_warmup", "--seed", "0", "--from-checkpoint", str(donor_file), "--out", str(out)])


def test_floor_rules_read_no_structure_and_score_what_they_should():
    """The three floors on hand-made splits: majority per position, the commonest answer, the nearest input's answer."""
    tr_x = np.array([[1, 1, 1], [1, 1, 2], [5, 5, 5], [1, 1, 1]])
    tr_y = np.array([[0, 3, 4], [0, 3, 7], [0, 9, 9], [0, 3, 4]])
    assert floors_tool.per_position_majority(tr_y).tolist() == [0, 3, 4]
    assert floors_tool.most_common_answer(tr_y).tolist() == [0, 3, 4]
    te_x, te_y = np.array([[5, 5, 6], [1, 2, 2]]), np.array([[0, 9, 9], [5, 3, 7]])
    assert floors_tool.nearest_answers(tr_x, tr_y, te_x, chunk=1).tolist() == [[0, 9, 9], [0, 3, 7]]
    assert floors_tool.exact(np.array([[0, 9, 9], [0, 3, 7]]), te_y) == 50.0  # label 5 at position 0 is supervised and missed


def test_floors_of_a_listfn_recipe_are_one_line_per_set(tmp_path, capsys):
    floors_tool.main(["cpu_listfn", "data.num_train=40", "data.num_test=20", "--data-dir", str(tmp_path)])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["set"] for x in lines] == ["in range", "beyond"] and all(x["test instances"] == 20 and x["train instances"] == 40 for x in lines)
    assert all(0 <= x[k] <= 100 for x in lines for k in ("per-position majority", "most common answer", "nearest training instance"))
