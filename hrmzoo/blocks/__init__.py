"""Blocks: sequence maps used as L-blocks and H-blocks."""

from hrmzoo.blocks import conv, mlp_mixer, transformer  # noqa: F401  (registers)
from hrmzoo.blocks.base import Block, BlockConfig, compile_blocks

__all__ = ["Block", "BlockConfig", "compile_blocks"]
