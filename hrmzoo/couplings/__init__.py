"""Couplings: which module updates when, and what it hears."""

from hrmzoo.couplings import flat, hierarchical, recursive  # noqa: F401  (registers)
from hrmzoo.couplings.base import Coupling, CouplingConfig, Parts, State, Update

__all__ = ["Coupling", "CouplingConfig", "Parts", "State", "Update"]
