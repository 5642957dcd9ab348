"""The one error type the data package raises at users.

A broken dataset directory, an impossible generator spec or a bad CLI option is
reported as a `DataError` whose `str` is a single line naming the file
(or option) and the fix. Callers such as the CLI print that line and exit with
code 2 instead of showing a numpy traceback.
"""

from __future__ import annotations

try:  # share the project-wide base so `except HrmzooError` also catches data errors
    from hrmzoo.errors import HrmzooError as _Base
except ImportError:  # pragma: no cover - the data package also works standalone
    _Base = ValueError  # type: ignore[misc,assignment]


class DataError(_Base):  # type: ignore[valid-type,misc]
    """A one-line, user-facing data problem (malformed dataset, bad spec)."""

    def __init__(self, message: str) -> None:
        # Keep the promise of one line even when wrapping foreign messages.
        super().__init__(" ".join(str(message).split()))


def file_error(path: object, problem: str, fix: str) -> DataError:
    """Build the standard `"<path>: <problem>; <fix>"` error.

    Args:
        path: The offending file or directory.
        problem: What is wrong with it (no trailing period).
        fix: What the user should do.

    Returns:
        A `DataError` ready to raise.
    """
    return DataError(f"{path}: {problem}; {fix}")
