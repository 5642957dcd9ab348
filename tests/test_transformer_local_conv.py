"""`local_conv` on the transformer block: a depthwise convolution over the token layout, local and prefix-free."""

import pytest
import torch

from hrmzoo import build_model
from hrmzoo.blocks.transformer import LocalConv, TransformerBlock, TransformerBlockConfig
from hrmzoo.errors import HrmzooError

RECIPE = "experiments/tom/tom2_none_ptr.yaml"
CONV = ["model.l_block.local_conv=3", "model.l_block.grid_width=8", "model.h_block.local_conv=3", "model.h_block.grid_width=8"]


@pytest.mark.parametrize("prefix", [0, 2])
def test_a_position_reaches_only_its_layout_neighbours(prefix):
    width, rows, D = 8, 5, 4
    conv = LocalConv(D, 3, width, prefix)
    x = torch.zeros(1, prefix + rows * width, D)
    r, c = 2, 0  # on the left edge: its left neighbours are padding, not the row above's last cell
    x[0, prefix + r * width + c] = 1.0
    touched = set(torch.nonzero(conv(x)[0].abs().sum(-1)).flatten().tolist())
    want = {prefix + rr * width + cc for rr in (r - 1, r, r + 1) for cc in (c, c + 1)}
    assert touched == want
    y = torch.randn(1, prefix + rows * width, D)
    assert (conv(y)[0, :prefix] == 0).all()


def test_no_grad_path_is_the_autograd_path():
    cfg = TransformerBlockConfig(num_layers=2, num_heads=2, expansion=2.0, local_conv=3, grid_width=8)
    block = TransformerBlock(cfg, hidden_size=16, seq_len=8 * 6)
    x = torch.randn(3, 48, 16)
    with torch.no_grad():
        fast = block(x.clone())
    slow = block(x.clone().requires_grad_())
    assert torch.allclose(fast, slow, atol=1e-6)
    slow.sum().backward()
    assert all(layer.local.conv.weight.grad is not None for layer in block.layers)


def test_default_is_the_plain_block():
    plain = build_model(RECIPE, seed=0)
    conv = build_model(RECIPE, CONV, seed=0)
    extra = set(conv.state_dict()) - set(plain.state_dict())
    assert extra == {f"{b}.layers.0.local.conv.weight" for b in ("l_block", "h_block")}
    assert not set(plain.state_dict()) - set(conv.state_dict())
    batch = {"inputs": torch.randint(0, 41, (2, plain.cfg.seq_len)), "labels": torch.zeros(2, plain.cfg.seq_len, dtype=torch.long),
             "puzzle_identifiers": torch.zeros(2, dtype=torch.long)}
    assert torch.isfinite(conv(batch).logits).all()


@pytest.mark.parametrize("override, words", [
    (["model.l_block.local_conv=3"], "set grid_width"),
    (["model.l_block.local_conv=3", "model.l_block.grid_width=7"], "must divide them"),
    (["model.l_block.local_conv=2", "model.l_block.grid_width=8"], "0 or odd"),
])
def test_bad_layout_is_one_line(override, words):
    with pytest.raises(HrmzooError) as e:
        build_model(RECIPE, override)
    assert "\n" not in str(e.value) and words in str(e.value)
