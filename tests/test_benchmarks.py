"""Benchmark scripts (smoke runs at a tiny size, no timing assertions), FLOP and memory
accounting, and the numerical equivalence of the hot-path speed work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from timm.layers import RmsNormFp32
from torch.utils.flop_counter import FlopCounterMode

from tests.helpers import TINY, tiny_model
from hrmzoo import build_model, list_components
from hrmzoo.analysis.flops import BlockCallCounter, block_flops_per_token, segment_forward_flops, step_flops
from hrmzoo.layers import RmsNorm, RotaryEmbedding1d, apply_rotary
from hrmzoo.model.segment_loop import new_carry, segment_step

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
for folder in (BENCH, BENCH / "speed", BENCH / "hardware"):  # common.py; the speed benchmarks; the hardware probes
    sys.path.insert(0, str(folder))

import bench_flops  # noqa: E402
import bench_memory  # noqa: E402
import bench_throughput  # noqa: E402
import common  # noqa: E402

SMALL = ["--recipe", "tiny_sudoku4", "--batch-size", "4", "--threads", "1", *TINY]


def test_throughput_smoke(capsys):
    rec = bench_throughput.main([*SMALL, "--steps", "2", "--warmup", "1", "--infer-repeats", "1"])
    out = capsys.readouterr().out
    assert "JSON: " in out and "segments/s" in out
    assert rec["train_segments_per_s"] > 0 and rec["infer_tokens_per_s"] > 0
    assert rec["infer_segments"] == 4  # tiny_sudoku4 runs 4 segments at inference
    assert 0 <= rec["overhead_frac"] < 1
    assert set(rec["train_phase_s"]) == {"data", "step_forward", "backward", "optimizer"}


def test_flops_smoke_counts_every_application(capsys):
    rec = bench_flops.main([*SMALL, "--steps", "2", "--warmup", "1", "--peak-seconds", "0.2", "--matmul-size", "128", "--clock", "cpu"])
    assert "efficiency" in capsys.readouterr().out
    # H=L=2: 4 L + 2 H per segment, twice (Q-learning's extra no-grad forward); one_step: 1 L + 1 H with grad
    assert rec["block_calls"] == {"l_block": [8, 1], "h_block": [4, 1]}
    assert rec["efficiency"] > 0 and rec["achieved_flops"] > 0
    model = tiny_model()
    S, D, B = model.cfg.total_seq_len, model.cfg.hidden_size, 4
    per_app = block_flops_per_token(model.l_block, S, D) * S * B
    head = 2 * D * model.cfg.vocab_size * model.cfg.seq_len * B
    assert rec["step_flops"] == pytest.approx(12 * per_app + 2 * 2 * per_app + 3 * head)


def test_step_flops_halting_without_extra_forward():
    model = tiny_model("model.halting={type: trm, max_segments: 4}")
    batch = common.random_batch(model, 2, torch.device("cpu"))
    with BlockCallCounter(model) as counter:
        _, res = segment_step(model, new_carry(model, batch), batch, training=True)
    assert counter.calls.calls == {"l_block": [4, 1], "h_block": [2, 1]}
    flops = step_flops(model, counter.calls, 2)
    assert flops["total"] == pytest.approx(flops["forward"] + flops["backward"])
    assert segment_forward_flops(model, 2) * 1 == pytest.approx(flops["forward"])


@pytest.mark.parametrize("recipe,overrides", [
    ("hrm_sudoku", ["model.hidden_size=64", "model.l_block.num_heads=4", "model.h_block.num_heads=4", "model.l_block.num_layers=2"]),
    ("trm_sudoku", ["model.hidden_size=64", "model.l_block.num_layers=1"]),
])
def test_block_flops_match_torch_counter(recipe, overrides):
    model = build_model(recipe, overrides)
    S, D = model.cfg.total_seq_len, model.cfg.hidden_size
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.l_block(torch.zeros(1, S, D))
    counted = counter.get_total_flops()
    # torch's counter does not count the CPU attention kernel: add 2 x 2 x S x D per token and layer
    attention = 4 * S * D * S * len(model.l_block.layers) if model.cfg.l_block.type == "transformer" else 0
    assert block_flops_per_token(model.l_block, S, D) * S == pytest.approx(counted + attention)


def test_memory_one_step_flat_bptt_linear():
    estimators = [e for e in ("one_step", "bptt", "implicit") if e in list_components("gradient")["gradient"]]
    cycles = [1, 2, 4, 8, 16]
    res = bench_memory.run("tiny_sudoku4", TINY, estimators, cycles, 2, torch.device("cpu"), "float32")
    assert res["one_step"]["ratio"] <= 1.05
    if "implicit" in res:
        assert res["implicit"]["ratio"] <= 1.05
    saved = [res["bptt"]["by_cycles"][n]["saved_bytes"] for n in cycles]
    assert res["bptt"]["ratio"] >= 10
    # linear: every added cycle saves the same number of bytes
    per_cycle = [(saved[i + 1] - saved[i]) / (cycles[i + 1] - cycles[i]) for i in range(len(cycles) - 1)]
    assert max(per_cycle) == pytest.approx(min(per_cycle), rel=0.02)
    # bptt at one cycle keeps more than one_step (which drops the first L update's graph)
    assert saved[0] > res["one_step"]["by_cycles"][1]["saved_bytes"]


def test_memory_script_prints_table(capsys):
    bench_memory.main([*SMALL, "--batch-size", "2", "--cycles", "1", "2", "--estimators", "one_step", "bptt"])
    out = capsys.readouterr().out
    assert "one_step" in out and "bptt" in out and "JSON: " in out


def test_rope_rotate_matches_reference():
    rope = RotaryEmbedding1d(16, 10)
    x = torch.randn(2, 3, 4, 10, 16)
    torch.testing.assert_close(rope.rotate(x), apply_rotary(x, *rope()))
    xb = x.bfloat16()
    assert rope.rotate(xb).dtype == torch.bfloat16
    torch.testing.assert_close(rope.rotate(xb).float(), apply_rotary(xb, *rope()).float(), atol=0.05, rtol=0.02)
    rope.to(torch.float64)  # a dtype change must drop cached casts
    assert rope.rotate(x.double()).dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_matches_timm_fp32(dtype):
    x = (torch.randn(3, 7, 32) * 20).to(dtype)
    ours, ref = RmsNorm(32)(x), RmsNormFp32(32, eps=1e-5, affine=False)(x)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, ref, atol=0, rtol=0)


def test_hrm_parameter_count_unchanged():
    assert build_model("hrm_sudoku").num_parameters() == 27_275_266


def test_allocator_tuning_is_harmless():
    assert isinstance(common.tune_cpu_allocator(), bool)
    assert (torch.ones(1000, 1000) * 2).sum() == 2_000_000


@pytest.mark.slow
def test_compiled_blocks_match_eager():
    from hrmzoo.blocks import compile_blocks

    model = tiny_model()
    batch = common.random_batch(model, 2, torch.device("cpu"))
    with torch.no_grad():
        eager = model(batch).logits
        compile_blocks(model)
        compiled = model(batch).logits
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)
    assert "l_block.layers.0.attn.qkv.weight" in model.state_dict()


import isa_peak  # noqa: E402


def test_isa_peak_source_has_one_instruction_per_chain():
    src = isa_peak.c_source(with_bf16=True)
    assert src.count("vfmadd231ps") == isa_peak.CHAINS and src.count("vdpbf16ps") == isa_peak.CHAINS
    assert "run_bf16_dot" not in isa_peak.c_source(with_bf16=False)


@pytest.mark.skipif("avx512f" not in (isa_peak.cpu_flags() or set()), reason="the probe needs AVX-512F")
def test_isa_peak_runs_and_reports_rates(capsys):
    rec = isa_peak.main(["--seconds", "0.02", "--rounds", "1"])
    if "skipped" in rec:  # no C compiler on this machine: the script must say so, not fail
        assert "cannot build" in rec["skipped"]
        return
    # one core issues at most a few FMA instructions per ns: tens to hundreds of GFLOP/s, never zero or absurd
    assert 5 < rec["gflops"]["fp32_fma"] < 2000
    if "avx512_bf16" in rec["cpu_flags"]:
        assert 5 < rec["gflops"]["bf16_dot"] < 4000
    assert "JSON: " in capsys.readouterr().out


@pytest.mark.parametrize("flags,cc,needle", [
    (set(), None, "no AVX-512F"),
    (None, None, "cannot read the CPU flags"),
    ({"avx512f"}, "/nonexistent/cc", "no C compiler"),
])
def test_isa_peak_says_why_it_skips(monkeypatch, capsys, flags, cc, needle):
    monkeypatch.setattr(isa_peak, "cpu_flags", lambda: flags)
    monkeypatch.setattr(isa_peak.platform, "machine", lambda: "x86_64")
    if cc is not None:
        monkeypatch.setenv("CC", cc)
    rec = isa_peak.main(["--rounds", "1"])
    assert needle in rec["skipped"] and "gflops" not in rec
    assert f"skipped: {rec['skipped']}" in capsys.readouterr().out
