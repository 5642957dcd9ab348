"""Importing checkpoints of the original HRM and TRM code.

The original state dicts are written in the test from zoo models through the
inverse mapping (``to_original_state_dict``), in the original's key layout
(``_orig_mod.model.inner.H_level.layers.0.self_attn.qkv_proj.weight`` ...), and
saved with ``torch.save`` as the original trainers do. The zoo and the original
scale the same input (sqrt(D) over the whole embedding, prefix included), so
values pass unchanged.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from hrmzoo import build_model, load_model
from hrmzoo.errors import CheckpointError
from hrmzoo.interop import import_hrm, import_trm, to_original_state_dict

HRM_ARCH = {
    "name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
    "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"},
    "halt_exploration_prob": 0.1, "halt_max_steps": 8,
    "H_cycles": 3, "L_cycles": 2, "H_layers": 2, "L_layers": 1,
    "hidden_size": 32, "num_heads": 4, "expansion": 4, "puzzle_emb_ndim": 32, "pos_encodings": "rope",
}


def hrm_zoo_model(pos="rope", ndim=32):
    model = build_model("hrm_sudoku", [
        "model.hidden_size=32", "model.seq_len=9", "model.num_puzzle_identifiers=5", f"model.puzzle_emb_ndim={ndim}",
        f"model.pos_encoding={pos}", "model.l_block.num_layers=1", "model.h_block.num_layers=2",
        "model.l_block.num_heads=4", "model.h_block.num_heads=4", "model.coupling.h_cycles=3",
        "model.coupling.l_cycles=2", "model.halting.max_segments=8",
    ], seed=3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.embedding.puzzle_emb.normal_(0, 0.5, generator=gen)
        model.halting.head.weight.normal_(0, 0.1, generator=gen)
    return model


def batch(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"inputs": torch.randint(0, model.cfg.vocab_size, (3, model.cfg.seq_len), generator=g),
            "puzzle_identifiers": torch.tensor([0, 4, 2])}


def outputs(model, b):
    with torch.no_grad():
        first = model(b)
        second = model(b, first.state)  # a carried state too, not only the initial one
    return second.logits, second.halt_logits


def write_original(model, tmp_path, arch, prefix="_orig_mod.model.inner."):
    ckpt = tmp_path / "step_100"
    torch.save(to_original_state_dict(model, prefix), ckpt)
    config = tmp_path / "all_config.yaml"
    config.write_text(yaml.safe_dump({"arch": arch, "global_batch_size": 768, "lr": 1e-4}))
    return ckpt, config


@pytest.mark.parametrize("pos,ndim", [("rope", 32), ("learned", 40)])
def test_hrm_import_reproduces_the_logits_exactly(tmp_path, pos, ndim):
    zoo = hrm_zoo_model(pos, ndim)
    ckpt, config = write_original(zoo, tmp_path, {**HRM_ARCH, "pos_encodings": pos, "puzzle_emb_ndim": ndim})
    keys = torch.load(ckpt, weights_only=True)
    assert "_orig_mod.model.inner.H_level.layers.1.mlp.gate_up_proj.weight" in keys and "_orig_mod.model.inner.L_init" in keys
    imported = import_hrm(ckpt, config, {"seq_len": 9} if pos == "rope" else None)
    assert imported.cfg.coupling.h_cycles == 3 and imported.cfg.halting.max_segments == 8
    assert imported.num_parameters() == zoo.num_parameters()
    b = batch(zoo)
    for got, want in zip(outputs(imported, b), outputs(zoo, b)):
        assert torch.equal(got, want)


def test_hrm_import_accepts_any_prefix_and_the_arch_fields_as_overrides(tmp_path):
    zoo = hrm_zoo_model()
    torch.save(to_original_state_dict(zoo, prefix="inner."), tmp_path / "ckpt.pt")
    fields = {k: HRM_ARCH[k] for k in ("H_cycles", "L_cycles", "num_heads", "halt_max_steps")}
    imported = import_hrm(tmp_path / "ckpt.pt", None, {**fields, "seq_len": 9})
    b = batch(zoo)
    assert torch.equal(outputs(imported, b)[0], outputs(zoo, b)[0])


def test_hrm_import_names_what_is_missing(tmp_path):
    zoo = hrm_zoo_model()
    torch.save(to_original_state_dict(zoo), tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match=r"'H_cycles' is not in the weights.*H_cycles=2"):
        import_hrm(tmp_path / "ckpt.pt", None, {"num_heads": 4, "seq_len": 9})
    with pytest.raises(CheckpointError, match="seq_len=N"):
        import_hrm(tmp_path / "ckpt.pt", None, {"num_heads": 4, "H_cycles": 3, "L_cycles": 2})


@pytest.mark.parametrize("block", ["mlp_mixer", "transformer"])
@pytest.mark.parametrize("halting", ["trm", "q_learning"])
def test_trm_import_reproduces_the_logits_exactly(tmp_path, block, halting):
    blk = ("{type: mlp_mixer, num_layers: 2, expansion: 4.0, token_expansion: 2.0, token_norm: sequence}" if block == "mlp_mixer"
           else "{type: transformer, num_layers: 2, num_heads: 4, expansion: 4.0}")
    zoo = build_model("trm_sudoku", [
        "model.hidden_size=32", "model.seq_len=9", "model.num_puzzle_identifiers=3", "model.puzzle_emb_ndim=32",
        "model.prefix_len=4", f"model.l_block={blk}", "model.coupling.t_cycles=2", "model.coupling.n_cycles=3",
        f"model.halting={{type: {halting}, max_segments: 4}}",
    ], seed=1)
    with torch.no_grad():
        zoo.embedding.puzzle_emb.normal_(0, 0.5)
        zoo.halting.head.weight.normal_(0, 0.1)
    arch = {"H_cycles": 2, "L_cycles": 3, "L_layers": 2, "H_layers": 0, "hidden_size": 32, "num_heads": 4,
            "puzzle_emb_len": 4, "mlp_t": block == "mlp_mixer", "no_ACT_continue": halting == "trm",
            "halt_max_steps": 4, "pos_encodings": zoo.cfg.pos_encoding}
    ckpt, config = write_original(zoo, tmp_path, arch)
    imported = import_trm(ckpt, config, {"seq_len": 9})
    assert imported.cfg.l_block.type == block and imported.cfg.halting.type == halting
    assert imported.cfg.gradient.type == "last_cycle"
    if block == "mlp_mixer":  # TRM's mlp_t normalisation (tests/test_original_forward.py checks its function)
        assert imported.cfg.l_block.token_norm == "sequence"
    b = {**batch(zoo), "puzzle_identifiers": torch.tensor([0, 2, 1])}
    for got, want in zip(outputs(imported, b), outputs(zoo, b)):
        assert torch.equal(got, want)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "hrmzoo", *args], capture_output=True, text=True, timeout=300)


def test_cli_import_writes_a_zoo_checkpoint(tmp_path):
    zoo = hrm_zoo_model()
    ckpt, config = write_original(zoo, tmp_path, HRM_ARCH)
    out = tmp_path / "model.safetensors"
    proc = run_cli("import", "hrm", str(ckpt), "seq_len=9", "--config", str(config), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "saved:" in proc.stdout
    b = batch(zoo)
    assert torch.equal(outputs(load_model(out), b)[0], outputs(zoo, b)[0])


def _bad_files(tmp_path, zoo):
    good = to_original_state_dict(zoo)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01 not a checkpoint" * 10)
    foreign = tmp_path / "foreign"
    torch.save({"encoder.layer.0.weight": torch.zeros(2, 2)}, foreign)
    missing = tmp_path / "missing"
    torch.save({k: v for k, v in good.items() if not k.endswith("lm_head.weight")}, missing)
    truncated = tmp_path / "truncated"
    torch.save(good, truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    code = tmp_path / "code"
    torch.save({"model": subprocess.Popen}, code)  # a pickled reference to code, never to be loaded
    return {"garbage": garbage, "foreign": foreign, "missing": missing, "truncated": truncated, "code": code}


def test_cli_import_refuses_corrupt_or_foreign_files_in_one_line(tmp_path, capsys):
    from hrmzoo.cli import main

    zoo = hrm_zoo_model()
    _, config = write_original(zoo, tmp_path, HRM_ARCH)
    expected = {"garbage": "not a readable state dict", "foreign": "unknown key 'encoder.layer.0.weight'",
                "missing": "missing", "truncated": "not a readable state dict", "code": "not a readable state dict"}
    for name, path in _bad_files(tmp_path, zoo).items():
        code = main(["import", "hrm", str(path), "seq_len=9", "--config", str(config), "--out", str(tmp_path / "o.safetensors")])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and expected[name] in lines[0], (name, err)
    assert not (tmp_path / "o.safetensors").exists()
