"""Base class of blocks: a sequence map [B, S, D] -> [B, S, D]."""

from __future__ import annotations

import torch
from torch import nn

from hrmzoo.registry import ComponentConfig


class BlockConfig(ComponentConfig):
    """Fields every block has.

    Attributes:
        num_layers: layers stacked in the block.
    """

    num_layers: int = 4


class Block(nn.Module):
    """A stack of layers: the network of one level (L, H, or any level of `model.levels`).

    Subclasses are built as `Block(cfg, hidden_size=..., seq_len=..., ...)`,
    asking by keyword for the sizes they need (see `hrmzoo.model.wiring`), and map a
    tensor [B, S, D] to one of the same shape (S includes the puzzle prefix).
    The model checks the shape when it is built and refuses a block that
    changes it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """[B, S, D] -> [B, S, D]: one application of the block."""
        raise NotImplementedError


def swiglu_inner(hidden: int, expansion: float, multiple: int = 256) -> int:
    """HRM's SwiGLU width: round(expansion * D * 2/3) up to a multiple of 256."""
    inner = round(expansion * hidden * 2 / 3)
    return -(-inner // multiple) * multiple


def compile_blocks(model: nn.Module, **compile_kwargs) -> nn.Module:
    """Compile the model's blocks (every level's) in place with `torch.compile` (static shapes).

    Blocks are the hot path and have fixed shapes for a given batch size, so
    each compiles to one graph per grad mode (the gradient estimator calls them
    with and without grad). Compiling whole segments instead would trace the
    estimator's grad switching and the controller hooks and break graphs.
    Parameter names and checkpoints are unchanged (`nn.Module.compile`).

    Args:
        model: a ReasoningModel (any module with `level_networks()`, or `l_block`/`h_block`).
        compile_kwargs: passed to `torch.compile` (default `dynamic=False`).
    """
    compile_kwargs.setdefault("dynamic", False)
    if hasattr(model, "level_networks"):
        blocks = list({id(lv.block): lv.block for lv in model.level_networks().values()}.values())
    else:
        blocks = [b for b in (getattr(model, "l_block", None), getattr(model, "h_block", None)) if b is not None]
    for block in blocks:
        block.compile(**compile_kwargs)
    return model
