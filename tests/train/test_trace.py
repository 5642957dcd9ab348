"""``hrmzoo trace``: one frame per segment, changed cells = differences of the per-segment predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrmzoo.analysis.trace import TraceError, dataset_kind, draw_trace, parse_puzzle_file, trace_example
from hrmzoo.persistence.checkpoint import load_model
from hrmzoo.cli import main
from hrmzoo.data.splits import open_split
from hrmzoo.train.trainer import Trainer
from tests.train.conftest import TINY

pytest.importorskip("matplotlib", reason="hrmzoo trace draws with the plot extra (matplotlib)")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, sudoku4):
    run = tmp_path_factory.mktemp("trace") / "run"
    Trainer("tiny_sudoku4", [*TINY, "train.steps=6", "train.log_interval=3", "model.controller.type=quaternion",
                             "model.halting.max_segments=3"], run_dir=run, data_root=sudoku4).run()
    return run


def test_one_frame_per_segment_and_changed_cells(run_dir, sudoku4, tmp_path):
    model = load_model(run_dir)
    batch = open_split(sudoku4, "test").get_batch([2])
    trace = trace_example(model, batch, kind=dataset_kind(sudoku4))
    assert trace.kind == "sudoku" and trace.segments == 3
    # the model run by hand, segment by segment, gives the same predictions
    state, preds = None, []
    with torch.no_grad():
        for _ in range(3):
            out = model(batch, state)
            state = out.state
            preds.append(out.logits.argmax(-1)[0].numpy())
    assert np.array_equal(trace.predictions, np.stack(preds))
    previous = [batch["inputs"][0].numpy()] + preds[:-1]
    assert trace.changed == [int((p != q).sum()) for p, q in zip(preds, previous)]
    assert len(trace.halt_confidence) == 3 and all(0 <= c <= 1 for c in trace.halt_confidence)
    assert {"FF/l_step", "FE/l_context", "SF/h_message", "SE/h_step"} == set(trace.activity)
    assert all(len(v) == 3 for v in trace.activity.values())
    frames = draw_trace(trace, tmp_path / "t.png")
    assert len(frames) == trace.segments
    framed = [sum(1 for p in ax.patches if p.get_gid() == "changed") for ax in frames]
    assert framed == trace.changed
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_trace_cli(run_dir, sudoku4, tmp_path, capsys):
    out = tmp_path / "strip.png"
    assert main(["trace", str(run_dir), "index=1", f"data={sudoku4}", f"out={out}"]) == 0
    assert out.is_file() and "segments 3;" in capsys.readouterr().out
    assert main(["trace", str(run_dir), "index=999", f"data={sudoku4}"]) == 2
    assert "index=999" in capsys.readouterr().err
    puzzle = tmp_path / "p.txt"
    puzzle.write_text("1 . | . 4\n. 4 | 1 .\n---------\n. 1 | 4 .\n4 . | . 1\n")
    assert main(["trace", str(run_dir), f"puzzle={puzzle}", f"data={sudoku4}", f"out={tmp_path / 'p.png'}"]) == 0
    assert (tmp_path / "p.png").is_file()
    assert list(parse_puzzle_file(puzzle, "sudoku", 16)[:4]) == [2, 1, 1, 5]
    puzzle.write_text("1 . x 4\n" * 4)
    assert main(["trace", str(run_dir), f"puzzle={puzzle}", f"data={sudoku4}"]) == 2
    assert "found 'x'" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("1234")
    with pytest.raises(TraceError, match="4 cells but the model reads 16"):
        parse_puzzle_file(short, "sudoku", 16)
