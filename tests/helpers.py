"""Small builders shared by the tests."""

from __future__ import annotations

import contextlib
import sys

import torch

from hrmzoo import build_model

# a two-level transformer HRM shrunk to test size; explicit blocks, so it applies to any recipe
TINY = [
    "model.hidden_size=32",
    "model.puzzle_emb_ndim=0",
    "model.seq_len=16",
    "model.vocab_size=6",
    "model.l_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}",
    "model.h_block=null",
]


def tiny_model(*overrides: str, recipe: str = "hrm_sudoku", seed: int = 0):
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

# TINY as three levels (model.levels replaces l_block/h_block): L L M L L M H per segment
THREE_LEVELS = [
    "~model.l_block",
    "~model.h_block",
    "model.levels=[{name: L, block: {type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}}, {name: M, period: 2}, {name: H, period: 2}]",
    "model.coupling={type: levels, steps: 4}",
]


TUNED_HEADS = "experiments.controllers.tuned_heads"  # the controllers experiment's plugin, as its recipes import it


@contextlib.contextmanager
def tuned_heads_plugin():
    """The experiment plugin registered for the block, then unregistered (and forgotten, so a later
    import registers it again): the catalogue test sees only what the zoo itself registers."""
    import importlib

    from hrmzoo.loading.plugins import import_plugins
    from hrmzoo.registry import REGISTRIES

    import_plugins([TUNED_HEADS], "tests")
    try:
        yield importlib.import_module(TUNED_HEADS)
    finally:
        for name in ("film_tuned", "quaternion_tuned"):
            REGISTRIES["controller"].remove(name)
        sys.modules.pop(TUNED_HEADS, None)
