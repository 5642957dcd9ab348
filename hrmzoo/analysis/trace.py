"""Watch a model think: its prediction after every segment of one puzzle (`hrmzoo trace`).

`trace_example` runs a trained model on one example for its whole segment
budget and keeps, per segment, the predicted tokens, how many cells changed
since the previous segment (the first segment is compared with the input),
the halting head's confidence and wish, and the controller's mean activity per
head. `draw_trace` draws that as a strip of grids (Sudoku digits, maze
paths, ARC colours, or token ids for anything else) with the changed cells
framed, and the controller's activity under the strip when there is one.
matplotlib is imported only there.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hrmzoo.errors import HrmzooError

# ARC's ten colours (0 black ... 9 maroon), the palette of the ARC viewer
ARC_COLOURS = ["#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25"]
MAZE_CHARS = "# SGo"  # tokens 1..5, as hrmzoo.data.maze.CHARSET
CHANGED_COLOUR = "#f59f00"


class TraceError(HrmzooError):
    """The example or puzzle file cannot be traced."""


@dataclass
class Trace:
    """One example through every segment.

    Attributes:
        kind: `sudoku`, `maze`, `arc` or `grid` (how the tokens are drawn).
        inputs: [S] input tokens.
        labels: [S] target tokens (-100 where unsupervised), or None for a puzzle file.
        predictions: [T, S] argmax tokens after each of the T segments.
        changed: [T] cells that differ from the previous segment (segment 1: from the input).
        halt_confidence: [T] the halting head's confidence in "halt" (NaN without a head).
        wants_halt: [T] the halt decision at evaluation: the head's own rule, or its confidence above
            `eval_halt_threshold` where one is set (False without a head).
        exact: [T] every supervised token right (None for a puzzle file).
        activity: controller head/point -> [T] mean activity per segment (empty without one).
        title: where the example came from.
    """

    kind: str
    inputs: np.ndarray
    labels: np.ndarray | None
    predictions: np.ndarray
    changed: list[int]
    halt_confidence: list[float]
    wants_halt: list[bool]
    exact: list[bool] | None
    activity: dict[str, list[float]] = field(default_factory=dict)
    title: str = ""

    @property
    def segments(self) -> int:
        return int(self.predictions.shape[0])


def dataset_kind(root: str | Path, task_id: int | None = None) -> str:
    """The generator that built a dataset (`build.json`), following a mixture to its member."""
    from hrmzoo.data.mix import is_mix, read_mix

    root = Path(root)
    if is_mix(root):
        tasks = {t.task_id: t for t in read_mix(root)}
        if task_id is None or task_id not in tasks:
            return "grid"
        root = tasks[task_id].root
    try:
        return str(json.loads((root / "build.json").read_text()).get("generator", "grid"))
    except (OSError, ValueError, AttributeError):
        return "grid"


def parse_puzzle_file(path: str | Path, kind: str, seq_len: int) -> np.ndarray:
    """Tokens [seq_len] from a text puzzle: Sudoku digits with `.` or `0` for blanks,
    or a maze in `# SG` characters (one row per line); ARC as a JSON grid of colours."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the puzzle file ({exc.strerror or exc})") from None
    if kind == "sudoku":
        cells = [c for c in text if not c.isspace() and c not in "|-+"]
        bad = sorted({c for c in cells if not (c.isdigit() or c in "._")})
        if bad:
            raise TraceError(f"{path}: a Sudoku puzzle holds digits and '.' or '0' for blanks, found {''.join(bad)!r}")
        tokens = [1 if c in "._0" else int(c) + 1 for c in cells]
    elif kind == "maze":
        rows = [line for line in text.splitlines() if line.strip()]
        bad = sorted({c for row in rows for c in row if c not in MAZE_CHARS})
        if bad:
            raise TraceError(f"{path}: a maze is drawn with the characters '# SG' (one row per line), found {''.join(bad)!r}")
        tokens = [MAZE_CHARS.index(c) + 1 for row in rows for c in row]
    elif kind == "arc":
        from hrmzoo.data.arc import to_canvas

        try:
            grid = np.asarray(json.loads(text), dtype=np.int64)
        except (ValueError, TypeError):
            raise TraceError(f"{path}: an ARC puzzle is a JSON list of rows of colours 0-9") from None
        if grid.ndim != 2 or grid.min() < 0 or grid.max() > 9:
            raise TraceError(f"{path}: an ARC puzzle is a JSON list of rows of colours 0-9")
        tokens = to_canvas(grid).reshape(-1).tolist()
    else:
        raise TraceError(f"{path}: puzzle files are read for Sudoku, maze and ARC datasets; this dataset is '{kind}', use index=N")
    if len(tokens) != seq_len:
        raise TraceError(f"{path}: {len(tokens)} cells but the model reads {seq_len}")
    return np.asarray(tokens, dtype=np.int64)


@torch.no_grad()
def trace_example(model, batch: dict[str, torch.Tensor], *, kind: str = "grid", title: str = "", segments: int | None = None) -> Trace:
    """Run `model` on a one-example `batch` for `segments` (default its budget) and record each segment."""
    from hrmzoo.evaluate.core import halt_confidence
    from hrmzoo.model.segment_loop import score

    model.eval()
    T = segments or model.halting.max_segments
    inputs = batch["inputs"]
    labels = batch.get("labels")
    state = None
    preds, conf, wants, exact = [], [], [], []
    activity: dict[str, list[float]] = {}
    for _ in range(T):
        out = model(batch, state)
        state = out.state
        preds.append(out.logits.argmax(-1)[0].cpu())
        conf.append(float(halt_confidence(model.halting, out.halt_logits, 1)[0]))
        wish = model.halting.eval_wants_halt(out.halt_logits) if out.halt_logits is not None else None
        wants.append(bool(wish[0]) if wish is not None else False)
        if labels is not None:
            exact.append(bool(score(out.logits, labels)[0][0]))
        for name, values in (out.diagnostics.get("trace") or {}).items():
            activity.setdefault(name, []).append(float(torch.stack([v.float().mean() for v in values]).mean()) if values else float("nan"))
    predictions = torch.stack(preds).numpy()
    first = inputs[0].cpu().numpy()
    previous = np.concatenate([first[None], predictions[:-1]])
    changed = [int(n) for n in (predictions != previous).sum(axis=1)]
    return Trace(kind, first, labels[0].cpu().numpy() if labels is not None else None, predictions, changed, conf, wants,
                 exact if labels is not None else None, activity, title)


# ------------------------------------------------------------------ drawing

def _side(n: int) -> int:
    side = math.isqrt(n)
    return side if side * side == n else 0


def _crop_arc(tokens: list[np.ndarray]) -> tuple[int, int]:
    """Rows and columns of the 30x30 canvas that hold anything but PAD, in any of `tokens`."""
    rows = cols = 1
    for t in tokens:
        g = np.asarray(t).reshape(30, 30)
        filled = np.argwhere(g > 0)
        if filled.size:
            rows, cols = max(rows, int(filled[:, 0].max()) + 1), max(cols, int(filled[:, 1].max()) + 1)
    return rows, cols


def _draw_grid(ax, kind: str, tokens: np.ndarray, shape: tuple[int, int], *, given: np.ndarray | None = None,
               wrong: np.ndarray | None = None, changed: np.ndarray | None = None) -> None:
    from matplotlib.patches import Rectangle

    h, w = shape
    full = _side(tokens.size) or 30
    grid = tokens.reshape(-1, full)[:h, :w]
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    fs = max(5, min(14, 150 // max(h, w)))
    for r in range(h):
        for c in range(w):
            t = int(grid[r, c])
            face, text, colour = "white", "", "#212529"
            if kind == "sudoku":
                text = str(t - 1) if t >= 2 else ""
                if given is not None and given.reshape(-1, full)[r, c]:
                    face = "#e9ecef"
                else:
                    colour = "#1971c2"
            elif kind == "maze":
                face = {1: "#343a40", 2: "white", 3: "#2f9e44", 4: "#e03131", 5: "#74c0fc"}.get(t, "#f8f9fa")
            elif kind == "arc":
                face = ARC_COLOURS[t - 2] if 2 <= t <= 11 else ("#ffffff" if t == 1 else "#f1f3f5")
            else:
                text = str(t)
            if wrong is not None and wrong.reshape(-1, full)[r, c]:
                colour = "#e03131"
                if kind != "sudoku":
                    text = "x"
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor="#ced4da", linewidth=0.4))
            if text:
                ax.text(c + 0.5, r + 0.55, text, ha="center", va="center", fontsize=fs, color=colour,
                        fontweight="bold" if kind == "sudoku" and face != "white" else "normal")
    if kind == "sudoku":
        br, bc = {4: (2, 2), 6: (2, 3), 9: (3, 3)}.get(h, (h, w))
        for k in range(0, h + 1, br):
            ax.plot([0, w], [k, k], color="#212529", linewidth=1.5)
        for k in range(0, w + 1, bc):
            ax.plot([k, k], [0, h], color="#212529", linewidth=1.5)
    if changed is not None:
        cells = np.argwhere(changed.reshape(-1, full)[:h, :w])
        for r, c in cells:
            ax.add_patch(Rectangle((c + 0.06, r + 0.06), 0.88, 0.88, fill=False, edgecolor=CHANGED_COLOUR, linewidth=2, gid="changed"))


def draw_trace(trace: Trace, path: str | Path):
    """Draw the strip (input, one frame per segment, target) and save it; returns the figure's frame axes."""
    try:
        import matplotlib
    except ImportError:
        raise TraceError("hrmzoo trace draws with matplotlib: pip install 'hrmzoo[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = trace.segments
    S = trace.inputs.size
    if trace.kind == "arc":
        shape = _crop_arc([trace.inputs, *trace.predictions] + ([np.where(trace.labels > 0, trace.labels, 0)] if trace.labels is not None else []))
    else:
        side = _side(S)
        shape = (side, side) if side else (1, S)
    panels = T + 1 + (trace.labels is not None)
    has_activity = bool(trace.activity)
    cell = 2.0 if shape[0] > 1 else 0.9
    fig = plt.figure(figsize=(max(6.0, cell * panels * max(1.0, shape[1] / max(1, shape[0]))), cell + 1.0 + (1.9 if has_activity else 0)))
    gs = fig.add_gridspec(2 if has_activity else 1, panels, height_ratios=[cell + 0.9, 1.7] if has_activity else None)
    axes = [fig.add_subplot(gs[0, i]) for i in range(panels)]
    given = trace.inputs > 1 if trace.kind == "sudoku" else None
    _draw_grid(axes[0], trace.kind, trace.inputs, shape, given=given)
    axes[0].set_title("input", fontsize=9)
    labels = trace.labels
    frames = []
    for t in range(T):
        ax = axes[1 + t]
        pred = trace.predictions[t]
        prev = trace.inputs if t == 0 else trace.predictions[t - 1]
        wrong = (pred != labels) & (labels >= 0) if labels is not None else None
        _draw_grid(ax, trace.kind, pred, shape, given=given, wrong=wrong, changed=pred != prev)
        ax.set_gid(f"frame{t + 1}")
        frames.append(ax)
        ok = "" if trace.exact is None else ("  exact" if trace.exact[t] else "")
        ax.set_title(f"segment {t + 1}{ok}", fontsize=9, color="#2f9e44" if ok else "#212529")
        conf = trace.halt_confidence[t]
        halt = "no halting head" if math.isnan(conf) else f"halt p={conf:.2f}" + (" (halts)" if trace.wants_halt[t] else "")
        ax.set_xlabel(f"{trace.changed[t]} changed\n{halt}", fontsize=8)
    if labels is not None:
        target = np.where(labels >= 0, labels, trace.inputs)
        _draw_grid(axes[-1], trace.kind, target, shape, given=given)
        axes[-1].set_title("target", fontsize=9)
    if has_activity:
        ax = fig.add_subplot(gs[1, 1:T + 1])
        xs = list(range(1, T + 1))
        for name, values in sorted(trace.activity.items()):
            ax.plot(xs, values, "o-", label=name, markersize=3)
        ax.set_xticks(xs)
        ax.set(xlabel="segment", ylabel="mean |modulation|")
        ax.set_title("controller activity per head", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(trace.title + "   (framed: changed since the previous segment; red: wrong)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
    except OSError as exc:
        raise TraceError(f"cannot write the trace to {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return frames
