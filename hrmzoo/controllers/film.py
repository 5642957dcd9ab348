"""A single FiLM head: the one-head baseline for the quaternion controller.

One head at one hook point (default `h_message`) computes `gamma, beta` from
the pooled state and, optionally, the task family's perspective row, and
returns `value * (1 + gamma) + beta`. Zero-initialised last layer: identity at
initialisation. No framing loss, so in an ablation it separates "the model is
told the task through a controller" from the quaternion's four quadrants and
framing loss.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hrmzoo.controllers.base import ControllerConfig
from hrmzoo.controllers.modulation import HeadController, HeadSpec
from hrmzoo.registry import register

_ROLES = {
    "l_context": "FiLM of the context L hears",
    "l_step": "FiLM of L's new state",
    "h_message": "FiLM of the message H hears from L",
    "h_step": "FiLM of H's new state",
}


class FilmConfig(ControllerConfig):
    """One FiLM head.

    Attributes:
        point: the hook point it modulates.
        num_task_families: rows of the perspective table (`task_id` in the batch).
        head_width: hidden width of the head and of a perspective row.
        use_perspective: condition the head on the task family's row as well as the state.
    """

    point: Literal["l_context", "l_step", "h_message", "h_step"] = "h_message"
    num_task_families: int = Field(1, ge=1)
    head_width: int = Field(64, gt=0)
    use_perspective: bool = True


@register("controller", "film", config=FilmConfig)
class FilmController(HeadController):
    """One FiLM head on one hook point, conditioned on pooled state and the task family."""

    def __init__(self, cfg: FilmConfig, model_cfg):
        super().__init__()
        spec = HeadSpec("film", "single-head", cfg.point, "film", cfg.use_perspective, _ROLES[cfg.point])
        self.build(
            model_cfg,
            [spec],
            num_task_families=cfg.num_task_families,
            width=cfg.head_width,
            perspective="given" if cfg.use_perspective else None,
            framing_weight=0.0,
        )
