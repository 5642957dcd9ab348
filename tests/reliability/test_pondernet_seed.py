"""PonderNet runs are reproducible from their seed (issue 25 item 5, issue 28 item 9).

PonderNet samples its training halts. The draw must come from the run's own
seeded generator (the one `segment_step` is given and checkpoints save), not
from torch's global generator: with the global one, two runs of the same
recipe and seed in one process saw different halts (the first run advanced
the generator the second started from), so their weights differed and so did
the `rng.torch` state they saved.
"""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from hrmzoo.persistence import generations as gens
from hrmzoo.cli import main
from hrmzoo.persistence import trainer_state as st
from tests.reliability.conftest import TINY
from tests.reliability.harness import assert_safe

# 4 segments so that most training steps draw halts; exploration off: only PonderNet's draw is random
PONDER = [*TINY, "model.halting={type: pondernet, max_segments: 4}", "train.steps=8", "train.checkpoint_interval=8"]


def _train(run, data) -> dict[str, dict[str, torch.Tensor]]:
    args = ["train", "recipe=tiny_sudoku4", f"data={data}", *PONDER, f"train.out_dir={run}"]
    assert_safe("pondernet seed", lambda: main(args), expect="ok")
    newest = gens.committed(run)[0]
    return {"model": load_file(str(newest.path / st.MODEL_FILE)), "state": load_file(str(newest.path / st.STATE_TENSORS))}


def test_two_pondernet_runs_with_one_seed_are_bitwise_equal(tmp_path, sudoku4):
    global_before = torch.get_rng_state()
    first = _train(tmp_path / "a", sudoku4)
    global_between = torch.get_rng_state()
    second = _train(tmp_path / "b", sudoku4)
    assert {"rng.explore", "rng.torch"} <= set(first["state"])
    for part in ("model", "state"):
        assert first[part].keys() == second[part].keys(), part
        differ = sorted(k for k in first[part] if not torch.equal(first[part][k], second[part][k]))
        assert not differ, f"{part}: {differ[:6]}"
    assert torch.equal(global_between, global_before)  # training draws nothing from the global generator
