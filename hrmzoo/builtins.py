"""Imports every built-in component so that registration happens (import side effect)."""

from hrmzoo import (  # noqa: F401
    blocks,
    controllers,
    couplings,
    embeddings,
    gradients,
    halting,
    heads,
    injections,
    solvers,
)
