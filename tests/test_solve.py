"""Puzzles as text (hrmzoo.tasks), `hrmzoo.solve` and `hrmzoo solve`: answers checked by the rules."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hrmzoo
from hrmzoo.cli import main
from hrmzoo.tasks import TaskError, get_task, maze, sudoku

SOLVED9 = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
SOLVED6 = "123456456123214365365214531642642531"


def test_sudoku_text_round_trips_and_accepts_blanks_as_dots_or_zeros():
    puzzle = SOLVED9[:40] + "0" * 20 + "." * 21
    tokens = sudoku.encode(puzzle)
    assert tokens.shape == (81,) and (tokens[40:] == 1).all() and tokens[0] == 6
    assert sudoku.encode(sudoku.decode(tokens)).tolist() == tokens.tolist()
    assert sudoku.to_string(tokens) == SOLVED9[:40] + "." * 41
    assert sudoku.read_puzzles(f"{SOLVED9}\n{SOLVED9}\n") == [SOLVED9, SOLVED9]  # one per line
    assert sudoku.read_puzzles(sudoku.decode(tokens)) and len(sudoku.read_puzzles(sudoku.decode(tokens))) == 1  # one drawn grid


@pytest.mark.parametrize("text,message", [("12345", "16, 36 or 81 cells"), ("1234123412341235", "digits 1-4"),
                                          ("x" * 16, "digits 1-4")])
def test_bad_sudoku_text_is_one_line(text, message):
    with pytest.raises(TaskError, match=message):
        sudoku.encode(text)


def test_the_sudoku_checker_finds_each_broken_rule():
    solved = sudoku.encode(SOLVED9)
    assert sudoku.check(solved, solved) == []
    assert sudoku.check(sudoku.encode(SOLVED6), sudoku.encode(SOLVED6)) == []
    swapped = SOLVED9[1] + SOLVED9[0] + SOLVED9[2:]  # a row still holds 1-9, but two columns and a box break
    problems = sudoku.check(sudoku.encode("." * 81), sudoku.encode(swapped))
    assert any("column 1" in p for p in problems) and not any(p.startswith("row") for p in problems)
    given = sudoku.encode(SOLVED9[:80] + ".")
    assert sudoku.check(given, sudoku.encode(SOLVED9[:80] + ".")) == ["1 cells left blank"]
    changed = sudoku.encode(SOLVED9[:-1] + "1")
    assert "givens changed" in sudoku.check(solved, changed)[0]


def _maze():
    from hrmzoo.data.maze import make_maze

    inputs, labels, _ = make_maze(15, np.random.default_rng(0), min_path_len=10)
    return inputs.reshape(-1), labels.reshape(-1)


def test_maze_text_round_trips_and_the_checker_wants_one_shortest_path():
    inputs, labels = _maze()
    assert maze.encode(maze.decode(inputs)).tolist() == inputs.tolist()
    assert maze.check(inputs, labels) == []
    assert maze.check(inputs, inputs) == ["the path does not connect S to G"]
    walled = labels.copy()
    walled[np.flatnonzero(inputs == 1)[0]] = 2  # a wall opened
    assert "changed" in maze.check(inputs, walled)[0]
    broken = labels.copy()
    broken[np.flatnonzero(labels == 5)[0]] = 2  # one path cell missing
    assert maze.check(inputs, broken)
    extra = labels.copy()
    spare = np.flatnonzero((inputs == 2) & (labels == 2))[0]
    extra[spare] = 5  # a stray path cell
    assert maze.check(inputs, extra)
    with pytest.raises(TaskError, match="exactly one 'S'"):
        maze.encode(maze.decode(inputs).replace("S", " "))
    with pytest.raises(TaskError, match="square"):
        maze.encode("# S\n#G")


def test_unknown_task_names_the_known_ones():
    with pytest.raises(TaskError, match="perspective-taking benchmark is being replaced"):
        get_task("tom")


def test_solve_runs_until_the_head_halts_and_checks_the_answer():
    model = hrmzoo.pretrained("tiny_sudoku4")
    one = hrmzoo.solve(model, "1... ..4. .1.. ...2")
    assert isinstance(one, hrmzoo.Solution) and 1 <= one.segments <= one.budget == model.halting.max_segments
    assert one.valid == (sudoku.check(one.puzzle, one.answer) == [])
    assert sudoku.encode(one.text).tolist() == one.answer.tolist() and 0.0 <= one.halt_confidence <= 1.0
    many = hrmzoo.solve(model, ["1... ..4. .1.. ...2", "12.. 34.. .... ...."], max_segments=2)
    assert len(many) == 2 and all(s.segments <= 2 for s in many)
    with pytest.raises(TaskError, match="model reads 16"):
        hrmzoo.solve(model, SOLVED9)


def test_solve_command_prints_the_answer_segments_confidence_and_validity(capsys, tmp_path):
    assert main(["solve", "sudoku", "1...........4..2"]) in (0, 1)
    out = capsys.readouterr().out
    assert "----+----" in out and "segments " in out and "halt confidence" in out and "valid: " in out
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("1...........4..2\n.2..........3...\n")
    code = main(["solve", "sudoku", str(puzzles), "--segments", "3"])
    out = capsys.readouterr().out
    assert "puzzle 2:" in out and "answers valid" in out and code == (0 if "2 of 2 answers valid" in out else 1)
    assert main(["solve", "sudoku", str(tmp_path / "none.txt")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["solve", "maze", "#S\n#G"]) == 2  # not square


def test_solve_draws_a_trace(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "t.png"
    main(["solve", "sudoku", "1...........4..2", "--trace", str(out)])
    assert out.stat().st_size > 1000


def test_solve_imports_nothing_heavy_beyond_torch():
    """`hrmzoo solve` with the shipped weights (a Sudoku and a maze: MLP and convolution blocks)
    imports neither timm nor torchvision (seconds: timm.layers imports torchvision) nor torch's
    compiler stack (torch._dynamo and sympy, seconds more; torch's meta kernels import it) when
    `import torch` alone does not: the < 5 s solve of issue 29 is torch's import plus well under a second."""
    maze_text = maze.decode(_maze()[0])
    code = textwrap.dedent(f"""
        import sys
        heavy = ("timm", "torchvision", "torch._dynamo", "sympy")
        import torch
        already = {{m for m in heavy if m in sys.modules}}
        from hrmzoo.cli import main
        assert main(["solve", "sudoku", "1...........4..2"]) in (0, 1)
        assert main(["solve", "maze", {maze_text!r}]) in (0, 1)
        print(sorted(m for m in heavy if m in sys.modules and m not in already))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout[-2000:]
