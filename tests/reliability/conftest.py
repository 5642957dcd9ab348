"""Fixtures of the reliability suite and the per-category tally at the end of the run."""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability.harness import TALLY, format_tally

# a tiny model on the shared 4x4 Sudoku fixture: every case here builds or trains in well under a second
TINY = [
    "model.hidden_size=16",
    "model.l_block={type: mlp_mixer, num_layers: 1, expansion: 2.0, token_expansion: 2.0}",
    "model.h_block={type: mlp_mixer, num_layers: 1, expansion: 2.0, token_expansion: 2.0}",
    "model.coupling.h_cycles=1",
    "model.coupling.l_cycles=1",
    "model.halting.max_segments=2",
    "train.batch_size=8",
    "train.progress=false",
    "train.final_eval=false",
    "train.lr=3.0e-3",
    "train.log_interval=1",
]


@pytest.fixture(scope="session")
def sudoku4(tmp_path_factory):
    """Root of a generated 4x4 Sudoku dataset (24 train, 8 test puzzles)."""
    from hrmzoo.data.sudoku import build_sudoku

    return build_sudoku(tmp_path_factory.mktemp("data") / "s4", size=4, num_train=24, num_test=8, seed=3)


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    terminalreporter.write_sep("=", "reliability cases (cases / ok / one-line / traceback / data lost)")
    terminalreporter.write_line(format_tally())
    path = os.environ.get("HRMZOO_RELIABILITY_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(TALLY, f, indent=1, sort_keys=True)
