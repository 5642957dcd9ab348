"""One writer per run directory: an exclusive lock held for the life of a `hrmzoo train`.

Two processes writing one run (two `resume=R` at once, two fresh runs with the
same `train.out_dir`, a resume while the original still trains) remove each
other's temporary files and interleave the metrics log. The lock is an
`fcntl.flock` on `RUN/.hrmzoo.lock`: the kernel releases it when the holder
exits in any way (SIGKILL included), so a lock left by a dead process is never
in the way. The file also records the holder's PID, host and start time, which
the refusal names. Where the filesystem has no `flock` (some network mounts),
the PID and host decide: a holder on this host whose PID is gone is stale.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

from hrmzoo.errors import HrmzooError

LOCK_FILE = ".hrmzoo.lock"


class RunLocked(HrmzooError):
    """Another process is writing this run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            body = json.loads(f.read(4096).decode("utf-8"))
        return body if isinstance(body, dict) else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(info["since"])) if isinstance(info.get("since"), (int, float)) else "?"
    return f"PID {info.get('pid', '?')} on {info.get('host', '?')} (since {since}, {info.get('command', 'hrmzoo train')})"


class RunLock:
    """Hold the run directory's lock until `release` (or the process ends).

    Args:
        run_dir: the run directory (must exist).
        command: what the holder is doing, for the refusal (`train`, `train resume`).
    """

    def __init__(self, run_dir: Path, command: str = "hrmzoo train"):
        self.path = Path(run_dir) / LOCK_FILE
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            from hrmzoo.errors import describe_os_error

            raise RunLocked(f"{self.path.parent}: cannot take the run's lock, {describe_os_error(exc)}; nothing was changed. Training needs a "
                            f"writable run directory: make it writable, or copy it elsewhere and resume the copy "
                            f"(hrmzoo eval reads it as it is, with out=PATH for the report)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLocked(f"{self.path.parent}: is being written by {_describe(_holder(self.path))}; "
                                f"wait for it to finish or stop it, then resume={self.path.parent}") from None
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            self._check_pid_file()  # no flock here: fall back to the recorded holder
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": self.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        return self

    def _check_pid_file(self) -> None:
        info = _holder(self.path)
        pid, host = info.get("pid"), info.get("host")
        if not isinstance(pid, int) or pid == os.getpid():
            return
        if host == socket.gethostname() and not _alive(pid):
            return  # stale: its holder died without releasing it
        raise RunLocked(f"{self.path.parent}: is being written by {_describe(info)} (recorded in {self.path}; delete it if that "
                        f"process is gone); wait for it to finish, then resume={self.path.parent}")

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would race with a process about to lock it)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
