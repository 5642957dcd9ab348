"""Controllers ("empathy" heads) that modulate updates at named hook points."""

from hrmzoo.controllers import film, none, perspective, quaternion  # noqa: F401  (registers)
from hrmzoo.controllers.base import HOOK_POINTS, ControlContext, Controller, ControllerConfig, ControllerError

__all__ = ["HOOK_POINTS", "ControlContext", "Controller", "ControllerConfig", "ControllerError"]
