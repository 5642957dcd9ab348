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


#: errno name -> (what happened, what to do): the failures of writing a file that a user can fix
_OS_ERRORS = {
    "ENOSPC": ("the disk is full", "free some space"),
    "EDQUOT": ("the disk quota is used up", "free some space"),
    "EROFS": ("the file system is read-only", "make it writable or work on a copy elsewhere"),
    "EACCES": ("permission denied", "make it writable or work on a copy elsewhere"),
    "EPERM": ("operation not permitted", "make it writable or work on a copy elsewhere"),
    "EFBIG": ("the file-size limit was reached", "raise it (ulimit -f unlimited)"),
    "EISDIR": ("a directory is in the way", "move that directory out of the way"),
    "ENOTDIR": ("a file is in the way of a directory", "move that file out of the way"),
    "EIO": ("an input/output error", "check the disk"),
}


def describe_os_error(exc: OSError) -> str:
    """`the disk is full (ENOSPC) writing /run/x`: what an OSError means, in a few words."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    what = _OS_ERRORS.get(name, (exc.strerror or type(exc).__name__, ""))[0]
    where = f" at {exc.filename}" if exc.filename else ""
    return f"{what} ({name or type(exc).__name__}){where}"


def os_error_fix(exc: OSError) -> str:
    """What a user does about an OSError (`free some space`)."""
    import errno

    return _OS_ERRORS.get(errno.errorcode.get(exc.errno or 0, ""), ("", "fix the cause"))[1]
