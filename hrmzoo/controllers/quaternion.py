"""The quaternion controller: four explicit heads for the four cognitive modes.

The project's seed essay reads HRM through two axes, *fast/slow* (L's rapid
updates vs. H's deliberate ones) and *fluency/empathy* (working within a frame
vs. choosing the frame), and proposes to make the empathy side explicit: a
small module trained on perspective/task framing, connected to H as a
multi-head controller. Here each quadrant is one head acting at one hook point
of the coupling (HRM names; for TRM read z for z_L and y for z_H):

======  ==============  ===========  ================================================
head    quadrant        hook point   what it modulates (conditioning)
======  ==============  ===========  ================================================
`FF`  fast-fluency    `l_step`   per-channel step size of every L update,
                                     `z_L' = new + d * (new - z_L)` (state only)
`FE`  fast-empathy    `l_context` FiLM of the context L hears (z_H + x), recomputed
                                     at every L step (state + perspective)
`SF`  slow-fluency    `h_message` FiLM of what H reads of L's converged state
                                     (state only)
`SE`  slow-empathy    `h_step`   FiLM of H's new state (state + perspective), plus
                                     the framing loss: predict the task family from
                                     pooled z_H after every H step
======  ==============  ===========  ================================================

With more than two levels the fast heads act on the fastest level (L) and the
slow heads on the slowest (H); a middle level M passes its own hook points
(`m_context`, `m_message`, `m_step`), which these heads leave alone (a `film`
controller can act there).

Fast heads therefore report once per L step and slow heads once per H step
(`ctx.trace["FF/l_step"]` ...), so a run shows which quadrant worked when.

Differences from the sketch in ARCHITECTURE.md, and why:

- the perspective table is shared by FE and SE (one perspective per task
  family, read by both empathy heads) and enters each head as a bias of its
  hidden layer: the frame shifts *how* a head reads the state, not just its
  output;
- `perspective: inferred` replaces the given task id by the framing
  classifier's softmax over the table, so a trained model can take a
  perspective on data without task ids (the essay's "perspective taking");
- `heads` selects a subset of quadrants, for per-quadrant ablations.

Every head's last layer is zero-initialised: at initialisation the model
gives bit-identical outputs to the same model without a controller.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hrmzoo.controllers.modulation import HeadController, HeadControllerConfig, HeadSpec
from hrmzoo.registry import register

QUADRANTS: dict[str, HeadSpec] = {
    "FF": HeadSpec("FF", "fast-fluency", "l_step", "gate", False, "step size of each L update"),
    "FE": HeadSpec("FE", "fast-empathy", "l_context", "film", True, "re-frames the context L hears, every L step"),
    "SF": HeadSpec("SF", "slow-fluency", "h_message", "film", False, "what H reads of L's converged state"),
    "SE": HeadSpec("SE", "slow-empathy", "h_step", "film", True, "re-frames H's state"),
}


class QuaternionConfig(HeadControllerConfig):
    """Four heads, one per cognitive quadrant.

    Attributes:
        num_task_families: rows of the perspective table (task families in the data;
            batches give `task_id` in 0..num_task_families-1, 0 when absent).
        head_width: hidden width of each head and of a perspective row.
        perspective: `given` (the batch's task id picks the row) or `inferred`
            (the framing classifier's softmax over rows, computed from pooled H).
        framing_weight: weight of the framing loss (cross-entropy of the task family
            from pooled H); skipped with one task family.
        heads: which quadrants to build (default all four).
    """

    num_task_families: int = Field(1, ge=1)
    head_width: int = Field(64, gt=0)
    perspective: Literal["given", "inferred"] = "given"
    framing_weight: float = Field(0.1, ge=0)
    heads: tuple[Literal["FF", "FE", "SF", "SE"], ...] = ("FF", "FE", "SF", "SE")

    @field_validator("heads")
    @classmethod
    def _unique(cls, heads):
        if not heads or len(set(heads)) != len(heads):
            raise ValueError("heads must list each of FF, FE, SF, SE at most once, and at least one")
        return heads


@register("controller", "quaternion", config=QuaternionConfig, sizes=('hidden_size', 'state_keys', 'output_key'))
class QuaternionController(HeadController):
    """Four heads (FF, FE, SF, SE) modulating L's step, L's context, H's message and H's step."""

    def __init__(self, cfg: QuaternionConfig, *, hidden_size: int, state_keys: tuple[str, ...], output_key: str):
        super().__init__()
        specs = [QUADRANTS[name] for name in QUADRANTS if name in cfg.heads]
        self.build(
            specs,
            hidden_size=hidden_size,
            state_keys=state_keys,
            output_key=output_key,
            num_task_families=cfg.num_task_families,
            width=cfg.head_width,
            perspective=cfg.perspective,
            framing_weight=cfg.framing_weight,
            head_class=self.head_class,
        )
