"""A dependency-free progress line on stderr for long builds."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints `label: done/total (rate/s)` on one stderr line, at most every 0.5 s.

    Args:
        label: What is being counted.
        total: Expected final count.
        enabled: Print nothing when False (library default; the CLI turns it on).
    """

    def __init__(self, label: str, total: int, enabled: bool = False) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.start = self._last = time.perf_counter()
        self.done = 0

    def update(self, done: int) -> None:
        """Report the current count."""
        self.done = done
        now = time.perf_counter()
        if self.enabled and now - self._last >= 0.5:
            self._last = now
            self._print(now, end="\r")

    def close(self) -> None:
        """Print the final line (newline-terminated)."""
        if self.enabled:
            self._print(time.perf_counter(), end="\n")

    def _print(self, now: float, end: str) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        sys.stderr.write(f"{self.label}: {self.done}/{self.total} ({rate:,.0f}/s){end}")
        sys.stderr.flush()
