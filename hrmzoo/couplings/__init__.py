"""Couplings: which module updates when, and what it hears."""

from hrmzoo.couplings import flat, hierarchical, levels, recursive  # noqa: F401  (registers)
from hrmzoo.couplings.base import Coupling, CouplingConfig, Level, Levels, LevelSpec, State, Update

__all__ = ["Coupling", "CouplingConfig", "Level", "LevelSpec", "Levels", "State", "Update"]
