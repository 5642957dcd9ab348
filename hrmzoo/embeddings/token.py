"""Token embedding with HRM's per-puzzle prefix and optional learned positions."""

from __future__ import annotations

import math

from typing import Optional

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from hrmzoo.errors import RecipeError
from hrmzoo.layers.init import trunc_normal_init_
from hrmzoo.registry import ComponentConfig, register


class PointerTokens(ComponentConfig):
    """Tokens that name positions of the input: token `first_token + i` names input position `first_position + i`.

    Such a token is embedded as the learned position vector of the position it
    names (shared, not copied), so attention can match it against that position
    from the start instead of learning one alignment per position. E.g. tom2's
    `cell_tokens` (a move's destination cell, `CELL0 + r*n + c`) pointing at
    the map rows: `{first_token: 41, first_position: 56, count: 64}` for 8x8
    maps with 12 event slots.
    """

    first_token: int = Field(ge=0)
    first_position: int = Field(ge=0, description="input position (puzzle prefix excluded) the first pointer token names")
    count: int = Field(ge=1)


class EmbeddingConfig(ComponentConfig):
    """Token embedding.

    Attributes:
        scale_by_sqrt_hidden: multiply the whole input embedding (puzzle prefix
            and learned positions included) by sqrt(hidden), as HRM does.
        pointer_tokens: tokens that name input positions, embedded as those
            positions' learned vectors (needs `pos_encoding: learned`).
    """

    scale_by_sqrt_hidden: bool = True
    pointer_tokens: Optional[PointerTokens] = None


@register("embedding", "token", config=EmbeddingConfig, sizes=('hidden_size', 'vocab_size', 'seq_len', 'num_prefix', 'pos_encoding', 'num_puzzle_identifiers', 'puzzle_emb_ndim'))
class TokenEmbedding(nn.Module):
    """HRM's input embedding: sqrt(D) * [puzzle prefix ; tokens] (+ learned positions).

    As in the original (`_input_embeddings` in `hrm_act_v1.py`), the scale
    applies to the whole sequence, prefix included, after the positions are
    mixed in: `sqrt(D) * (e + pos) / sqrt(2)` with learned positions,
    `sqrt(D) * e` otherwise. Token vectors and positions start at std
    `1/sqrt(D)` (so `sqrt(D) * e` has unit scale). Scaling only the tokens
    would make the sign-SGD puzzle rows move sqrt(D) times slower than HRM's
    and misread an original checkpoint's table.

    The per-puzzle table is a real `nn.Parameter` named `puzzle_emb`
    (zero-initialised; the trainer gives it a sign-SGD optimizer that touches
    only the rows of the batch). The original HRM kept it in a buffer, which
    silently broke after `.to()`.
    """

    def __init__(self, cfg: EmbeddingConfig, *, hidden_size: int, vocab_size: int, seq_len: int, num_prefix: int = 0,
                 pos_encoding: str = "none", num_puzzle_identifiers: int = 0, puzzle_emb_ndim: int = 0):
        """Args: `cfg`; the sizes (see `hrmzoo.model.wiring.ComponentSizes`): `seq_len` counts the prefix."""
        super().__init__()
        D = hidden_size
        self.hidden = D
        self.prefix_len = num_prefix
        self.scale = math.sqrt(D) if cfg.scale_by_sqrt_hidden else 1.0
        self.tokens = nn.Embedding(vocab_size, D)
        trunc_normal_init_(self.tokens.weight, std=1.0 / math.sqrt(D))
        self.puzzle_emb = None
        if puzzle_emb_ndim > 0 and num_puzzle_identifiers > 0:
            self.puzzle_emb = nn.Parameter(torch.zeros(num_puzzle_identifiers, puzzle_emb_ndim))
        self.positions = None
        if pos_encoding == "learned":
            self.positions = nn.Parameter(torch.empty(seq_len, D))
            trunc_normal_init_(self.positions, std=1.0 / math.sqrt(D))
        self.pointers = cfg.pointer_tokens
        if self.pointers is not None:
            ptr = self.pointers
            if self.positions is None:
                raise RecipeError(f"model.embedding.pointer_tokens: pointer tokens are embedded as learned positions, but pos_encoding is "
                                  f"{pos_encoding!r}; set model.pos_encoding: learned")
            if ptr.first_token + ptr.count > vocab_size:
                raise RecipeError(f"model.embedding.pointer_tokens: tokens {ptr.first_token}..{ptr.first_token + ptr.count - 1} exceed the "
                                  f"vocabulary ({vocab_size} tokens); fix first_token/count or model.vocab_size")
            if ptr.first_position + ptr.count > seq_len - num_prefix:
                raise RecipeError(f"model.embedding.pointer_tokens: positions {ptr.first_position}..{ptr.first_position + ptr.count - 1} exceed "
                                  f"the input ({seq_len - num_prefix} positions); fix first_position/count")

    def forward(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor | None = None) -> torch.Tensor:
        x = self.tokens(inputs)
        if self.pointers is not None:
            ptr = self.pointers
            named = inputs.long() - ptr.first_token
            is_pointer = (named >= 0) & (named < ptr.count)
            start = self.prefix_len + ptr.first_position
            at = self.positions[start: start + ptr.count][named.clamp(0, ptr.count - 1)]
            x = torch.where(is_pointer[..., None], at.to(x.dtype), x)
        if self.prefix_len:
            B = inputs.shape[0]
            if self.puzzle_emb is not None and puzzle_identifiers is not None:
                rows = self.puzzle_emb[puzzle_identifiers]
                rows = F.pad(rows, (0, self.prefix_len * self.hidden - rows.shape[-1]))
            else:
                rows = x.new_zeros(B, self.prefix_len * self.hidden)
            x = torch.cat([rows.view(B, self.prefix_len, self.hidden).to(x.dtype), x], dim=1)
        if self.positions is not None:
            # 1/sqrt(2) keeps the variance of the sum near that of either term
            x = (x + self.positions.to(x.dtype)) * (1 / math.sqrt(2))
        return x * self.scale if self.scale != 1.0 else x
