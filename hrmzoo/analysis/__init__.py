"""Analyses of models: FLOPs, activation memory, inference-budget sweeps and halting behaviour.

- `hrmzoo.analysis.flops`: model FLOPs of a step or a segment (the formula of benchmarks/METHOD.md).
- `hrmzoo.analysis.memory`: bytes saved for backward (saved-tensor hooks).
- `hrmzoo.analysis.sweep`: `run_sweep` (`hrmzoo sweep`).
- `hrmzoo.analysis.halting`: `analyze_halting` (`hrmzoo halting`).
- `hrmzoo.analysis.plot`: their PNG figures (matplotlib optional).
- `hrmzoo.analysis.schedule_svg`: the segment loop as text and SVG (`hrmzoo build --schedule`).
- `hrmzoo.analysis.plot_runs`: training curves from `metrics.jsonl` (`hrmzoo plot`).
- `hrmzoo.analysis.trace`: the prediction after every segment (`hrmzoo trace`).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> its module, imported on first use: `hrmzoo compare` and `hrmzoo trace` check
# their arguments before torch loads, and importing one analysis module must not import them all
_LAZY = {
    "BlockCallCounter": "hrmzoo.analysis.flops",
    "segment_forward_flops": "hrmzoo.analysis.flops",
    "step_flops": "hrmzoo.analysis.flops",
    "HaltingReport": "hrmzoo.analysis.halting",
    "analyze_halting": "hrmzoo.analysis.halting",
    "halting_stats": "hrmzoo.analysis.halting",
    "reliability": "hrmzoo.analysis.halting",
    "SavedTensorCounter": "hrmzoo.analysis.memory",
    "SweepResult": "hrmzoo.analysis.sweep",
    "run_sweep": "hrmzoo.analysis.sweep",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hrmzoo.analysis' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
