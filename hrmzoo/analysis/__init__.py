"""Analyses of models: FLOPs, activation memory, inference-budget sweeps and halting behaviour.

- `hrmzoo.analysis.flops`: model FLOPs of a step or a segment (PERFORMANCE.md's formula).
- `hrmzoo.analysis.memory`: bytes saved for backward (saved-tensor hooks).
- `hrmzoo.analysis.sweep`: `run_sweep` (`hrmzoo sweep`).
- `hrmzoo.analysis.halting`: `analyze_halting` (`hrmzoo halting`).
- `hrmzoo.analysis.plot`: their PNG figures (matplotlib optional).
- `hrmzoo.analysis.schedule_svg`: the segment loop as text and SVG (`hrmzoo build --schedule`).
- `hrmzoo.analysis.plot_runs`: training curves from `metrics.jsonl` (`hrmzoo plot`).
- `hrmzoo.analysis.trace`: the prediction after every segment (`hrmzoo trace`).
"""

from hrmzoo.analysis.flops import BlockCallCounter, segment_forward_flops, step_flops
from hrmzoo.analysis.halting import HaltingReport, analyze_halting, halting_stats, reliability
from hrmzoo.analysis.memory import SavedTensorCounter
from hrmzoo.analysis.sweep import SweepResult, run_sweep

__all__ = [
    "BlockCallCounter",
    "HaltingReport",
    "SavedTensorCounter",
    "SweepResult",
    "analyze_halting",
    "halting_stats",
    "reliability",
    "run_sweep",
    "segment_forward_flops",
    "step_flops",
]
