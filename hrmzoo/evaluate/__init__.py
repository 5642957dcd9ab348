"""Evaluation: exact accuracy, segments used, halting accuracy, controller activity, ARC voting."""

from hrmzoo.evaluate.core import EvalResult, evaluate, format_activity, format_metrics

__all__ = ["EvalResult", "evaluate", "format_activity", "format_metrics"]
