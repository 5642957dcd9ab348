import json

import pytest
import torch
from safetensors import safe_open

from hrmzoo import load_model, save_model
from hrmzoo.persistence.checkpoint import RECIPE_KEY
from hrmzoo.cli import main as cli_main
from hrmzoo.errors import CheckpointError
from tests.helpers import random_batch, tiny_model


def test_model_safetensors_model_is_exact(tmp_path):
    model = tiny_model("model.halting={type: q_learning}", seed=7)
    path = save_model(model, tmp_path / "m.safetensors")
    again = load_model(path)
    assert again.recipe == model.recipe
    for (k, v), (k2, v2) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    batch = random_batch(model)
    with torch.no_grad():
        a, b = model(batch), again(batch)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.halt_logits, b.halt_logits)


def test_recipe_travels_in_metadata(tmp_path):
    model = tiny_model()
    path = save_model(model, tmp_path / "m.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert json.loads(meta[RECIPE_KEY]) == model.recipe.to_dict()
    assert "torch.version" in meta and "hrmzoo.version" in meta


def test_cli_build_out_round_trip(tmp_path, capsys):
    out = tmp_path / "init.safetensors"
    assert cli_main(["build", "tiny_sudoku4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "total parameters" in printed and "carrying gradient: 2" in printed
    model = load_model(out)
    from hrmzoo import build_model

    fresh = build_model("tiny_sudoku4")  # same recipe seed -> same init
    for (k, v), (_, v2) in zip(fresh.state_dict().items(), model.state_dict().items()):
        assert torch.equal(v, v2), k


def test_corrupt_checkpoint_is_one_line(tmp_path):
    model = tiny_model()
    path = save_model(model, tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        load_model(path)
    assert "corrupt or truncated" in str(exc.value) and "\n" not in str(exc.value)
    garbage = tmp_path / "g.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_model(garbage)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.safetensors")


def test_mismatched_override_is_clear(tmp_path):
    path = save_model(tiny_model(), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="shape"):
        load_model(path, ["model.hidden_size=64"])


def test_format_1_checkpoints_keep_their_embedding(tmp_path):
    """Format 1 scaled only tokens by sqrt(D); loading divides the puzzle table and
    learned positions by sqrt(D) so the input embedding is unchanged."""
    import math

    from hrmzoo import build_model, load_model
    from hrmzoo.persistence.checkpoint import FORMAT_KEY, RECIPE_KEY, atomic_save_tensors

    model = build_model("hrm_sudoku", ["model.hidden_size=32", "model.l_block.num_layers=1", "model.h_block.num_layers=1",
                                       "model.puzzle_emb_ndim=32", "model.num_puzzle_identifiers=3", "model.pos_encoding=learned"], seed=0)
    with torch.no_grad():
        model.embedding.puzzle_emb.normal_()
    D = 32
    inputs, pids = torch.randint(0, 11, (2, 81)), torch.tensor([1, 2])
    # what format 1 computed: [rows ; sqrt(D) tok] + pos, over sqrt(2)
    e = model.embedding
    rows = e.puzzle_emb[pids].view(2, 1, D)
    old = (torch.cat([rows, math.sqrt(D) * e.tokens(inputs)], 1) + e.positions) / math.sqrt(2)
    path = atomic_save_tensors(dict(model.state_dict()), tmp_path / "old.safetensors",
                               {FORMAT_KEY: "1", RECIPE_KEY: __import__("json").dumps(model.recipe.to_dict())})
    loaded = load_model(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded.embedding(inputs, pids), old, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fmt, message", [
    ("3", r"weight format 3 is newer than this hrmzoo's \(2\); upgrade hrmzoo to load it"),
    ("two", r"weight format 'two' is not a number; the file was not written by hrmzoo"),
    ("0", r"weight format 0 does not exist \(formats 1\.\.2\); the file is corrupt"),
])
def test_a_checkpoint_of_an_unknown_format_is_one_line(tmp_path, fmt, message):
    """The format is a number with a migration for every older one; anything else is refused in one line."""
    from hrmzoo import build_model, load_model
    from hrmzoo.errors import CheckpointError
    from hrmzoo.persistence.checkpoint import FORMAT_KEY, RECIPE_KEY, atomic_save_tensors

    model = build_model("tiny_sudoku4", seed=0)
    path = atomic_save_tensors(dict(model.state_dict()), tmp_path / "m.safetensors",
                               {FORMAT_KEY: fmt, RECIPE_KEY: __import__("json").dumps(model.recipe.to_dict())})
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_every_older_format_has_a_migration():
    from hrmzoo.persistence.formats import FORMAT, MIGRATIONS, UNNUMBERED

    assert sorted(MIGRATIONS) == list(range(UNNUMBERED, FORMAT))
