"""Seeded recipe/override fuzzer: every case validates (and, when tiny, builds) or fails in one line."""

from __future__ import annotations

import random

import pytest

from hrmzoo import build_model
from hrmzoo.recipe import load_recipe
from hrmzoo.recipe.loader import RECIPES_DIR
from tests.reliability.harness import assert_safe

CASES = 600
SEED = 17

KEYS = [
    "model.hidden_size", "model.vocab_size", "model.seq_len", "model.num_puzzle_identifiers", "model.puzzle_emb_ndim",
    "model.prefix_len", "model.pos_encoding", "model.rope_theta", "model.state_init_std",
    "model.l_block", "model.l_block.num_layers", "model.l_block.num_heads", "model.l_block.expansion", "model.h_block",
    "model.coupling", "model.coupling.h_cycles", "model.coupling.l_cycles", "model.coupling.order",
    "model.halting.max_segments", "model.halting.type", "model.gradient.type", "model.injection.type",
    "model.controller.type", "model.embedding.type", "model.head.type",
    "train.seed", "train.device", "train.dtype", "train.batch_size", "train.steps", "train.lr", "train.betas",
    "train.threads", "train.keep_checkpoints", "train.optimizer", "train.out_dir", "name", "description",
    "data", "data.type", "data.size", "data.num_train", "data.num_aug", "data.seed", "extends", "nonsense.key",
]
VALUES = [
    "16", "32", "0", "-1", "1", "2", "true", "false", "null", "2.5", "1.0e-3", "abc", "''", "[1, 2]", "[]", "{}",
    "1000000000", "99999999999999999999999", "1e400", ".nan", "-.inf", "{type: transformer, num_layers: 1, num_heads: 2}",
    "{type: mlp_mixer, num_layers: 1}", "{type: nope}", "hierarchical", "{type: recursive, t_cycles: 2, n_cycles: 2}",
    "tpu", "cuda:x", "../../escape", "/", "'a\\0b'", "[[[[", "}{", "&a [*a]", "'\\u00e9t\\u00e9'", "65536", "4096",
    "{type: sudoku, size: 4, num_train: 99999999999999}", "adamw", "sgd", "L_then_H", "x" * 200,
]
RAW = ["=", "~", "model..x=1", "model.hidden_size", "~model.nope", "~model.hidden_size=3", "+model.hidden_size=16",
       "model.0=1", "model.hidden_size=\0", "\u00e9=1", "model.l_block.0=1", "a" * 5000 + "=1", "model.hidden_size=" + "[" * 500]
MUTATIONS = ["\t", ":", "- ", "{", "}", "[", "&a ", "*a ", "!!python/object:os.system ", "\x00", "\ufeff", "  ", "\n  x: 1\n", "#", "'", "9999999"]


def _base_text() -> str:
    return (RECIPES_DIR / "tiny_sudoku4.yaml").read_text()


def _tiny(recipe) -> bool:
    m = recipe.model
    return m.hidden_size <= 128 and m.seq_len <= 128 and m.vocab_size <= 128 and m.num_puzzle_identifiers * max(1, m.puzzle_emb_ndim) <= 1 << 16


def _check(source, overrides):
    def action():
        recipe = load_recipe(source, overrides)
        if _tiny(recipe):  # validate everything; allocate only tiny models
            build_model(recipe)
    return action


def _case(rng: random.Random, tmp_path, i: int):
    kind = rng.random()
    if kind < 0.6:
        overrides = [f"{rng.choice(KEYS)}={rng.choice(VALUES)}" for _ in range(rng.randint(1, 3))]
        return _check("tiny_sudoku4", overrides)
    if kind < 0.8:
        text = _base_text()
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(text))
            if rng.random() < 0.5:
                text = text[:pos] + rng.choice(MUTATIONS) + text[pos:]
            else:
                text = text[:pos] + text[pos + rng.randint(1, 8):]
        path = tmp_path / f"fuzz{i}.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass") if rng.random() < 0.9 else text.encode("utf-8") + b"\xff\xfe")
        return _check(path, [])
    return _check("tiny_sudoku4", [rng.choice(RAW)])


@pytest.mark.parametrize("block", range(6))
def test_fuzzed_recipes_end_in_success_or_one_line(tmp_path, block):
    """600 seeded cases in 6 blocks; a block reports its first failing case with its seed position."""
    rng = random.Random(SEED * 1000 + block)
    for i in range(CASES // 6):
        assert_safe("fuzz recipes/overrides", _case(rng, tmp_path, i))
