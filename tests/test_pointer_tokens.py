"""`model.embedding.pointer_tokens`: a token that names an input position is embedded as that position's learned vector."""

from __future__ import annotations

import pytest
import torch

from hrmzoo import build_model
from hrmzoo.data import tom_story as T
from hrmzoo.errors import HrmzooError

# tom2 8x8 with 12 event slots and cell_tokens: 120 positions, the map at 56..119, cell tokens 41..104
TOM2_CELLS = {
    "name": "pointer_probe", "model": {
        "hidden_size": 32, "vocab_size": T.CELL0 + 64, "seq_len": 120, "num_puzzle_identifiers": 1, "puzzle_emb_ndim": 0,
        "pos_encoding": "learned",
        "embedding": {"type": "token", "pointer_tokens": {"first_token": T.CELL0, "first_position": 56, "count": 64}},
        "l_block": {"type": "transformer", "num_layers": 1, "num_heads": 2}, "h_block": {"type": "transformer", "num_layers": 1, "num_heads": 2},
        "halting": {"type": "fixed", "max_segments": 1}},
    "data": {"type": "tom2", "cell_tokens": True, "event_slots": 12, "num_train": 1, "num_test": 1}}


def test_a_pointer_token_is_embedded_as_the_position_it_names():
    emb = build_model(TOM2_CELLS, seed=0).embedding
    assert T.header_rows(8, 12) * 8 == 56 and T.seq_len(8, 12) == 120
    x = torch.full((1, 120), T.OPEN, dtype=torch.long)
    x[0, 6] = T.CELL0 + 3 * 8 + 5  # a move's destination (3, 5) in the first event slot
    x[0, 7] = T.PAD
    out = emb(x)
    with torch.no_grad():
        cell = emb.positions[56 + 3 * 8 + 5]
        want = (cell + emb.positions[6]) / 2 ** 0.5 * emb.scale
        plain = (emb.tokens.weight[T.PAD] + emb.positions[7]) / 2 ** 0.5 * emb.scale
    assert torch.allclose(out[0, 6], want) and torch.allclose(out[0, 7], plain)
    # shared, not copied: the gradient of the pointer's embedding reaches the position it names
    out[0, 6].sum().backward()
    assert emb.positions.grad[56 + 3 * 8 + 5].abs().sum() > 0 and emb.tokens.weight.grad[T.CELL0 + 29].abs().sum() == 0


@pytest.mark.parametrize("change, words", [
    ({"pos_encoding": "rope"}, "set model.pos_encoding: learned"),
    ({"embedding": {"type": "token", "pointer_tokens": {"first_token": T.CELL0 + 1, "first_position": 56, "count": 64}}}, "exceed the vocabulary"),
    ({"embedding": {"type": "token", "pointer_tokens": {"first_token": T.CELL0, "first_position": 57, "count": 64}}}, "exceed the input"),
])
def test_a_pointer_table_that_does_not_fit_is_one_line(change, words):
    recipe = {**TOM2_CELLS, "model": {**TOM2_CELLS["model"], **change}}
    with pytest.raises(HrmzooError) as e:
        build_model(recipe)
    assert words in str(e.value) and "\n" not in str(e.value)
