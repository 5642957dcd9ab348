"""Safe output paths: what hrmzoo may write to, and what it may delete.

Two promises: a name or a relative path never lands outside the directory it is
meant for (`name: ../../x` stays a name), and `--force` only ever replaces a
directory hrmzoo itself made (it holds the marker file of a dataset or a run) —
never "", ".", "/", the home directory, or the directory you are standing in.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from hrmzoo.errors import HrmzooError

MAX_NAME_LEN = 128


class PathError(HrmzooError):
    """An output path or name that would write or delete outside what the user meant."""


def check_name(name: str, what: str = "name") -> str:
    """A name that becomes one path component (recipe and run names)."""
    if not isinstance(name, str) or not name:
        raise PathError(f"{what} is empty; give a short name such as 'my_run'")
    bad = next((c for c in name if c in "/\\" or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise PathError(f"{what} {name!r} holds {bad!r}; a name becomes one directory name, so use letters, digits, '-', '_' and '.'")
    if name in (".", "..") or name.startswith("."):
        raise PathError(f"{what} {name!r} may not start with '.'; use letters, digits, '-', '_' and '.'")
    if len(name) > MAX_NAME_LEN:
        raise PathError(f"{what} is {len(name)} characters long; keep it under {MAX_NAME_LEN}")
    return name


def _path_text(path: str | os.PathLike[str], what: str, example: str) -> str:
    """The path as text, refused in one line when empty (an unset shell variable) or holding a null byte."""
    text = os.fspath(path)
    if not text.strip():
        raise PathError(f"{what} is empty (an unset shell variable?); give {example}")
    if "\0" in text:
        raise PathError(f"{what} {text!r} holds a null byte")
    return text


def _protected(resolved: Path) -> str | None:
    """Why a resolved directory must never be an output that may be replaced."""
    if resolved == Path(resolved.anchor):
        return "the filesystem root"
    home = Path.home().resolve()
    if resolved == home:
        return "your home directory"
    cwd = Path.cwd().resolve()
    if resolved == cwd:
        return "the current directory"
    if resolved in cwd.parents:
        return "a parent of the current directory"
    return None


def check_output_dir(path: str | os.PathLike[str], what: str = "--out", *, absolute_ok: bool = True) -> Path:
    """Validate an output directory given by the user.

    Refuses an empty string, a null byte, the filesystem root, the home
    directory, the current directory or one of its parents. A relative path may
    not climb out of the current directory with `..` (an absolute one may be
    anywhere else when `absolute_ok`).
    """
    text = _path_text(path, what, "a directory such as data/sudoku9")
    p = Path(text).expanduser()
    if p.is_absolute() and not absolute_ok:
        raise PathError(f"{what} {text!r} is absolute; give a path relative to the current directory")
    if not p.is_absolute():
        norm = os.path.normpath(text)
        if norm == ".." or norm.startswith(".." + os.sep):
            raise PathError(f"{what} {text!r} climbs out of the current directory; give an absolute path if you mean it")
    reason = _protected(p.resolve())
    if reason:
        raise PathError(f"{what} {text!r} is {reason}; give a new directory for the output")
    return p


def check_replaceable(path: Path, *, force: bool, markers: tuple[str, ...], what: str = "--out") -> bool:
    """May `path` be (re)written? True when something is there to replace.

    An absent path or an empty directory is free. Anything else needs `force`
    and must be a directory holding one of `markers` (a file hrmzoo writes into
    every dataset/run), so --force never deletes what hrmzoo did not make.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return False
    if path.is_symlink() or not path.is_dir():
        raise PathError(f"{path}: exists and is not a directory; choose another {what}")
    try:
        empty = not any(path.iterdir())
    except OSError as exc:
        raise PathError(f"{path}: cannot read it ({exc.strerror}); choose another {what}") from None
    if empty:
        return False
    if not force:
        raise PathError(f"{path}: already exists; pass --force to replace it or choose another {what}")
    if not any((path / m).exists() for m in markers):
        raise PathError(f"{path}: not made by hrmzoo (no {' or '.join(markers)} inside), so --force will not delete it; choose another {what}")
    return True


def replace_dir(built: Path, final: Path) -> None:
    """Put a finished directory in place of `final` (which check_replaceable allowed):
    the old one is moved aside first and deleted only after the new one is in place."""
    old = None
    if os.path.lexists(final) and final.is_dir() and any(final.iterdir()):
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    elif os.path.lexists(final):
        final.rmdir()  # an empty directory
    try:
        os.replace(built, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_writable(path: Path, what: str = "--out") -> None:
    """Fail early, in one line, when the parent of an output cannot be created or written."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(f"{path}: cannot create {parent} ({exc.strerror}); choose another {what}") from None
    try:  # a real probe: os.access says yes to root even on read-only or virtual filesystems
        probe = Path(tempfile.mkdtemp(prefix=".hrmzoo-probe-", dir=parent))
        probe.rmdir()
    except OSError as exc:
        raise PathError(f"{path}: cannot write in {parent} ({exc.strerror}); choose another {what}") from None


def check_output_file(path: str | os.PathLike[str], what: str = "--out", *, force: bool = False, flag: str = "--force") -> Path:
    """The one rule for a file any command writes where the user pointed.

    Refused, in one line, before anything is computed or written: an empty path, a null
    byte, a directory (the filesystem root included), a relative path that climbs out
    of the current directory with `..` (give it absolutely if you mean it), an existing
    file unless `force` (`flag` names the option), and a folder that cannot be written.
    Returns the path; write it with `hrmzoo.common.atomic.write_atomic`.
    """
    text = _path_text(path, what, "a file name such as model.safetensors")
    p = Path(text).expanduser()
    if not p.is_absolute():
        norm = os.path.normpath(text)
        if norm == ".." or norm.startswith(".." + os.sep):
            raise PathError(f"{what} {text!r} climbs out of the current directory; give an absolute path if you mean it")
    if p.is_dir() or text.endswith(os.sep) or p.resolve() == Path(p.resolve().anchor):
        raise PathError(f"{what} {text!r} is a directory; give a file name inside it (e.g. {os.path.join(text, 'out')})")
    if os.path.lexists(p):
        if not p.is_file() or p.is_symlink():
            raise PathError(f"{what} {text!r} exists and is not a regular file; choose another {what}")
        if not force:
            raise PathError(f"{what} {text!r} already exists; nothing was written, pass {flag} to replace it or choose another name")
    check_writable(p, what)
    return p
