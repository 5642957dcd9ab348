"""Seed-stable construction: each component draws from its own generator.

A model's base weights must not depend on which optional components are
present: `build_model(r, seed=0)` with `controller: none` and with
`controller: quaternion` must start from the same L/H blocks, embeddings,
head and initial states, or a seed-paired ablation compares different models.
Every component is therefore initialised under a torch seed derived from
(model seed, component path), whatever was built before it.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Iterator

import torch


def component_seed(seed: int, path: str) -> int:
    """A 63-bit seed for `path` (e.g. `"l_block"`) derived from the model seed."""
    digest = hashlib.sha256(f"hrmzoo:{int(seed)}:{path}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@contextmanager
def seeded(seed: int, path: str) -> Iterator[None]:
    """Run the body with the global CPU generator seeded for `path`; restore it after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(component_seed(seed, path))
        yield
