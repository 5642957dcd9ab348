"""The identity controller."""

from hrmzoo.controllers.base import Controller, ControllerConfig
from hrmzoo.registry import register


@register("controller", "none", config=ControllerConfig, sizes=())
class NoController(Controller):
    """No controller: every hook returns its value unchanged."""

    def __init__(self, cfg=None):
        super().__init__()
