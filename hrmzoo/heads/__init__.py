"""Output heads and the losses they are trained with."""

from hrmzoo.heads import lm  # noqa: F401  (registers)
from hrmzoo.heads.lm import IGNORE_INDEX, LMHead, LMHeadConfig, sequence_ce, stablemax_log_softmax

__all__ = ["IGNORE_INDEX", "LMHead", "LMHeadConfig", "sequence_ce", "stablemax_log_softmax"]
