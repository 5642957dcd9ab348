"""``hrmzoo plot``: the curves drawn are the values in metrics.jsonl, several runs overlay."""

from __future__ import annotations

import json

import pytest

from hrmzoo.analysis.plot_runs import PANELS, RunReadError, plot_runs, read_metrics
from hrmzoo.cli import main
from hrmzoo.train.trainer import Trainer
from tests.train.conftest import TINY

pytest.importorskip("matplotlib", reason="hrmzoo plot needs the plot extra (matplotlib)")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, sudoku4):
    root = tmp_path_factory.mktemp("runs")
    dirs = []
    for name, lr in (("run_a", "3.0e-3"), ("run_b", "1.0e-3")):
        Trainer("tiny_sudoku4", [*TINY, "train.steps=6", "train.log_interval=2", "train.final_eval=true", f"train.lr={lr}"],
                run_dir=root / name, data_root=sudoku4).run()
        dirs.append(root / name)
    return dirs


def _rows(run_dir, kind):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == kind]


def test_plot_draws_the_jsonl_values(two_runs, tmp_path):
    from PIL import Image

    result = plot_runs(two_runs, tmp_path / "cmp.png")
    assert [p.name for p in result.paths] == ["cmp.png", "cmp.svg"]
    assert all(p.stat().st_size > 1000 for p in result.paths)
    with Image.open(result.paths[0]) as img:
        assert img.size == (1200, 750)
    loss = result.drawn[PANELS[0]]
    assert set(loss) == {"run_a", "run_b"}  # two curves, one per run
    for run_dir in two_runs:
        name = run_dir.name
        train, ev = _rows(run_dir, "train"), _rows(run_dir, "eval")
        assert loss[name] == ([r["step"] for r in train], [r["loss"] for r in train])
        acc = result.drawn[PANELS[1]]
        assert acc[f"{name} train (at halt)"][1] == pytest.approx([100 * r["exact_at_halt"] for r in train])
        assert acc[f"{name} test"][1] == pytest.approx([100 * ev[-1]["exact_accuracy"]])
        assert result.drawn[PANELS[2]][f"{name} train"][1] == [r["segments"] for r in train]
        by_seg = next(v for k, v in result.drawn[PANELS[3]].items() if k.startswith(name))
        assert by_seg == ([float(i + 1) for i in range(len(ev[-1]["exact_by_segment"]))],
                          pytest.approx([100 * a for a in ev[-1]["exact_by_segment"]]))


def test_plot_cli_default_out_and_errors(two_runs, tmp_path, capsys):
    assert main(["plot", str(two_runs[0])]) == 0
    assert (two_runs[0] / "curves.png").is_file() and (two_runs[0] / "curves.svg").is_file()
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.jsonl").write_text('{"step": 1, "kind": "train", "loss": 1.0}\nnot json\n')
    with pytest.raises(RunReadError, match="metrics.jsonl:2"):
        read_metrics(bad)
    assert main(["plot", str(two_runs[0]), "colour=red"]) == 2
