"""Token embedding with HRM's per-puzzle prefix and optional learned positions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hrmzoo.layers.init import trunc_normal_init_
from hrmzoo.registry import ComponentConfig, register


class EmbeddingConfig(ComponentConfig):
    """Token embedding.

    Attributes:
        scale_by_sqrt_hidden: multiply the whole input embedding (puzzle prefix
            and learned positions included) by sqrt(hidden), as HRM does.
    """

    scale_by_sqrt_hidden: bool = True


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

    def forward(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor | None = None) -> torch.Tensor:
        x = self.tokens(inputs)
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
