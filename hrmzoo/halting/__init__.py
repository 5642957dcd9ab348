"""Halting policies: how many segments each sample runs."""

from hrmzoo.halting import pondernet, policies  # noqa: F401  (registers)
from hrmzoo.halting.base import ExploringConfig, HaltingConfig, HaltingPolicy

__all__ = ["ExploringConfig", "HaltingConfig", "HaltingPolicy"]
