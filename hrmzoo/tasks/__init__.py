"""Puzzles as text: encode a puzzle into the tokens a model reads, decode its answer, check it.

One module per task (`hrmzoo.tasks.sudoku`, `hrmzoo.tasks.maze`), each with
the same functions, all numpy-only (no torch):

- `parse(text) -> tokens`: one puzzle from text (one-line errors on bad input);
- `read_puzzles(text) -> list[str]`: the puzzles of a file's text;
- `encode(text) -> tokens` (= `parse`) and `decode(tokens) -> str` (the puzzle drawn as text);
- `check(puzzle, answer) -> list[str]`: the constraints the answer breaks (empty: valid),
  checked from the rules, never assumed from the model;
- `default_model(tokens) -> str`: the shipped pretrained model for that puzzle size.

The perspective-taking (ToM) task has no module: its benchmark is being replaced.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hrmzoo.errors import HrmzooError

#: task name -> its module
TASKS = {"sudoku": "hrmzoo.tasks.sudoku", "maze": "hrmzoo.tasks.maze"}


class TaskError(HrmzooError):
    """A puzzle cannot be read, or a task is unknown."""


def get_task(name: str) -> ModuleType:
    """The module of task `name` (`sudoku` or `maze`)."""
    if name not in TASKS:
        hint = " (the perspective-taking benchmark is being replaced; it has no solver yet)" if name in ("tom", "perspective") else ""
        raise TaskError(f"unknown task '{name}'{hint}; tasks: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])


def task_of_generator(generator: str) -> str | None:
    """The task a dataset generator's puzzles belong to (None: no text task)."""
    return generator if generator in TASKS else None
