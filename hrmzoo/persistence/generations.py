"""Checkpoint generations: one complete directory per save, and a pointer to the newest.

A run directory keeps its saves under `checkpoints/`::

    checkpoints/
        step-00000060/   model.safetensors, trainer_state.safetensors, trainer_state.json, manifest.json
        step-00000040/   the previous generation (`train.keep_checkpoints` are kept)
        latest           "step-00000060"

A save writes every file into a hidden temporary directory, then `manifest.json`
(the step and the SHA-256 of every file) last, renames the directory into place
and only then replaces `latest` (a temp file and a rename). A kill at any
moment leaves the previous generation and pointer as they were; the next save
removes what the kill left behind. Readers verify the hashes, so a flipped byte
in a tensor (safetensors has no checksum) is an error instead of a silent change.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hrmzoo.common.atomic import FileTooLarge, fsync_dir, read_small, write_text_atomic
from hrmzoo.errors import CheckpointError

CHECKPOINTS = "checkpoints"
POINTER = "latest"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
_NAME = re.compile(r"step-(\d{8,})")
#: a generation moved aside while the same step is saved again: `.old-step-N-<pid>`
_OLD = re.compile(r"\.old-(step-\d{8,})-\d+")
POINTER_LIMIT = 256
MANIFEST_LIMIT = 1 << 20

#: Test hook: called with "after:<file>", "after:manifest", "after:aside" (same step saved again), "after:rename", "after:pointer"
#: during a save, so tests can simulate a kill at every file boundary deterministically.
FAULT_HOOK: Callable[[str], None] | None = None


def _fault(point: str) -> None:
    if FAULT_HOOK is not None:
        FAULT_HOOK(point)


def generation_name(step: int) -> str:
    return f"step-{step:08d}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_pointer(run_dir: Path) -> None:
    """Refuse a `latest` that is not the regular file hrmzoo writes (a directory, a link, a device):
    replacing it could remove what someone put there, and reading it could never end."""
    ptr = checkpoints_dir(run_dir) / POINTER
    if not os.path.lexists(ptr) or (ptr.is_file() and not ptr.is_symlink()):
        return
    kind = "a symbolic link" if ptr.is_symlink() else "a directory" if ptr.is_dir() else "not a regular file"
    kept = ", ".join(g.name for g in list_generations(run_dir)[:3]) or "none"
    raise CheckpointError(f"{ptr}: is {kind}, not the pointer file hrmzoo writes; nothing was changed (generations kept: {kept}); "
                          f"move it out of the way (mv {ptr} {ptr}.moved), then resume={run_dir}")


@dataclass(frozen=True)
class Generation:
    """One saved step directory."""

    path: Path
    step: int

    @property
    def name(self) -> str:
        return self.path.name


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def has_generations(run_dir: Path) -> bool:
    """True when the run uses the generation layout (`checkpoints/` exists, complete generation or not)."""
    return checkpoints_dir(run_dir).is_dir()


def _moved_aside(root: Path) -> dict[str, Path]:
    """Generations a same-step save moved aside (`.old-step-N-*`) whose `step-N` is missing:
    a kill between the two renames of `write_generation` leaves one, and `latest` names it."""
    out: dict[str, Path] = {}
    for p in root.iterdir():
        m = _OLD.fullmatch(p.name)
        if m and p.is_dir() and not os.path.lexists(root / m.group(1)):
            out.setdefault(m.group(1), p)
    return out


def list_generations(run_dir: Path) -> list[Generation]:
    """Step directories under `checkpoints/`, newest first (complete or not).

    A generation moved aside by an interrupted same-step save stands in for its
    missing `step-N`, so `latest` never names nothing."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    found = [Generation(p, int(m.group(1))) for p in root.iterdir() if p.is_dir() and (m := _NAME.fullmatch(p.name))]
    found += [Generation(p, int(name[len("step-"):])) for name, p in _moved_aside(root).items()]
    return sorted(found, key=lambda g: g.step, reverse=True)


def pointer_step(run_dir: Path) -> int | None:
    """The step `latest` names (None when it is missing or unreadable)."""
    try:
        text = read_small(checkpoints_dir(run_dir) / POINTER, POINTER_LIMIT, "the 'latest' pointer").decode("utf-8").strip()
    except (OSError, UnicodeDecodeError, FileTooLarge):
        return None
    m = _NAME.fullmatch(text)
    return int(m.group(1)) if m else None


def read_manifest(gen_dir: Path) -> dict:
    path = Path(gen_dir) / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{gen_dir}: no {MANIFEST}; the save was interrupted (incomplete generation)")
    try:
        body = json.loads(read_small(path, MANIFEST_LIMIT, MANIFEST).decode("utf-8"))
        files = body["files"]
        step = int(body["step"])
        if not isinstance(files, dict) or body.get("format") != MANIFEST_FORMAT:
            raise ValueError
        for entry in files.values():
            if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or not isinstance(entry.get("bytes"), int):
                raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError, FileTooLarge, OSError):
        raise CheckpointError(f"{path}: not a valid checkpoint manifest; the file is corrupt") from None
    return {"step": step, "files": files}


def verify_file(gen_dir: Path, name: str, manifest: dict | None = None) -> Path:
    """Check one file of a generation against its manifest; returns its path."""
    gen_dir = Path(gen_dir)
    manifest = manifest or read_manifest(gen_dir)
    path = gen_dir / name
    entry = manifest["files"].get(name)
    if entry is None:
        raise CheckpointError(f"{gen_dir}: {name} is not listed in {MANIFEST}; the generation is incomplete")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the generation is incomplete")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise CheckpointError(f"{path}: {size} bytes but {MANIFEST} records {entry['bytes']}; the file is truncated or was replaced")
    if sha256_file(path) != entry["sha256"]:
        raise CheckpointError(f"{path}: content hash differs from {MANIFEST}; the file is corrupt")
    return path


def verify_generation(gen: Generation, required: tuple[str, ...]) -> dict:
    """Verify every file of a generation (and that `required` are there); returns the manifest."""
    manifest = read_manifest(gen.path)
    if manifest["step"] != gen.step:
        raise CheckpointError(f"{gen.path / MANIFEST}: records step {manifest['step']} but the directory is {gen.name}; the generation was renamed or damaged")
    for name in required:
        if name not in manifest["files"]:
            raise CheckpointError(f"{gen.path}: {name} is not listed in {MANIFEST}; the generation is incomplete")
    for name in manifest["files"]:
        verify_file(gen.path, name, manifest)
    return manifest


def committed(run_dir: Path) -> list[Generation]:
    """Generations at or below the pointer, newest first (all of them without a readable pointer)."""
    gens = list_generations(run_dir)
    top = pointer_step(run_dir)
    return [g for g in gens if top is None or g.step <= top]


def newest_verified(run_dir: Path, required: tuple[str, ...]) -> tuple[Generation, dict, list[str]]:
    """The newest committed generation whose files all verify.

    Returns:
        (generation, manifest, reasons the newer ones were skipped).
    """
    skipped: list[str] = []
    gens = committed(run_dir)
    for gen in gens:
        try:
            return gen, verify_generation(gen, required), skipped
        except CheckpointError as exc:
            skipped.append(f"{gen.name}: {exc}")
    if not gens:
        raise CheckpointError(f"{checkpoints_dir(run_dir)}: holds no saved generation (was a checkpoint ever written?)")
    raise CheckpointError(f"{checkpoints_dir(run_dir)}: no generation verifies; newest problem: {skipped[0]}")


def older_than_newest(run_dir: Path, gen: Generation, skipped: list[str]) -> str | None:
    """A note when `gen` is not the newest step the run directory shows (None when it is):
    a reader must say which generation it used when it is not the one `latest` or a newer directory names."""
    newest = max([g.step for g in list_generations(run_dir)] + [pointer_step(run_dir) or 0])
    if not skipped and gen.step >= newest:
        return None
    why = skipped[0] if skipped else f"{generation_name(newest)} is newer but was never committed or is missing"
    return f"using {gen.path} (step {gen.step}), not the newest step {newest}; {why}"


def clean_temp(run_dir: Path) -> None:
    """Remove what an interrupted save left: temp directories and temp files."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return
    for name, p in _moved_aside(root).items():  # put it back before anything is deleted
        os.replace(p, root / name)
        fsync_dir(root)
    for p in root.iterdir():
        if p.name.startswith("."):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def write_generation(run_dir: Path, step: int, writers: dict[str, Callable[[Path], None]], keep: int) -> Generation:
    """Write one complete generation and switch `latest` to it.

    Args:
        run_dir: the run directory.
        step: the optimizer step the files describe.
        writers: file name -> function writing that file at the given path.
        keep: generations to keep (older ones are removed after the switch).
    """
    root = checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    check_pointer(run_dir)
    clean_temp(run_dir)
    name = generation_name(step)
    tmp = root / f".tmp-{name}-{os.getpid()}"
    tmp.mkdir()
    old = root / f".old-{name}-{os.getpid()}"
    try:
        files = {}
        for fname, write in writers.items():
            write(tmp / fname)
            files[fname] = {"sha256": sha256_file(tmp / fname), "bytes": (tmp / fname).stat().st_size}
            _fault(f"after:{fname}")
        write_text_atomic(tmp / MANIFEST, json.dumps({"format": MANIFEST_FORMAT, "step": step, "files": files}, indent=1, sort_keys=True))
        fsync_dir(tmp)
        _fault("after:manifest")
        final = root / name
        if final.exists():  # the same step saved again (a resume that saves at once)
            os.replace(final, old)
            _fault("after:aside")
        os.replace(tmp, final)
        fsync_dir(root)
        _fault("after:rename")
        write_text_atomic(root / POINTER, name + "\n")
        fsync_dir(root)
        _fault("after:pointer")
    except (Exception, KeyboardInterrupt):
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.isdir(old) and not os.path.lexists(root / name):  # the same step saved again failed: put the old one back
            try:
                os.replace(old, root / name)
            except OSError:
                pass  # list_generations still finds it where it is
        raise
    shutil.rmtree(old, ignore_errors=True)
    prune(run_dir, keep)
    return Generation(final, step)


def prune(run_dir: Path, keep: int) -> None:
    """Keep the `keep` newest committed generations; drop the rest and any above the pointer."""
    top = pointer_step(run_dir)
    kept = 0
    for gen in list_generations(run_dir):
        if top is not None and gen.step > top:  # written but never committed (a kill before the switch)
            shutil.rmtree(gen.path, ignore_errors=True)
        elif kept < keep:
            kept += 1
        else:
            shutil.rmtree(gen.path, ignore_errors=True)


def drop_newest(run_dir: Path) -> Generation | None:
    """Uncommit the newest generation (its weights just produced a non-finite loss).

    The pointer moves back first, then the directory goes, so a kill in between
    leaves an uncommitted directory that the next save removes. Returns the
    generation that is newest now (None when there is none).
    """
    gens = committed(run_dir)
    if not gens:
        return None
    root = checkpoints_dir(run_dir)
    if len(gens) > 1:
        write_text_atomic(root / POINTER, gens[1].name + "\n")
    else:
        (root / POINTER).unlink(missing_ok=True)
    shutil.rmtree(gens[0].path, ignore_errors=True)
    return gens[1] if len(gens) > 1 else None
