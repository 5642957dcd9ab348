"""The `conv` block: a local map over a square grid of cells.

Shape, locality (what a global mixer would fail), the errors for grids it cannot
lay out, its FLOP count against torch's counter, bf16 autocast on a CPU, and the
two couplings of the zoo (hierarchical HRM and recursive TRM) training through it.
"""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch.utils.flop_counter import FlopCounterMode

from hrmzoo import build_model, registry
from hrmzoo.blocks.conv import ConvBlock, ConvBlockConfig
from hrmzoo.cli import main
from hrmzoo.errors import RecipeError
from tests.helpers import random_batch, tiny_model

CONV = "{type: conv, num_layers: 1, expansion: 2.0}"


def block(side: int, hidden: int = 8, **cfg) -> ConvBlock:
    torch.manual_seed(0)
    return ConvBlock(ConvBlockConfig(**cfg), hidden_size=hidden, seq_len=side * side).double()


@pytest.mark.parametrize("conv", ["full", "separable"])
@pytest.mark.parametrize("side,kernel", [(1, 3), (4, 3), (5, 5), (7, 1)])
def test_shape_is_kept(side, kernel, conv):
    x = torch.randn(3, side * side, 8, dtype=torch.float64)
    assert block(side, kernel_size=kernel, conv=conv)(x).shape == x.shape


def changed_cells(blk: ConvBlock, side: int, cell: tuple[int, int]) -> set[tuple[int, int]]:
    """The grid cells whose output moves when the input at `cell` (row, column) moves."""
    x = torch.randn(1, side * side, blk.hidden, dtype=torch.float64)
    y = x.clone()
    y[0, cell[0] * side + cell[1]] += torch.randn(blk.hidden, dtype=torch.float64)
    with torch.no_grad():
        diff = (blk(x) - blk(y)).abs().amax(-1)[0]
    return {divmod(i, side) for i in torch.nonzero(diff > 1e-9).flatten().tolist()}


def square(cell: tuple[int, int], radius: int, side: int) -> set[tuple[int, int]]:
    r, c = cell
    return {(i, j) for i in range(max(0, r - radius), min(side, r + radius + 1)) for j in range(max(0, c - radius), min(side, c + radius + 1))}


@pytest.mark.parametrize("conv", ["full", "separable"])
@pytest.mark.parametrize("layers,kernel,cell", [(1, 3, (3, 3)), (1, 3, (0, 6)), (2, 3, (3, 2)), (1, 5, (4, 4))])
def test_one_cell_moves_exactly_its_receptive_field(layers, kernel, cell, conv):
    """A layer of a k x k kernel reaches (k-1)/2 cells in every direction, rows and columns of
    the row-major grid alike, and no farther: a token-mixing MLP or attention moves every cell."""
    side = 9
    blk = block(side, num_layers=layers, kernel_size=kernel, conv=conv)
    assert changed_cells(blk, side, cell) == square(cell, layers * (kernel // 2), side)


def test_a_global_mixer_fails_the_locality_check():
    """The check above can fail: the token-mixing MLP moves cells far from the changed one."""
    side = 9
    torch.manual_seed(0)
    mixer_cfg = registry.get("block", "mlp_mixer").config(num_layers=1)
    mixer = registry.get("block", "mlp_mixer").cls(mixer_cfg, hidden_size=8, seq_len=side * side).double()
    mixer.hidden = 8
    assert changed_cells(mixer, side, (4, 4)) - square((4, 4), 1, side)


def test_a_non_square_grid_is_a_one_line_build_error(capsys):
    with pytest.raises(RecipeError, match=r"model\.seq_len: block 'conv' needs a square grid.* 15 is not a square"):
        tiny_model(f"model.l_block={CONV}", "model.seq_len=15")
    assert main(["build", "cpu_maze15", f"model.l_block={CONV}", f"model.h_block={CONV}", "model.seq_len=224"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.seq_len" in err[0] and "224" in err[0]


def test_a_puzzle_embedding_prefix_is_refused_naming_its_key():
    with pytest.raises(RecipeError, match=r"model\.puzzle_emb_ndim: block 'conv' .* set model\.puzzle_emb_ndim: 0"):
        tiny_model(f"model.l_block={CONV}", "model.puzzle_emb_ndim=32")


def test_an_even_kernel_is_refused():
    with pytest.raises(ValidationError, match="kernel_size must be odd"):
        ConvBlockConfig(kernel_size=4)


@pytest.mark.parametrize("conv", ["full", "separable"])
def test_flops_per_token_matches_torch_flop_counter(conv):
    side, hidden = 6, 16
    blk = block(side, hidden, num_layers=2, conv=conv).float()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        blk(torch.randn(2, side * side, hidden))
    assert blk.flops_per_token(side * side) == pytest.approx(counter.get_total_flops() / (2 * side * side))


def test_init_is_lecun_normal_in_every_convolution():
    """std 1/sqrt(fan_in), fan_in = input channels per group x k x k, as the zoo's Linears."""
    hidden = 64
    torch.manual_seed(0)
    for conv, fan_in in (("full", hidden * 9), ("separable", 9)):
        blk = ConvBlock(ConvBlockConfig(num_layers=4, conv=conv), hidden_size=hidden, seq_len=25)
        first = torch.cat([layer.conv.weight.flatten() if conv == "full" else layer.conv[0].weight.flatten() for layer in blk.layers])
        assert first.std().item() == pytest.approx(fan_in**-0.5, rel=0.1 if conv == "full" else 0.25)


@pytest.mark.parametrize("shape", [(64, 64, 3, 3), (64, 1, 5, 5), (48, 64, 1, 1)])
def test_convolution_init_is_timms_lecun_normal_bit_for_bit(shape):
    """The block's own copy of timm's lecun_normal_ (so that building a model imports no timm):
    the same draws from the same seed, the same bits, -0.0 and clipping included."""
    from timm.layers import lecun_normal_

    from hrmzoo.layers.init import float32_lecun_normal_

    ours, theirs = torch.empty(shape), torch.empty(shape)
    torch.manual_seed(5)
    float32_lecun_normal_(ours)
    after_ours = torch.rand(1)
    torch.manual_seed(5)
    lecun_normal_(theirs)
    assert torch.equal(ours.view(torch.int32), theirs.view(torch.int32)) and torch.equal(after_ours, torch.rand(1))


@pytest.mark.parametrize("multiple,inner", [(256, 256), (8, 64)])
def test_swiglu_width_rounds_to_mlp_multiple(multiple, inner):
    """2/3 x 2.0 x 48 = 64, rounded up to 256 by HRM's rule, kept at 64 with a multiple of 8."""
    blk = ConvBlock(ConvBlockConfig(num_layers=1, expansion=2.0, mlp_multiple=multiple), hidden_size=48, seq_len=9)
    assert blk.layers[0].mlp.fc2.in_features == inner


def test_bf16_autocast_forward_on_cpu():
    side, hidden = 5, 16
    blk = block(side, hidden, num_layers=2).float()
    x = torch.randn(2, side * side, hidden)
    with torch.no_grad():
        ref = blk(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = blk(x)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max().item() < 0.1  # post-norm outputs are O(1)


@pytest.mark.parametrize("coupling", ["{type: hierarchical, h_cycles: 2, l_cycles: 2}", "{type: recursive, t_cycles: 2, n_cycles: 2}"])
def test_hierarchical_and_recursive_models_train_through_it(coupling):
    """A few optimiser steps on one batch lower its loss, with every convolution trained."""
    model = tiny_model(f"model.l_block={CONV}", f"model.h_block={CONV}" if "hier" in coupling else "model.h_block=null",
                       f"model.coupling={coupling}", "model.gradient={type: last_cycle}")
    batch = random_batch(model, batch_size=4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        out = model(batch)
        loss = model.head.loss(out.logits, batch["labels"]).mean()
        loss.backward()
        losses.append(loss.item())
        convs = [m.weight.grad for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs and all(g is not None and g.abs().sum() > 0 for g in convs)
        opt.step()
    assert losses[-1] < losses[0]



def test_cpu_maze15_builds_with_it():
    model = build_model("cpu_maze15", seed=0)
    assert isinstance(model.l_block, ConvBlock) and model.l_block.side == 15
