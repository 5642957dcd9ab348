"""Solve puzzles with a model: `hrmzoo.solve(model, puzzle)`.

A puzzle (text, or tokens) is encoded by its task module (`hrmzoo.tasks`),
run segment by segment, decoded, and checked against the task's rules by a
checker (never assumed right). How long it runs follows the recipe's
evaluation setting, as `hrmzoo eval` measures it: `eval_mode: max` runs the
whole `max_segments` budget, `eval_mode: adaptive` stops each puzzle when
its halting head says so (the policy's rule, or `eval_halt_threshold`);
`halt="adaptive"` or `halt="max"` chooses instead.

Examples:
    >>> import hrmzoo
    >>> model = hrmzoo.pretrained("tiny_sudoku4")
    >>> solution = hrmzoo.solve(model, "312...3....34.12")
    >>> solution.valid, solution.problems
    (True, [])
    >>> print(solution.text)
    3 1 | 2 4
    2 4 | 3 1
    ----+----
    1 2 | 4 3
    4 3 | 1 2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hrmzoo.tasks import TaskError, get_task


@dataclass
class Solution:
    """One puzzle solved.

    Attributes:
        task: `sudoku` or `maze`.
        puzzle: [S] input tokens.
        answer: [S] the model's answer tokens at the segment it stopped.
        segments: segments run before it stopped.
        budget: the most segments it could have run.
        halted: True when the halting head stopped it, False when it ran the budget.
        adaptive: whether the halting head could stop it (`halt`, or the recipe's `eval_mode`).
        halt_confidence: the head's confidence in "halt" at that segment (NaN without a head).
        problems: the task's rules the answer breaks (empty: valid).
        text: the answer drawn as the puzzle.
    """

    task: str
    puzzle: np.ndarray
    answer: np.ndarray
    segments: int
    budget: int
    halted: bool
    halt_confidence: float
    adaptive: bool = False
    problems: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def valid(self) -> bool:
        """The answer satisfies every rule of the task (checked)."""
        return not self.problems


def model_task(model) -> str:
    """The task a model was trained on, from its recipe's data section."""
    data = getattr(getattr(model, "recipe", None), "data", None)
    kind = getattr(data, "type", None)
    if kind in ("sudoku", "maze"):
        return kind
    raise TaskError(f"this model was trained on '{kind}' data; hrmzoo.solve reads sudoku and maze puzzles (name the task: task='sudoku')")


def _tokens(puzzle: Any, task) -> np.ndarray:
    if isinstance(puzzle, str):
        return task.encode(puzzle)
    return np.asarray(puzzle, dtype=np.int64).reshape(-1)


HALT_MODES = ("recipe", "adaptive", "max")


def solve(model, puzzle: Any, *, task: str | None = None, max_segments: int | None = None,
          halt: str = "recipe") -> Solution | list[Solution]:
    """Solve one puzzle (or a list of them, run as one batch).

    Args:
        model: a ReasoningModel (e.g. `hrmzoo.pretrained("cpu_sudoku9")`).
        puzzle: text (`"53..7...."` for Sudoku, rows of `# SG` for a maze), tokens, or a list of these.
        task: `sudoku` or `maze` (default: the model's training data).
        max_segments: the most segments to run (default: the recipe's `max_segments`).
        halt: `recipe` (the recipe's `eval_mode`, what its measured accuracy used), `adaptive`
            (stop when the halting head says so) or `max` (run every segment).

    Returns:
        A `Solution` (a list of them for a list of puzzles).
    """
    import torch

    name = task or model_task(model)
    module = get_task(name)
    many = isinstance(puzzle, (list, tuple))
    tokens = [_tokens(p, module) for p in (puzzle if many else [puzzle])]
    if not tokens:
        return []
    seq_len = model.cfg.seq_len
    for t in tokens:
        if t.size != seq_len:
            raise TaskError(f"a puzzle of {t.size} cells, but the model reads {seq_len}; use a model for this size (--model)")
    if halt not in HALT_MODES:
        raise TaskError(f"halt='{halt}': use one of {', '.join(HALT_MODES)}")
    adaptive = model.halting.cfg.eval_mode == "adaptive" if halt == "recipe" else halt == "adaptive"
    budget = max_segments or model.halting.max_segments
    device = next(model.parameters()).device
    batch = {"inputs": torch.as_tensor(np.stack(tokens), device=device)}
    n = len(tokens)
    answers = torch.zeros(n, seq_len, dtype=torch.long)
    used = torch.full((n,), budget, dtype=torch.long)
    conf = torch.full((n,), float("nan"))
    halted = torch.zeros(n, dtype=torch.bool)
    model.eval()
    state = None
    with torch.no_grad():
        for step in range(1, budget + 1):
            out = model(batch, state)
            state = out.state
            active = ~halted
            answers[active] = out.logits.argmax(-1).cpu()[active]
            if out.halt_logits is not None:
                conf[active] = model.halting.halt_confidence(out.halt_logits).float().cpu()[active]
            wish = model.halting.eval_wants_halt(out.halt_logits) if adaptive and out.halt_logits is not None else None
            stop = active & (wish.cpu().bool() if wish is not None else torch.zeros(n, dtype=torch.bool))
            used[stop] = step
            halted |= stop
            if bool(halted.all()):
                break
    results = []
    for i, t in enumerate(tokens):
        answer = answers[i].numpy()
        results.append(Solution(name, t, answer, int(used[i]), budget, bool(halted[i]), float(conf[i]), adaptive,
                                module.check(t, answer), module.decode(answer)))
    return results if many else results[0]


def load_solver_model(source: str | None, task: str, tokens: np.ndarray, *, device: Any = None):
    """The model `hrmzoo solve` uses: `source` (a run directory, a checkpoint or `pretrained:NAME`),
    or the shipped pretrained model for the puzzle's size."""
    from hrmzoo.persistence.checkpoint import load_model
    from hrmzoo.persistence.hub import PREFIX, available

    if source is None:
        name = get_task(task).default_model(tokens)
        if name not in available():
            raise TaskError(f"the default model for this puzzle, '{name}', is not shipped in this install "
                            f"(shipped: {', '.join(available()) or 'none'}); pass --model RUN_DIR")
        source = PREFIX + name
    return load_model(source, device=device).eval()
