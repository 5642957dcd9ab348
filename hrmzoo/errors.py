"""User-facing errors.

Every mistake a user can make (a bad recipe, a bad override, a missing file, a
corrupt checkpoint) is raised as a `HrmzooError` whose message is one line
naming the place and the fix. The CLI prints that line and exits with code 2
instead of showing a traceback.
"""

from __future__ import annotations


class HrmzooError(ValueError):
    """A one-line, user-facing error (bad recipe, override, file or checkpoint)."""


class RecipeError(HrmzooError):
    """A recipe failed to load or validate."""


class OverrideError(HrmzooError):
    """A `key=value` override could not be parsed or applied."""


class RegistryError(HrmzooError, KeyError):
    """Unknown or duplicate component name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(HrmzooError):
    """A checkpoint is missing, corrupt or does not match the model."""
