"""`hrmzoo solve TASK INPUT [--model RUN_OR_CKPT] [--segments N] [--trace OUT.png]`: solve a puzzle.

TASK is `sudoku` or `maze`. INPUT is the puzzle itself or a file of them
(`-` reads standard input): a Sudoku as 16, 36 or 81 characters (4x4, 6x6,
9x9; `0` or `.` for blanks; a file holds one per line, or one grid drawn over
several lines), a maze as rows of `#` walls, spaces, one `S` and one `G`
(mazes in a file are separated by empty lines). Prints each answer drawn as
the puzzle, the segments used (the whole budget under the recipe's
`eval_mode: max`, as its accuracy was measured; `--halt adaptive` stops when
the halting head says so), the halting head's confidence, and whether the
answer satisfies the task's rules (checked: rows, columns, boxes and givens
for Sudoku; an unbroken S-to-G path that keeps the maze for a maze). Exits 1
when an answer breaks a rule.

The model is `--model` (a run directory, a .safetensors checkpoint, or
`pretrained:NAME`), else the weights shipped for the puzzle's size:
tiny_sudoku4 (4x4), cpu_sudoku6 (6x6), cpu_sudoku9 (9x9), cpu_maze15 (15x15
maze). `--trace OUT.png` draws the prediction after every segment of the
first puzzle (needs matplotlib, `hrmzoo[plot]`). The perspective-taking task
has no solver: its benchmark is being replaced.

Examples:
  hrmzoo solve sudoku 1...........4..2
  hrmzoo solve sudoku puzzles.txt --model runs/cpu_sudoku9-seed0
  hrmzoo solve maze maze.txt --trace maze.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from hrmzoo.cli.text import description
from hrmzoo.errors import HrmzooError

TASK_NAMES = ("sudoku", "maze")


def add_parser(sub) -> None:
    p = sub.add_parser("solve", help="solve a Sudoku or a maze with a shipped or trained model", description=description(__doc__))
    p.add_argument("task", metavar="TASK", help=f"one of {', '.join(TASK_NAMES)}")
    p.add_argument("input", metavar="INPUT", help="the puzzle as text, a file of puzzles, or - for standard input")
    p.add_argument("--model", metavar="RUN_OR_CKPT", help="a run directory, a .safetensors file or pretrained:NAME (default: the shipped model for the size)")
    p.add_argument("--segments", type=int, metavar="N", help="the most segments to run (default: the model's max_segments)")
    p.add_argument("--halt", choices=("recipe", "adaptive", "max"), default="recipe",
                   help="recipe (default: the recipe's eval_mode, as its measured accuracy), adaptive (stop when the halting head says so) or max")
    p.add_argument("--trace", metavar="OUT.png", help="draw the prediction after every segment of the first puzzle")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="torch CPU threads (default 1: one puzzle gains nothing from more)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.set_defaults(run=run)


def read_input(task: str, value: str) -> list[str]:
    """The puzzles INPUT names: a file of them, standard input (`-`), or the text itself."""
    from hrmzoo.tasks import get_task

    module = get_task(task)
    if value == "-":
        text = sys.stdin.read()
    else:
        path = Path(value)
        try:
            is_file = "\n" not in value and path.is_file()
        except (OSError, ValueError):
            is_file = False
        # a name, not a puzzle: a path separator, a file suffix, or letters no Sudoku holds
        looks_like_path = "\n" not in value and ("/" in value or path.suffix.lower() in (".txt", ".sdk", ".maze", ".csv")
                                                 or (task == "sudoku" and any(c.isalpha() for c in value)))
        if is_file:
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise HrmzooError(f"{path}: cannot read the puzzle file ({exc})") from None
        elif looks_like_path:
            raise HrmzooError(f"{value}: no such file; give the puzzle itself (e.g. 1...........4..2) or a file of puzzles")
        else:
            text = value
    puzzles = module.read_puzzles(text)
    if not puzzles:
        raise HrmzooError(f"no {task} puzzle in {value!r}")
    return puzzles


def run(args) -> int:
    if args.task not in TASK_NAMES:
        hint = " (the perspective-taking benchmark is being replaced; it has no solver yet)" if args.task in ("tom", "perspective") else ""
        raise HrmzooError(f"unknown task '{args.task}'{hint}; use one of {', '.join(TASK_NAMES)}")
    if args.segments is not None and args.segments < 1:
        raise HrmzooError(f"--segments {args.segments}: must be 1 or more")
    if args.threads < 1:
        raise HrmzooError(f"--threads {args.threads}: must be 1 or more")
    if args.trace and not args.trace.endswith(".png"):
        raise HrmzooError(f"--trace {args.trace}: the trace is a PNG; name it OUT.png")
    from hrmzoo.tasks import get_task

    module = get_task(args.task)
    texts = read_input(args.task, args.input)
    tokens = [module.encode(t) for t in texts]  # every puzzle checked before torch loads
    if len({t.size for t in tokens}) > 1:
        raise HrmzooError("the puzzles differ in size; solve one size at a time")

    import torch

    from hrmzoo.recipe.build import resolve_device
    from hrmzoo.evaluate.inference import load_solver_model, solve

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_solver_model(args.model, args.task, tokens[0], device=device)
    solutions = solve(model, tokens, task=args.task, max_segments=args.segments, halt=args.halt)
    source = args.model or f"pretrained:{module.default_model(tokens[0])}"
    for i, s in enumerate(solutions):
        if len(solutions) > 1:
            print(f"puzzle {i + 1}:")
        print(s.text)
        stop = ("halted by its head" if s.halted else "the head never halted") if s.adaptive else "every segment: the recipe's eval_mode max"
        verdict = "yes" if s.valid else "NO: " + "; ".join(s.problems)
        print(f"segments {s.segments} of {s.budget} ({stop}), halt confidence {s.halt_confidence:.3f}; valid: {verdict}")
        if len(solutions) > 1:
            print()
    if len(solutions) > 1:
        print(f"{sum(s.valid for s in solutions)} of {len(solutions)} answers valid")
    print(f"model: {source}", file=sys.stderr)
    if args.trace:
        from hrmzoo.analysis.trace import draw_trace, trace_example

        batch = {"inputs": torch.as_tensor(tokens[0], device=device)[None]}
        trace = trace_example(model, batch, kind=args.task, title=f"{source} on {texts[0][:40]!r}", segments=args.segments)
        draw_trace(trace, args.trace)
        print(f"trace: {args.trace}", file=sys.stderr)
    return 0 if all(s.valid for s in solutions) else 1
