"""The CPU fast path computes what the reference path computes.

Each fused piece is checked against its plain formula (values and gradients), and
whole training runs with every fast piece on are checked against the reference
implementations (SDPA everywhere, the rotate-half RoPE, whole-batch Q targets, no
in-place no-grad layers, autograd's own backwards for RMSNorm, SwiGLU and the QKV
split): the loss curves of 50 steps agree within float tolerance.
"""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from tests.helpers import random_batch, tiny_model
from hrmzoo.model import segment_loop as loop
from hrmzoo.analysis.flops import BlockCallCounter
from hrmzoo.layers import RmsNorm, RotaryEmbedding1d, SwiGLU, apply_rotary, attention_kernel, fast_layers
attention_module = importlib.import_module("hrmzoo.layers.attention")  # the package exports a function of that name
from hrmzoo.layers.attention import chosen_kernel, math_attention
from hrmzoo.layers.norm import RmsNormFunction
from hrmzoo.layers.rope import rotate_halves
from hrmzoo.layers.swiglu import plain_swiglu
from hrmzoo.model.segment_loop import new_carry, segment_step, target_halt_logits


def _qkv(B=3, H=2, S=7, Dh=8, dtype=torch.float64, grad=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, S, Dh, generator=g, dtype=torch.float64).to(dtype).requires_grad_(grad) for _ in range(3)]


def test_rotation_matches_rotate_half_formula_and_its_gradient():
    rope = RotaryEmbedding1d(8, 7).double()
    x = torch.randn(2, 3, 2, 7, 8, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(rope.rotate(x), apply_rotary(x, *rope()))
    torch.autograd.gradcheck(lambda t: rope.rotate(t), (x,))  # the hand-written backward
    torch.testing.assert_close(rotate_halves(x, *rope.tables(x)), apply_rotary(x, *rope()))  # the compiled form


def test_rotation_of_strided_views_in_bf16():
    rope = RotaryEmbedding1d(8, 5)
    base = torch.randn(4, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)  # [3, B, H, S, Dh], not contiguous
    out = rope.rotate(base[:2].bfloat16())
    assert out.dtype == torch.bfloat16 and out.is_contiguous()
    torch.testing.assert_close(out.float(), apply_rotary(base[:2], *rope()), atol=0.05, rtol=0.02)


def test_split_qkv_equals_rearrange_then_rotate():
    rope = RotaryEmbedding1d(8, 5).double()
    qkv = torch.randn(3, 5, 3 * 2 * 8, dtype=torch.float64)
    q, k, v = rope.split_qkv(qkv, num_heads=2)
    ref = rearrange(qkv, "b s (three h d) -> three b h s d", three=3, h=2)
    torch.testing.assert_close(q, apply_rotary(ref[0], *rope()))
    torch.testing.assert_close(k, apply_rotary(ref[1], *rope()))
    torch.testing.assert_close(v, ref[2])


def _grad_fns(t: torch.Tensor) -> set[str]:
    """Names of the autograd nodes `t` was computed through."""
    seen, todo = set(), [t.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or type(fn).__name__ in seen:
            continue
        seen.add(type(fn).__name__)
        todo += [f for f, _ in fn.next_functions]
    return seen


def test_split_qkv_fused_backward_equals_autograd_bit_for_bit():
    rope = RotaryEmbedding1d(32, 82)
    qkv = torch.randn(4, 82, 3 * 4 * 32, requires_grad=True)
    grads = [torch.randn(4, 4, 82, 32) for _ in range(3)]
    fast = rope.split_qkv(qkv, 4)
    assert "_SplitRotateQkvBackward" in _grad_fns(fast[0])
    with fast_layers(False):
        ref = rope.split_qkv(qkv, 4)
    assert "_SplitRotateQkvBackward" not in _grad_fns(ref[0])
    for a, b in zip(fast, ref):
        assert torch.equal(a, b)
    g_fast, = torch.autograd.grad(fast, qkv, grads)
    g_ref, = torch.autograd.grad(ref, qkv, grads)
    assert torch.equal(g_fast, g_ref)
    rope64 = RotaryEmbedding1d(8, 5).double()
    x = torch.randn(3, 5, 3 * 2 * 8, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda t: rope64.split_qkv(t, 2), (x,))


def test_swiglu_is_timms_swiglu_packed_with_the_same_values_and_gradients():
    from timm.layers import SwiGLUPacked

    torch.manual_seed(3)
    ours = SwiGLU(16, 2 * 24)
    torch.manual_seed(3)
    timms = SwiGLUPacked(16, 2 * 24, bias=False)
    assert list(ours.state_dict()) == list(timms.state_dict())  # checkpoint names unchanged
    for k, v in timms.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v)  # same construction, same draws
    x = torch.randn(3, 7, 16, requires_grad=True)
    fast = ours(x)
    assert "SwiGLUProductBackward" in _grad_fns(fast)
    ref = timms(x)
    assert torch.equal(fast, ref)
    g = torch.randn_like(fast)
    for a, b in zip(torch.autograd.grad(fast, [x, *ours.parameters()], g), torch.autograd.grad(ref, [x, *timms.parameters()], g)):
        assert torch.equal(a, b)
    with torch.no_grad():  # the in-place path
        assert torch.equal(ours(x), timms(x))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(ours(x), timms(x))
    h = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    from hrmzoo.layers.swiglu import SwiGLUProduct

    torch.autograd.gradcheck(SwiGLUProduct.apply, (h,))
    torch.testing.assert_close(SwiGLUProduct.apply(h), plain_swiglu(h))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_in_place_residual_norm_equals_norm_of_the_sum_bit_for_bit(dtype):
    norm = RmsNorm(16)
    x = torch.randn(3, 5, 16).to(dtype) * 3
    out = torch.randn(3, 5, 16).to(dtype)
    want = norm(x + out)
    x_before = x.clone()
    got = norm.add_into_(out, x)
    assert got.data_ptr() == out.data_ptr() and got.dtype == dtype
    assert torch.equal(got, want)
    assert torch.equal(x, x_before)  # the residual input is left alone


def test_rms_norm_function_equals_f_rms_norm():
    x = torch.randn(6, 82, 128, requires_grad=True) * 2
    y = RmsNormFunction.apply(x, 1e-5)
    ref = F.rms_norm(x, (128,), eps=1e-5)
    assert torch.equal(y, ref)  # the forward is the composite's arithmetic
    assert "RmsNormFunctionBackward" in _grad_fns(RmsNorm(128)(x))
    g = torch.randn_like(y)
    got, = torch.autograd.grad(y, x, g)
    want, = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)  # another summation order: rounding only
    x64 = torch.randn(3, 4, 8, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda t: RmsNormFunction.apply(t, 1e-5), (x64,))
    with fast_layers(False):
        assert "RmsNormFunctionBackward" not in _grad_fns(RmsNorm(128)(x))


def test_transformer_block_no_grad_in_place_path_equals_reference_bit_for_bit():
    model = tiny_model("model.l_block.num_heads=4", seed=2)
    x = torch.randn(3, model.cfg.total_seq_len, model.cfg.hidden_size)
    x_before = x.clone()
    with torch.no_grad():
        fast = model.l_block(x)
        with fast_layers(False):
            ref = model.l_block(x)
    assert torch.equal(fast, ref)
    assert torch.equal(x, x_before)
    # with autograd the fused backwards give the plain gradients up to float32 rounding
    xg = x.clone().requires_grad_()
    g = torch.randn_like(x)
    fast_grads = torch.autograd.grad(model.l_block(xg), [xg, *model.l_block.parameters()], g)
    with fast_layers(False):
        ref_grads = torch.autograd.grad(model.l_block(xg), [xg, *model.l_block.parameters()], g)
    for a, b in zip(fast_grads, ref_grads):
        assert (a - b).norm() <= 1e-5 * b.norm()  # elementwise, single entries differ by ~3e-5 relative


def test_math_attention_equals_sdpa_values_and_gradients():
    q, k, v = _qkv(grad=True)
    out = math_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_math_attention_in_bf16_is_within_bf16_rounding_of_sdpa():
    q, k, v = _qkv(B=4, S=20, Dh=16, dtype=torch.bfloat16)
    exact = F.scaled_dot_product_attention(*(t.double() for t in (q, k, v)))
    err_math = (math_attention(q, k, v).double() - exact).abs().max()
    err_sdpa = (F.scaled_dot_product_attention(q, k, v).double() - exact).abs().max()
    assert err_math < 0.02 and err_math <= 2 * err_sdpa + 1e-3


def test_reduced_precision_takes_the_plain_form_when_the_dispatch_is_forced_below_the_cpu(monkeypatch):
    """ATEN_CPU_CAPABILITY=default on an AVX-512 CPU: torch's bf16 flash kernel raises (pack_vnni2)."""
    q, k, v = _qkv(dtype=torch.bfloat16)
    monkeypatch.setattr(attention_module, "dispatch_below_cpu", lambda: True)
    with torch.no_grad():
        assert chosen_kernel(q, k, v) == "math"
    assert chosen_kernel(*(t.float() for t in (q, k, v))) == "sdpa"  # fp32 is unaffected


def test_kernel_rule_and_override():
    q, k, v = _qkv(dtype=torch.bfloat16, grad=True)
    assert chosen_kernel(q, k, v) == "math"  # CPU, reduced precision, a backward will follow
    with torch.no_grad():  # SDPA, unless the dispatch is forced to the portable level (where it fails)
        assert chosen_kernel(q, k, v) == ("math" if attention_module.dispatch_below_cpu() else "sdpa")
    assert chosen_kernel(*(t.float() for t in (q, k, v))) == "sdpa"  # fp32: SDPA measured as fast
    with attention_kernel("sdpa"):
        assert chosen_kernel(q, k, v) == "sdpa"
    with pytest.raises(ValueError, match="unknown attention kernel"):
        with attention_kernel("flash"):
            pass


def test_chunked_q_target_equals_whole_batch(monkeypatch):
    model = tiny_model("model.halting.max_segments=4")
    torch.nn.init.normal_(model.halting.head.weight, std=0.5)  # non-trivial halt logits
    batch = random_batch(model, 6)
    state = model(batch).state
    whole = target_halt_logits(model, batch, state)
    monkeypatch.setattr(loop, "CPU_CHUNK_TOKENS", 2 * model.cfg.total_seq_len)
    with BlockCallCounter(model, batch_size=6) as counter:
        chunked = target_halt_logits(model, batch, state)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    # 3 chunks of 2 rows: the blocks ran 3x as often, on a third of the batch each time
    assert counter.calls.calls == {"l_block": [4, 0], "h_block": [2, 0]}
    assert not chunked.requires_grad


def _reference_split_qkv(self, qkv, num_heads):
    """The former implementation: rearrange, then the rotate-half formula on q and k."""
    heads = rearrange(qkv, "b s (three h d) -> three b h s d", three=3, h=num_heads)
    cos, sin = self()
    return apply_rotary(heads[0], cos, sin), apply_rotary(heads[1], cos, sin), heads[2]


def _loss_curve(steps: int, dtype: torch.dtype | None, reference: bool, monkeypatch, fast_kernel: str = "auto") -> list[float]:
    model = tiny_model("model.halting.max_segments=4", "model.l_block.num_heads=4", seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    batches = [random_batch(model, 8, seed=i) for i in range(5)]
    for b in batches:  # copy the input: a task the model learns within 50 steps
        b["labels"] = b["inputs"].clone()
    carry = new_carry(model, batches[0])
    losses = []
    with monkeypatch.context() as m:
        if reference:
            m.setattr(RotaryEmbedding1d, "split_qkv", _reference_split_qkv)
            m.setattr(loop, "CPU_CHUNK_TOKENS", 1 << 40)  # whole-batch targets
            kernel = "sdpa"
        else:
            m.setattr(loop, "CPU_CHUNK_TOKENS", 3 * model.cfg.total_seq_len)  # chunk at this size
            kernel = fast_kernel
        # the reference: no in-place no-grad layers, autograd's own backwards (F.rms_norm, chunk)
        with attention_kernel(kernel), fast_layers(not reference):
            for i in range(steps):
                with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                    carry, res = segment_step(model, carry, batches[i % 5], training=True, generator=gen)
                res.loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(float(res.loss.detach()))
    return losses


def test_fast_path_loss_curve_equals_reference_fp32(monkeypatch):
    fast = _loss_curve(50, None, False, monkeypatch)
    ref = _loss_curve(50, None, True, monkeypatch)
    assert fast[-1] < 0.8 * fast[0]  # it trains
    torch.testing.assert_close(torch.tensor(fast), torch.tensor(ref), rtol=1e-4, atol=1e-5)


def test_plain_attention_loss_curve_equals_sdpa_fp32(monkeypatch):
    # the plain form everywhere (the CPU rule uses it only for bf16 with a backward): in fp32
    # its 50-step curve equals SDPA's, so the two kernels compute the same function
    fast = _loss_curve(50, None, False, monkeypatch, fast_kernel="math")
    ref = _loss_curve(50, None, True, monkeypatch)
    torch.testing.assert_close(torch.tensor(fast), torch.tensor(ref), rtol=1e-4, atol=1e-5)


def test_fast_path_loss_curve_follows_reference_bf16(monkeypatch):
    # in bf16 the plain attention form (the CPU rule with a backward) and SDPA round
    # differently, and halting decisions turn small differences into different carries;
    # the fast path must stay as close to the reference as bf16 itself is to fp32
    fast = torch.tensor(_loss_curve(50, torch.bfloat16, False, monkeypatch))
    ref = torch.tensor(_loss_curve(50, torch.bfloat16, True, monkeypatch))
    fp32 = torch.tensor(_loss_curve(50, None, True, monkeypatch))
    gap_fast = (fast - ref).abs().mean()
    gap_bf16 = (ref - fp32).abs().mean()
    print(f"mean |fast - ref| {gap_fast:.4f}, mean |ref bf16 - ref fp32| {gap_bf16:.4f}")
    assert gap_fast <= 1.5 * gap_bf16 + 1e-3
    assert (fast - ref).abs()[:5].max() < 0.02  # before the carries part ways: bf16 rounding only


def test_attention_benchmark_smoke(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "speed"))
    import bench_attention

    rec = bench_attention.main(["--batch-size", "2", "--heads", "2", "--seq", "8", "--head-dim", "8", "--repeats", "1",
                                "--seconds", "0.01", "--threads", "1"])
    assert "hrmzoo picks" in capsys.readouterr().out
    assert rec["cases"]["bfloat16/forward + backward"]["rule"] == "math"
    assert rec["cases"]["float32/no-grad forward"]["rule"] == "sdpa"
    assert all(t > 0 for case in rec["cases"].values() for t in case["ms"].values())


def test_chunk_benchmark_smoke(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "speed"))
    import bench_chunks

    rec = bench_chunks.main(["--recipe", "tiny_sudoku4", "--batch-size", "4", "--threads", "1", "--rows", "4", "2", "--rounds", "1"])
    assert "states identical" in capsys.readouterr().out
    assert rec["identical"] == {4: True, 2: True}


def test_profile_step_smoke(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "speed"))
    import profile_step

    from tests.helpers import TINY

    small = ["--recipe", "tiny_sudoku4", "--batch-size", "4", "--threads", "1", *TINY, "--steps", "1", "--warmup", "1"]
    rec = profile_step.main([*small, "--top", "3"])
    assert "top ops" in capsys.readouterr().out
    assert rec["ms_per_step"]["GEMMs (Linear, LM head, attention bmm)"] > 0
    assert rec["share"]["SwiGLU elementwise (silu, product)"] > 0 and rec["share"]["RMSNorm"] > 0
    assert abs(sum(rec["share"].values()) - 1) < 1e-9
    ref = profile_step.main([*small, "--reference-layers"])
    assert ref["reference_layers"] and not rec["reference_layers"]
    with pytest.raises(SystemExit, match="compile-blocks"):
        profile_step.main([*small, "--compile-blocks"])


@pytest.mark.slow  # compiles the model (a minute on 2 cores)
def test_profile_step_compiled_places_fused_kernels(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "speed"))
    import profile_step

    from tests.helpers import TINY

    rec = profile_step.main(["--recipe", "tiny_sudoku4", "--batch-size", "4", "--threads", "1", *TINY,
                             "--steps", "1", "--warmup", "2", "--compile"])
    assert rec["compile"] and "compiled" in capsys.readouterr().out
    assert rec["ms_per_step"]["GEMMs (Linear, LM head, attention bmm)"] > 0
    assert rec["share"]["compiled graphs' fused kernels (norms, SwiGLU, RoPE, residuals)"] > 0


def test_flops_benchmark_reference_layers_flag(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "speed"))
    import bench_flops

    from tests.helpers import TINY

    rec = bench_flops.main(["--recipe", "tiny_sudoku4", "--batch-size", "4", "--threads", "1", *TINY, "--steps", "1", "--warmup", "1",
                            "--peak-seconds", "0.1", "--matmul-size", "128", "--clock", "cpu", "--reference-layers"])
    assert rec["reference_layers"] is True and rec["efficiency"] > 0
    from hrmzoo.layers.fastpath import _enabled

    assert _enabled == [True]  # the switch is restored afterwards


def test_layers_run_on_the_meta_device_without_autograd():
    # shape checks and parameter counts build models on the meta device, under no_grad
    model = tiny_model()
    block = model.l_block.to("meta")
    with torch.no_grad():
        out = block(torch.empty(2, model.cfg.total_seq_len, model.cfg.hidden_size, device="meta"))
    assert out.shape == (2, model.cfg.total_seq_len, model.cfg.hidden_size) and out.device.type == "meta"
