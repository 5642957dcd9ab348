"""Run output: a one-line progress display on stderr and metrics as JSON lines.

`metrics.jsonl` gets one object per log event (``{"step": ..., "kind":
"train"|"eval", ...}`); with `train.tensorboard: true`` the same scalars go
to TensorBoard event files beside it (the `tb` extra), so
`tensorboard --logdir runs` shows every run by its directory name.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hrmzoo.errors import HrmzooError


class TensorBoardMissing(HrmzooError):
    """`train.tensorboard: true` without the tensorboard package."""


def format_duration(seconds: float) -> str:
    """`75` -> `1m15s`; `3725` -> `1h02m`."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class ProgressLine:
    """`step 120/2000 6% | loss 1.234 | exact 45.1% | 12.3 it/s | ETA 2m31s` on stderr.

    On a terminal the line is redrawn in place (at most every `min_interval`
    seconds); otherwise a full line is printed at each `log` call so logs stay readable.
    """

    def __init__(self, total: int, start: int = 0, enabled: bool = True, stream: TextIO | None = None, min_interval: float = 0.25):
        self.total, self.start = total, start
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._width = 0

    def text(self, step: int, values: dict[str, float]) -> str:
        elapsed = time.perf_counter() - self.t0
        done = step - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        parts = [f"step {step}/{self.total} {100 * step / max(1, self.total):.0f}%"]
        if "loss" in values:
            parts.append(f"loss {values['loss']:.4f}")
        if "exact" in values:
            parts.append(f"exact {100 * values['exact']:.1f}%")
        parts += [f"{rate:.1f} it/s", f"ETA {format_duration(eta)}"]
        return " | ".join(parts)

    def update(self, step: int, values: dict[str, float], force: bool = False) -> None:
        """Redraw (terminal) or print (log file, only when `force`)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if force or now - self._last_draw >= self.min_interval:
                line = self.text(step, values)
                pad = max(0, self._width - len(line))
                self.stream.write("\r" + line + " " * pad)
                self.stream.flush()
                self._width, self._last_draw = len(line), now
        elif force:
            self.stream.write(self.text(step, values) + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """Print a full line without breaking the progress line."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def require_tensorboard() -> None:
    """Raise a one-line error when the tensorboard package is not installed."""
    if importlib.util.find_spec("tensorboard") is None:
        raise TensorBoardMissing("train.tensorboard=true needs the tensorboard package: pip install 'hrmzoo[tb]' (or set train.tensorboard=false)")


class MetricsLog:
    """Appends JSON lines to `run_dir/metrics.jsonl`, and TensorBoard events beside it when asked.

    Args:
        run_dir: the run directory.
        enabled: False on non-main ranks (nothing is written).
        tensorboard: also write every numeric value as a scalar `<kind>/<key>`
            (`train/loss`, `eval/exact_accuracy`) into `run_dir/events.out.tfevents.*`.
    """

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = False):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self._tb = None
        if enabled and tensorboard:
            require_tensorboard()
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir)))

    def drop_after(self, step: int) -> int:
        """On resume: remove rows logged after `step` (the steps about to be replayed),
        so the log reads as one run. Rewritten atomically; returns the rows dropped."""
        if not self.enabled or not self.path.is_file():
            return 0
        kept, dropped = [], 0
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row_step = json.loads(line).get("step", 0)
            except (ValueError, AttributeError):
                dropped += 1  # a line cut short by a kill
                continue
            if isinstance(row_step, int) and row_step > step:
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            from hrmzoo.common.atomic import write_text_atomic

            write_text_atomic(self.path, "".join(k + "\n" for k in kept))
        return dropped

    def write(self, step: int, kind: str, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "kind": kind, **values}
        with open(self.path, "a") as f:
            f.write(json.dumps(row, sort_keys=False) + "\n")
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)
            self._tb.flush()  # a crashed or interrupted run keeps its curves

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
