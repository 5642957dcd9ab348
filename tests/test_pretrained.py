"""The weights shipped in the package (hrmzoo/weights): cards complete and true to their files."""

from __future__ import annotations

import hashlib

import pytest

import hrmzoo
from hrmzoo.persistence.hub import CARD_FIELDS, WEIGHTS_DIR, available, card

SHIPPED = available()


def test_every_file_has_its_card_and_the_wheel_stays_small():
    files = sorted(WEIGHTS_DIR.glob("*.safetensors"))
    assert files and {f.stem for f in files} == set(SHIPPED)
    assert {p.stem for p in WEIGHTS_DIR.glob("*.json")} == set(SHIPPED)
    assert sum(f.stat().st_size for f in files) <= 5 * 2**20  # the wheel-growth limit


@pytest.mark.parametrize("name", SHIPPED)
def test_card_is_complete_and_its_sha256_matches_the_file(name):
    c = card(name)
    missing = [f for f in CARD_FIELDS if c.get(f) in (None, "", [], {})]
    assert not missing, f"{name}.json lacks {missing}"
    path = WEIGHTS_DIR / f"{name}.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == c["sha256"] and path.stat().st_size == c["file_bytes"]
    acc = c["accuracy"]
    assert acc["segments"] == [1, 2, 4, 8, 16]
    assert all(0 <= acc[mode][str(k)] <= 100 for mode in ("fixed", "adaptive") for k in acc["segments"])
    assert c["machine"]["cpu"] and c["reproduce"][0].startswith("python tools/time_compare.py")


@pytest.mark.parametrize("name", SHIPPED)
def test_pretrained_loads_and_runs_a_batch(name):
    import torch

    model = hrmzoo.pretrained(name)
    also = hrmzoo.load_model(f"pretrained:{name}")
    assert model.recipe == also.recipe and model.recipe.name == card(name)["recipe_name"]
    inputs = torch.ones(2, model.cfg.seq_len, dtype=torch.long)
    with torch.no_grad():
        out = model({"inputs": inputs}, None)
    assert out.logits.shape[:2] == (2, model.cfg.seq_len) and torch.isfinite(out.logits).all()


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(hrmzoo.HrmzooError, match="no pretrained model 'nope'; shipped: "):
        hrmzoo.pretrained("nope")


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_reaches_its_card_accuracy_on_its_test_split(name, tmp_path):
    """Regenerates the card's dataset from its spec (the generator is seeded) and scores the file."""
    import torch

    from hrmzoo.analysis.compare import segment_scores
    from hrmzoo.analysis.evalrun import dataset_batches
    from hrmzoo.data.prepare import prepare_data

    torch.set_num_threads(1)
    c = card(name)
    root = prepare_data(c["data"]["spec"], tmp_path / "data")
    assert root.name == c["data"]["fingerprint"]
    model = hrmzoo.pretrained(name, ["model.halting.max_segments=16", "model.halting.eval_mode=adaptive"])
    scores = segment_scores(model, dataset_batches(root, "test", 256), [1, 2, 4, 8, 16], None)
    assert scores["examples"] == c["test_examples"]
    for mode in ("fixed", "adaptive"):
        for k in map(str, c["accuracy"]["segments"]):
            expected = c["accuracy"][mode][k]
            assert abs(scores[mode][k] - expected) <= 1.0, f"{name} {mode} at {k} segments: {scores[mode][k]:.2f}% vs card {expected:.2f}%"


@pytest.mark.parametrize("name", SHIPPED)
def test_the_recipe_of_the_same_name_builds_the_shipped_architecture(name):
    """Training the recipe a card names gives the model its weights were trained as: a changed
    component default (mlp_mixer's token_norm became `sequence`) must not silently change what a
    shipped recipe builds while its weights, card and results rows say otherwise."""
    from hrmzoo.recipe import load_recipe

    shipped = hrmzoo.pretrained(name).recipe.model.model_dump()
    assert load_recipe(card(name)["recipe_name"]).model.model_dump() == shipped


def test_only_the_shipped_files_skip_the_parameter_count_before_building(tmp_path, monkeypatch):
    """load_model counts a checkpoint recipe's parameters on the meta device before allocating
    (a forged recipe must not ask for terabytes); the package's own weights skip it (trusted as
    its code; the count imports torch's compiler, seconds of `hrmzoo solve`). A copy of the same
    file elsewhere, or shipped weights with overrides, are counted as before."""
    import shutil

    monkeypatch.setenv("HRMZOO_LIMIT_PARAMETERS", "1000")  # below every shipped model
    assert hrmzoo.load_model("pretrained:tiny_sudoku4").num_parameters() > 1000
    copy = shutil.copy(WEIGHTS_DIR / "tiny_sudoku4.safetensors", tmp_path / "m.safetensors")
    with pytest.raises(hrmzoo.HrmzooError, match="exceeds the limit 1000; set HRMZOO_LIMIT_PARAMETERS"):
        hrmzoo.load_model(copy)
    with pytest.raises(hrmzoo.HrmzooError, match="exceeds the limit 1000"):
        hrmzoo.pretrained("tiny_sudoku4", ["model.halting.eval_mode=adaptive"])


def test_the_checkpoint_commands_take_shipped_weights_and_write_under_runs(tmp_path, monkeypatch):
    import json

    from hrmzoo.cli import main

    monkeypatch.chdir(tmp_path)  # the dataset cache and the reports land here, never in the installed package
    before = sorted(p.name for p in WEIGHTS_DIR.iterdir())
    assert main(["eval", "pretrained:tiny_sudoku4", "limit=16", "threads=1"]) == 0
    assert main(["trace", "pretrained:tiny_sudoku4", "threads=1"]) == 0
    out = tmp_path / "runs" / "pretrained-tiny_sudoku4"
    report = json.loads((out / "eval_report.json").read_text())
    assert report["metrics"]["num_examples"] == 16 and (out / "trace_0.png").is_file()
    assert sorted(p.name for p in WEIGHTS_DIR.iterdir()) == before


def test_eval_says_when_max_segments_is_capped_and_how_to_go_further(tmp_path, monkeypatch, capsys):
    import json

    from hrmzoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["eval", "pretrained:tiny_sudoku4", "limit=8", "threads=1", "max_segments=64", "out=a.json"]) == 0
    err = capsys.readouterr().err
    budget = json.loads((tmp_path / "a.json").read_text())["metrics"]["max_segments"]
    assert budget < 64 and "model.halting.max_segments=64" in err and f"budget of {budget} segments" in err
    assert main(["eval", "pretrained:tiny_sudoku4", "limit=8", "threads=1", "model.halting.max_segments=64", "out=b.json"]) == 0
    assert "note: max_segments" not in capsys.readouterr().err
    assert json.loads((tmp_path / "b.json").read_text())["metrics"]["max_segments"] == 64
