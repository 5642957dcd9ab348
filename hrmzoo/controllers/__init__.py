"""Controllers ("empathy" heads) that modulate updates at named hook points."""

from hrmzoo.controllers import none  # noqa: F401  (registers)
from hrmzoo.controllers.base import HOOK_POINTS, ControlContext, Controller, ControllerConfig

__all__ = ["HOOK_POINTS", "ControlContext", "Controller", "ControllerConfig"]
