"""Small builders shared by the tests."""

from __future__ import annotations

import torch

from hrmzoo import build_model

TINY = [
    "model.hidden_size=32",
    "model.seq_len=16",
    "model.vocab_size=6",
    "model.l_block.num_layers=1",
    "model.l_block.num_heads=2",
    "model.l_block.expansion=2.0",
]


def tiny_model(*overrides: str, recipe: str = "tiny_sudoku4", seed: int = 0):
    """A very small model from a shipped recipe, float32 on CPU."""
    return build_model(recipe, [*TINY, *overrides], seed=seed)


def random_batch(model, batch_size: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    return {
        "inputs": torch.randint(0, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g),
        "labels": torch.randint(0, cfg.vocab_size, (batch_size, cfg.seq_len), generator=g),
        "puzzle_identifiers": torch.zeros(batch_size, dtype=torch.long),
    }
