"""The LM head's answer-position term (`model.head.answer_token`): what it computes, where it applies, bad ids."""

from __future__ import annotations

import math

import pytest
import torch

from hrmzoo import build_model
from hrmzoo.errors import HrmzooError
from hrmzoo.heads.lm import IGNORE_INDEX, LMHead, LMHeadConfig, answer_position_ce, sequence_ce

YES, NO = 3, 2


def test_answer_term_is_the_cross_entropy_of_which_position_holds_the_answer():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 4)
    labels = torch.tensor([[IGNORE_INDEX, NO, YES, NO, NO],  # one answer at position 2
                           [IGNORE_INDEX, NO, YES, YES, NO]])  # two answers: not a one-answer sequence
    got = answer_position_ce(logits, labels, YES, "softmax")
    logp_yes = torch.log_softmax(logits[0].double(), -1)[1:, YES]  # supervised positions 1..4
    want = -torch.log_softmax(logp_yes, 0)[1]
    assert got[0].item() == pytest.approx(want.item(), rel=1e-12)
    assert got[1].item() == 0.0
    # uniform logits: the answer is one of the 4 supervised positions at chance
    flat = answer_position_ce(torch.zeros(1, 5, 4), labels[:1], YES, "stablemax")
    assert flat.item() == pytest.approx(math.log(4))


def test_head_adds_the_term_only_when_asked():
    torch.manual_seed(1)
    logits, labels = torch.randn(3, 6, 4), torch.full((3, 6), NO)
    labels[:, 0] = IGNORE_INDEX
    labels[torch.arange(3), torch.tensor([1, 3, 5])] = YES
    plain = LMHead(LMHeadConfig(), hidden_size=8, vocab_size=4)
    with_answer = LMHead(LMHeadConfig(answer_token=YES), hidden_size=8, vocab_size=4)
    assert torch.equal(plain.loss(logits, labels), sequence_ce(logits, labels))
    extra = with_answer.loss(logits, labels) - plain.loss(logits, labels)
    assert torch.allclose(extra, answer_position_ce(logits, labels, YES)) and (extra > 0).all()


def test_an_answer_token_outside_the_vocabulary_is_one_line():
    with pytest.raises(HrmzooError, match="answer_token 99 is not a token"):
        build_model("tiny_sudoku4", ["model.head.answer_token=99"])


def test_loss_weight_scales_the_answer_loss():
    torch.manual_seed(2)
    logits, labels = torch.randn(3, 6, 4), torch.full((3, 6), NO)
    labels[:, 0] = IGNORE_INDEX
    plain = LMHead(LMHeadConfig(), hidden_size=8, vocab_size=4)
    half = LMHead(LMHeadConfig(loss_weight=0.5), hidden_size=8, vocab_size=4)
    assert torch.allclose(half.loss(logits, labels), 0.5 * plain.loss(logits, labels))
    with pytest.raises(ValueError):
        LMHeadConfig(loss_weight=-1.0)
