"""Run one hostile case and classify how it ended.

Every case must end in ``ok`` (success) or ``one-line`` (exit 2 with exactly one
line on stderr, or a HrmzooError whose message is one line). ``traceback`` is
any other exception or output; ``data lost`` is a guarded file that changed or
vanished. The tally is printed at the end of the session (per category:
cases / ok / one-line / traceback / data lost) and written as JSON to
``$HRMZOO_RELIABILITY_REPORT`` when that is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Callable

from hrmzoo.errors import HrmzooError

OUTCOMES = ("ok", "one-line", "traceback", "data lost")
TALLY: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("cases", *OUTCOMES), 0))


def fingerprint(paths: list[Path]) -> dict[str, str | None]:
    """Content hash of every file under ``paths`` (None for a missing path)."""
    out: dict[str, str | None] = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        if not files:
            out[str(root)] = None
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run_case(category: str, action: Callable[[], int | None], guard: list[Path] = (),
             lost: Callable[[], str | None] | None = None) -> tuple[str, str]:
    """Run ``action`` (a CLI ``main(argv)`` call or a library call); returns (outcome, detail).

    ``guard``: files that must come out byte-identical; ``lost``: an extra check that
    names what was lost (None when nothing was).
    """
    before = fingerprint(list(guard))
    err = io.StringIO()
    out = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = action()
        rc = 0 if rc is None else rc
        text = err.getvalue()
        # informational lines (the run banner, a note) may precede; the failure itself is one "error:" line
        lines = [ln for ln in text.splitlines() if "error:" in ln]
        if rc == 0 and "Traceback" not in text:
            outcome, detail = "ok", ""
        elif rc == 2 and len(lines) == 1 and "Traceback" not in text and lines[0] == text.rstrip("\n").splitlines()[-1]:
            outcome, detail = "one-line", lines[0]
        else:
            outcome, detail = "traceback", f"exit {rc}: {err.getvalue()[-2000:]}"
    except HrmzooError as exc:
        msg = str(exc)
        outcome, detail = ("one-line", msg) if msg and "\n" not in msg else ("traceback", f"multi-line HrmzooError: {msg}")
    except BaseException:  # noqa: BLE001 - the point is to classify everything
        outcome, detail = "traceback", traceback.format_exc()[-3000:]
    if outcome != "traceback" and fingerprint(list(guard)) != before:
        outcome, detail = "data lost", f"guarded files changed: {sorted(set(before.items()) ^ set(fingerprint(list(guard)).items()))[:4]}"
    elif outcome != "traceback" and lost is not None and (what := lost()):
        outcome, detail = "data lost", what
    if os.environ.get("HRMZOO_RELIABILITY_VERBOSE"):
        print(f"[{category}] {outcome}: {detail[:300]}", file=sys.__stderr__)
    TALLY[category]["cases"] += 1
    TALLY[category][outcome] += 1
    return outcome, detail


def assert_safe(category: str, action: Callable[[], int | None], guard: list[Path] = (), expect: str | None = None,
                lost: Callable[[], str | None] | None = None) -> str:
    """Run a case; fail the test on a traceback or lost data (or an unexpected outcome)."""
    outcome, detail = run_case(category, action, guard, lost)
    assert outcome in ("ok", "one-line"), f"{category}: {outcome}: {detail}"
    if expect is not None:
        assert outcome == expect, f"{category}: expected {expect}, got {outcome} {detail}"
    return detail


def format_tally() -> str:
    rows = [f"{'category':<22} {'cases':>6} {'ok':>6} {'one-line':>9} {'traceback':>10} {'data lost':>10}"]
    total = dict.fromkeys(("cases", *OUTCOMES), 0)
    for cat in sorted(TALLY):
        t = TALLY[cat]
        rows.append(f"{cat:<22} {t['cases']:>6} {t['ok']:>6} {t['one-line']:>9} {t['traceback']:>10} {t['data lost']:>10}")
        for k in total:
            total[k] += t[k]
    rows.append(f"{'total':<22} {total['cases']:>6} {total['ok']:>6} {total['one-line']:>9} {total['traceback']:>10} {total['data lost']:>10}")
    return "\n".join(rows)
