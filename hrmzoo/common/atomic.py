"""One way to write a file so that a kill never leaves half of it, and one way to read a small file.

`write_atomic(path, write)` lets `write` fill a hidden temp file beside `path`,
fsyncs it, renames it over `path` and fsyncs the directory: a reader sees the
old file or the new one, never a mix, even after a power cut. Every writer of
run state (checkpoint files, `latest`, `manifest.json`, `run.json`, the
metrics log when it is rewritten, evaluation chunks) goes through it.

`read_small(path, limit)` reads a file hrmzoo wrote and expects to be small
(a pointer, a manifest, a JSON state) without trusting it: a special file
(`latest` symlinked to /dev/zero) or one larger than the limit is a one-line
error instead of an unbounded read.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path
from typing import Callable

from hrmzoo.errors import HrmzooError

#: Sizes above which a file hrmzoo reads whole is refused (bytes).
SMALL_FILE_LIMIT = 64 << 20


class FileTooLarge(HrmzooError):
    """A file expected to be small is larger than its limit, or not a regular file."""


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """The hidden temp file a write of `path` uses (unique per process and call)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}-{uuid.uuid4().hex[:6]}")


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Write `path` through a temp file: `write(tmp)` fills it, then fsync, rename, fsync of the directory.

    A directory in the way is an error naming it (an `os.replace` would fail with
    an errno only); the temp file never survives a failure.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(errno.EISDIR, "a directory is in the way of a file hrmzoo writes", str(path))
    tmp = temp_name(path)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            try:
                tmp.unlink()
            except OSError:
                pass
    fsync_dir(path.parent)
    return path


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_small(path: str | os.PathLike[str], limit: int = SMALL_FILE_LIMIT, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    Raises:
        FileTooLarge: not a regular file (a device, a FIFO, a directory) or larger than `limit`.
        OSError: it cannot be opened (missing, no permission).
    """
    path = Path(path)
    # O_NONBLOCK: opening a FIFO must not wait for a writer
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise FileTooLarge(f"{path}: {what} is {kind}; hrmzoo only reads regular files here")
        if info.st_size > limit:
            raise FileTooLarge(f"{path}: {what} is {info.st_size} bytes, more than the {limit} a valid one can be; the file is corrupt or was replaced")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while read
        raise FileTooLarge(f"{path}: {what} is more than {limit} bytes; the file is corrupt or was replaced")
    return data
