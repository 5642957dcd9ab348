"""A single FiLM head: the one-head baseline for the quaternion controller.

One head at one hook point (default `h_message`) computes `gamma, beta` from
the pooled state and, optionally, the task family's perspective row, and
returns `value * (1 + gamma) + beta`. Zero-initialised last layer: identity at
initialisation. No framing loss, so in an ablation it separates "the model is
told the task through a controller" from the quaternion's four quadrants and
framing loss.
"""

from __future__ import annotations

from pydantic import Field

from hrmzoo.controllers.modulation import HeadController, HeadControllerConfig, HeadSpec
from hrmzoo.registry import register

_ROLES = {
    "context": "FiLM of the context {L} hears from the level above",
    "message": "FiLM of the message {L} hears from the level below",
    "step": "FiLM of {L}'s new state",
}
HOOK_PATTERN = r"^[a-z][a-z0-9]*_(context|message|step)$"


def role(point: str) -> str:
    """One line on what a FiLM head at `point` (e.g. `m_step`) modulates."""
    level, kind = point.rsplit("_", 1)
    return _ROLES[kind].format(L=level.upper())


class FilmConfig(HeadControllerConfig):
    """One FiLM head.

    Attributes:
        point: the hook point it modulates: `<level>_context`, `<level>_message`
            or `<level>_step` for a level of the model (HRM: `l_context`,
            `l_step`, `h_message`, `h_step`; a middle level M: `m_context`...).
        num_task_families: rows of the perspective table (`task_id` in the batch).
        head_width: hidden width of the head and of a perspective row.
        use_perspective: condition the head on the task family's row as well as the state.
    """

    point: str = Field("h_message", pattern=HOOK_PATTERN)
    num_task_families: int = Field(1, ge=1)
    head_width: int = Field(64, gt=0)
    use_perspective: bool = True


@register("controller", "film", config=FilmConfig, sizes=('hidden_size', 'state_keys', 'output_key'))
class FilmController(HeadController):
    """One FiLM head on one hook point, conditioned on pooled state and the task family."""

    def __init__(self, cfg: FilmConfig, *, hidden_size: int, state_keys: tuple[str, ...], output_key: str):
        super().__init__()
        spec = HeadSpec("film", "single-head", cfg.point, "film", cfg.use_perspective, role(cfg.point))
        self.build(
            [spec],
            hidden_size=hidden_size,
            state_keys=state_keys,
            output_key=output_key,
            num_task_families=cfg.num_task_families,
            width=cfg.head_width,
            perspective="given" if cfg.use_perspective else None,
            framing_weight=0.0,
            head_class=self.head_class,
        )
