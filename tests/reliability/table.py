"""The reliability table: every hostile case of issue 28, run for real, one row each.

    python -m tests.reliability.table            # all cases (about 5 CPU-minutes on a busy 2-core machine)
    python -m tests.reliability.table lock eval  # only the cases whose name holds one of the words

Each case runs the commands a user would (in this process through `hrmzoo.cli.main`,
or as real processes where processes are the point: two writers, a kill, torchrun,
a file-size limit) inside a sandbox folder holding a working directory, a home and a
folder beside them. Columns:

- clean: commands that ended in success or in one designed line (exit 2, one `error:` line);
- traceback: commands that ended any other way (a traceback, exit 1's generic "SomeError ... --debug");
- data lost: a user's file changed, a run left without a generation to resume, duplicated or
  different log rows, a `latest` naming nothing;
- writes outside: a file created or changed in the sandbox outside the places the command was
  pointed at, or a new entry at the filesystem root;
- orphans: a process of the case still alive after it ended.

Disk full and read-only run directories use a real tmpfs (remounted read-only) where this
process may mount one (root with CAP_SYS_ADMIN); elsewhere a fault injected at the same write.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

TINY = ["train.threads=1", "train.progress=false", "train.final_eval=false", "model.hidden_size=16", "train.batch_size=8",
        "model.coupling.h_cycles=1", "model.coupling.l_cycles=1", "model.halting.max_segments=2"]
#: the audit's `$T`
T = ["train.threads=1", "train.progress=false", "train.final_eval=false"]
TAG = "HRMZOO_TABLE_TAG"



class SimulatedKill(BaseException):
    """A kill injected at one of a save's fault points (`Sandbox.cli` reports it as exit -9)."""


@contextlib.contextmanager
def killed_at(point: str, when=lambda: True):
    """Kill the process, once inside, when a save reaches `point` (and `when()` holds then)."""
    from hrmzoo.persistence import generations as gens

    def kill(reached: str) -> None:
        if reached == point and when():
            raise SimulatedKill(reached)

    gens.FAULT_HOOK = kill
    try:
        yield
    finally:
        gens.FAULT_HOOK = None

@dataclass
class Outcome:
    clean: int = 0
    traceback: int = 0
    lost: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def classify(rc: int, err: str) -> bool:
    """True when a command ended cleanly: success, or exit 2 with one designed `error:` line last."""
    if "Traceback" in err:
        return False
    if rc == 0:
        return True
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    return rc == 2 and len(lines) == 1 and err.rstrip("\n").splitlines()[-1] == lines[0] and "--debug" not in lines[0]


class Sandbox:
    """One case's folders, its commands and what they did."""

    def __init__(self, root: Path, dataset: Path):
        self.root = root
        self.work, self.home, self.beside = root / "work", root / "home", root / "beside"
        for d in (self.work, self.home, self.beside):
            d.mkdir(parents=True)
            (d / "precious.txt").write_text("the user's file")
        self.ds = dataset
        self.tag = uuid.uuid4().hex
        self.out = Outcome()
        self.allowed: list[Path] = []
        self.mounts: list[Path] = []
        self.procs: list[subprocess.Popen] = []
        self.before: dict[str, str] = {}

    def baseline(self) -> None:
        """The user's files are in place: from here on a change to them is data lost, a new file outside is a write outside."""
        self.before = snapshot(self.root)

    # ---- running commands
    def cli(self, *args: str, expect: str | None = None) -> tuple[int, str]:
        """`hrmzoo ARGS` in this process, in the working directory; records clean or not."""
        from hrmzoo.cli import main

        err, out = io.StringIO(), io.StringIO()
        old_cwd, old_home = os.getcwd(), os.environ.get("HOME")
        os.chdir(self.work)
        os.environ["HOME"] = str(self.home)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                rc = main(list(args))
        except BaseException as exc:  # noqa: BLE001 - a case's own injected kill ends here
            if not isinstance(exc, SimulatedKill):
                raise
            rc, err = -9, io.StringIO("killed (injected)\n")
        finally:
            os.chdir(old_cwd)
            if old_home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = old_home
        return self._record(rc, err.getvalue(), expect, args)

    def env(self) -> dict[str, str]:
        return {**os.environ, TAG: self.tag, "HOME": str(self.home), "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                "OMP_NUM_THREADS": "1"}

    def spawn(self, *args: str, launcher: list[str] | None = None, fsize: int | None = None) -> subprocess.Popen:
        """`python -m hrmzoo ARGS` (or `launcher ... -m hrmzoo ARGS`) as a process of this case."""
        cmd = [*(launcher or [sys.executable]), "-m", "hrmzoo", *args]
        pre = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))) if fsize else None
        p = subprocess.Popen(cmd, cwd=self.work, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=pre, start_new_session=True)
        self.procs.append(p)
        return p

    def finish(self, p: subprocess.Popen, expect: str | None = None, timeout: float = 300, killed: bool = False) -> tuple[int, str]:
        _, err = p.communicate(timeout=timeout)
        if killed:
            return p.returncode, err
        return self._record(p.returncode, err, expect, p.args)

    def run(self, *args: str, expect: str | None = None, **kw) -> tuple[int, str]:
        return self.finish(self.spawn(*args, **kw), expect)

    def _record(self, rc: int, err: str, expect: str | None, args) -> tuple[int, str]:
        if rc == -9:
            return rc, err
        if os.environ.get("HRMZOO_TABLE_VERBOSE") and rc:
            self.out.notes.append(f"exit {rc}: {err.strip().splitlines()[-1][:400] if err.strip() else ''}")
        if classify(rc, err):
            self.out.clean += 1
        else:
            self.out.traceback += 1
            self.out.notes.append(f"not clean: {' '.join(map(str, args))[:120]} -> exit {rc}: {err.strip()[-300:]}")
        if expect == "ok" and rc != 0:
            self.out.lost.append(f"expected success: {' '.join(map(str, args))[:120]} -> {err.strip()[-200:]}")
        if expect == "refused" and rc == 0:
            self.out.lost.append(f"expected a refusal: {' '.join(map(str, args))[:120]}")
        if expect and expect not in ("ok", "refused") and expect not in err:
            self.out.notes.append(f"message lacks {expect!r}: {err.strip()[-300:]}")
            self.out.traceback += 1
        return rc, err

    def train(self, out: str, steps: int, *extra: str, recipe: str = "tiny_sudoku4") -> list[str]:
        return ["train", recipe, f"data={self.ds}", *TINY, f"train.steps={steps}", f"train.out_dir={out}", *extra]

    # ---- checks
    def lose(self, what: str | None) -> None:
        if what:
            self.out.lost.append(what)

    def allow(self, *paths: Path) -> None:
        self.allowed.extend(Path(p) for p in paths)

    def mount_tmpfs(self, path: Path, size: int) -> bool:
        path.mkdir(parents=True, exist_ok=True)
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0
        if ok:
            self.mounts.append(path)
        return ok

    def remount_ro(self, path: Path) -> bool:
        return subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True).returncode == 0


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
                if os.path.islink(p):
                    out[p] = "link:" + os.readlink(p)
                elif st.st_size < (1 << 20):
                    with open(p, "rb") as f:
                        out[p] = hashlib.sha256(f.read()).hexdigest()
                else:
                    out[p] = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                out[p] = "?"
        for d in dirnames:
            out.setdefault(os.path.join(dirpath, d) + "/", "dir")
    return out


def tagged_processes(tag: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"{TAG}={tag}".encode() in f.read():
                    with open(f"/proc/{pid}/stat") as s:
                        if s.read().split(")")[-1].split()[0] == "Z":
                            continue  # a zombie has ended
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        cmdline = c.read().replace(b"\0", b" ").decode(errors="replace")
                        found.append(f"{pid}: {cmdline[:100]}")
        except OSError:
            continue
    return found


# ---------------------------------------------------------------- the cases

CASES: list[tuple[str, str, Callable[[Sandbox], None]]] = []


def case(category: str, name: str):
    def add(fn):
        CASES.append((category, name, fn))
        return fn
    return add


def losses(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [(r["step"], r["loss"]) for r in rows if r["kind"] == "train"]


def duplicated(run: Path) -> str | None:
    steps = [s for s, _ in losses(run)]
    return f"{run}/metrics.jsonl repeats steps {sorted({s for s in steps if steps.count(s) > 1})[:5]}" if len(steps) != len(set(steps)) else None


def resumable(run: Path) -> str | None:
    from hrmzoo.persistence import generations as gens

    try:
        gens.newest_verified(run, ("model.safetensors",))
    except Exception as exc:  # noqa: BLE001
        return f"{run}: no generation to resume ({exc})"
    return None


def wait_for(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def locked(run: Path) -> bool:
    try:
        return b"pid" in (run / ".hrmzoo.lock").read_bytes()
    except OSError:
        return False


@case("one writer", "two `train resume=R` at once")
def c_two_resumes(s: Sandbox) -> None:
    s.allow(s.work / "r")
    s.cli(*s.train("r", 2, "train.checkpoint_interval=2"), expect="ok")
    a = s.spawn("train", "resume=r", f"data={s.ds}", "train.steps=150", "train.log_interval=1")
    b = s.spawn("train", "resume=r", f"data={s.ds}", "train.steps=150", "train.log_interval=1")
    (ra, ea), (rb, eb) = s.finish(a), s.finish(b)
    if sorted([ra, rb]) != [0, 2] or "is being written by PID" not in ea + eb:
        s.lose(f"expected one run and one refusal naming the holder, got exits {ra}, {rb}")
    s.lose(duplicated(s.work / "r") or resumable(s.work / "r"))


@case("one writer", "two fresh runs, one train.out_dir")
def c_two_fresh(s: Sandbox) -> None:
    s.allow(s.work / "r")
    a, b = s.spawn(*s.train("r", 150, "train.log_interval=1")), s.spawn(*s.train("r", 150, "train.log_interval=1"))
    (ra, ea), (rb, eb) = s.finish(a), s.finish(b)
    if sorted([ra, rb]) != [0, 2]:
        s.lose(f"expected one run and one refusal, got exits {ra}, {rb}: {(ea + eb).strip()[-200:]}")
    s.lose(duplicated(s.work / "r") or resumable(s.work / "r"))
    s.cli("train", "resume=r", f"data={s.ds}", "train.steps=152", expect="ok")


@case("one writer", "resume while the original trains")
def c_resume_while_training(s: Sandbox) -> None:
    s.allow(s.work / "r")
    from hrmzoo.persistence import generations as gens

    a = s.spawn(*s.train("r", 100000, "train.checkpoint_interval=20"))
    if not wait_for(lambda: gens.pointer_step(s.work / "r") is not None, 120):
        s.lose("the original never saved")
    s.cli("train", "resume=r", f"data={s.ds}", expect="is being written by PID")
    a.send_signal(signal.SIGINT)  # the user stops the original: it ends with its interrupt line
    s.finish(a, killed=True)
    s.lose(resumable(s.work / "r"))
    s.cli("train", "resume=r", f"data={s.ds}", "train.steps=21", expect="ok")


@case("no dead ends", "file-size limit during the first save, then the same command")
def c_fsize_first_save(s: Sandbox) -> None:
    s.allow(s.work / "r")
    cmd = s.train("r", 4, "train.checkpoint_interval=2")
    s.run(*cmd, fsize=20_000, expect="file-size limit")
    s.cli("train", "resume=r", f"data={s.ds}", expect="start it again")
    s.cli(*cmd, expect="ok")
    s.lose(duplicated(s.work / "r") or resumable(s.work / "r"))


@case("no dead ends", "kill while .tmp-step-N exists in the first save, then the same command")
def c_kill_first_save(s: Sandbox) -> None:
    s.allow(s.work / "r")
    cmd = s.train("r", 6, "train.checkpoint_interval=5", "train.log_interval=1")

    with killed_at("after:model.safetensors"):
        s.cli(*cmd)
    if not list((s.work / "r" / "checkpoints").glob(".tmp-step-*")):
        s.lose("the kill did not land inside the first save")
    s.cli(*cmd, expect="ok")
    s.lose(duplicated(s.work / "r") or resumable(s.work / "r"))
    if [st for st, _ in losses(s.work / "r")] != list(range(1, 7)):
        s.lose(f"log steps {[st for st, _ in losses(s.work / 'r')]}")


@case("no dead ends", "kill while .old-step-N exists (a finished run saved again)")
def c_kill_same_step(s: Sandbox) -> None:
    from hrmzoo.persistence import generations as gens

    s.allow(s.work / "r", s.work / "report.json")
    s.cli(*s.train("r", 4, "train.checkpoint_interval=2"), expect="ok")

    with killed_at("after:aside"):
        s.cli("train", "resume=r", f"data={s.ds}")
    run = s.work / "r"
    if gens.pointer_step(run) != 4 or not list((run / "checkpoints").glob(".old-step-00000004-*")):
        s.lose("the kill did not land between the two renames")
    _, err = s.cli("eval", "ckpt=r", "out=report.json", expect="ok")
    if "not the newest" in err or json.loads((s.work / "report.json").read_text())["checkpoint"].endswith("step-00000002"):
        s.lose("eval read an older generation than `latest` names")
    s.cli("train", "resume=r", f"data={s.ds}", "train.steps=6", expect="ok")
    s.lose(resumable(run))


@case("no dead ends", "eval says which generation it read when not the newest")
def c_eval_note(s: Sandbox) -> None:
    s.allow(s.work / "r", s.work / "report.json")
    s.cli(*s.train("r", 4, "train.checkpoint_interval=2"), expect="ok")
    model = s.work / "r" / "checkpoints" / "step-00000004" / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[-1] ^= 1
    model.write_bytes(bytes(data))
    _, err = s.cli("eval", "ckpt=r", "out=report.json", expect="ok")
    if "not the newest step 4" not in err:
        s.lose(f"eval used an older generation without saying so: {err.strip()[-200:]}")


@case("no orphans", "SIGKILL to torchrun (2 Gloo ranks)")
def c_torchrun_kill(s: Sandbox) -> None:
    from hrmzoo.persistence import generations as gens

    s.allow(s.work / "r")
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = s.spawn(*s.train("r", 100000, "train.checkpoint_interval=10"),
                launcher=[torchrun, "--nproc_per_node=2", f"--master_port={port}", "--no-python", sys.executable])
    run = s.work / "r"
    if not wait_for(lambda: gens.pointer_step(run) is not None, 180):
        s.lose("the job never saved")
    os.kill(p.pid, signal.SIGKILL)
    s.finish(p, killed=True)
    time.sleep(3)
    before = gens.pointer_step(run)
    time.sleep(2)
    if gens.pointer_step(run) != before:
        s.lose(f"`latest` moved after torchrun died ({before} -> {gens.pointer_step(run)})")
    s.lose(resumable(run))


@case("user files", "train.out_dir=u holding the user's recipe.yaml, eval.json, metrics.jsonl")
def c_foreign_run_dir(s: Sandbox) -> None:
    u = s.work / "u"
    u.mkdir()
    for name in ("recipe.yaml", "eval.json", "metrics.jsonl"):
        (u / name).write_text(f"the user's {name}\n")
    s.baseline()
    s.cli(*s.train("u", 2), expect="did not write")


@case("user files", "build out=afile over an existing file")
def c_build_out_exists(s: Sandbox) -> None:
    (s.work / "afile").write_text("the user's file")
    s.baseline()
    s.cli("build", "tiny_sudoku4", "out=afile", expect="already exists")
    s.allow(s.work / "new.safetensors")
    s.cli("build", "tiny_sudoku4", "out=new.safetensors", expect="ok")


@case("user files", "build --schedule afile over an existing file")
def c_build_schedule_exists(s: Sandbox) -> None:
    (s.work / "afile.svg").write_text("the user's file")
    s.baseline()
    s.cli("build", "tiny_sudoku4", "--schedule", "afile.svg", expect="already exists")


@case("user files", "build out=../w.safetensors (above the working directory)")
def c_build_above(s: Sandbox) -> None:
    s.cli("build", "tiny_sudoku4", "out=../w.safetensors", expect="climbs out")


@case("user files", "recipes copy tiny_sudoku4 ../x.yaml (above the working directory)")
def c_copy_above(s: Sandbox) -> None:
    s.cli("recipes", "copy", "tiny_sudoku4", "../x.yaml", expect="climbs out")


@case("user files", "train.data_cache=/")
def c_cache_root(s: Sandbox) -> None:
    s.cli("train", "tiny_sudoku4", *TINY, "train.steps=1", "train.out_dir=r", "train.data_cache=/", expect="filesystem root")


@case("user files", "train.data_cache= (empty)")
def c_cache_empty(s: Sandbox) -> None:
    s.cli("train", "tiny_sudoku4", *TINY, "train.steps=1", "train.out_dir=r", "train.data_cache=", expect="train.data_cache")


@case("user files", "build out=/ and out=a directory")
def c_build_dir(s: Sandbox) -> None:
    (s.work / "adir").mkdir()
    s.baseline()
    s.cli("build", "tiny_sudoku4", "out=/", expect="is a directory")
    s.cli("build", "tiny_sudoku4", "out=adir", expect="is a directory")


@case("logs", "kill in the save at step 6, resume from step 3 (checkpoint 3, log 2): losses equal an uninterrupted run's")
def c_log_windows(s: Sandbox) -> None:
    from hrmzoo.persistence import generations as gens

    s.allow(s.work / "a", s.work / "b")
    extra = ["train.checkpoint_interval=3", "train.log_interval=2", "model.halting.exploration_prob=0.5"]
    s.cli(*s.train("a", 8, *extra), expect="ok")

    with killed_at("after:model.safetensors", when=lambda: (s.work / "b" / "checkpoints" / "step-00000003").is_dir()):
        s.cli(*s.train("b", 8, *extra))
    if gens.pointer_step(s.work / "b") != 3:
        s.lose("the kill did not land in the save at step 6")
    s.cli("train", "resume=b", f"data={s.ds}", expect="ok")
    if losses(s.work / "a") != losses(s.work / "b"):
        s.lose(f"losses differ: {losses(s.work / 'a')} vs {losses(s.work / 'b')}")


@case("logs", "kill before the first save, then the same command: no duplicated rows")
def c_kill_before_save(s: Sandbox) -> None:
    s.allow(s.work / "r")
    cmd = s.train("r", 100000, "train.checkpoint_interval=100000", "train.log_interval=1")
    p = s.spawn(*cmd)
    wait_for(lambda: (s.work / "r" / "metrics.jsonl").is_file() and len((s.work / "r" / "metrics.jsonl").read_text().splitlines()) >= 5, 120)
    os.kill(p.pid, signal.SIGKILL)
    s.finish(p, killed=True)
    s.cli(*s.train("r", 6, "train.log_interval=1"), expect="ok")
    s.lose(duplicated(s.work / "r"))


def _full_disk(s: Sandbox, run: Path) -> str:
    """Make the next save of `run` fail with ENOSPC: a real full tmpfs where one can be mounted."""
    if s.mounts:
        gen = sum(p.stat().st_size for p in (run / "checkpoints" / "step-00000002").iterdir())
        filler = run.parent / "filler"
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        # leave room for the run's small files but not for a generation
        os.truncate(filler, max(0, filler.stat().st_size - (gen // 2 + 32768)))
        return "real"
    return "injected"


@case("failures", "disk full (ENOSPC) during a save")
def c_enospc(s: Sandbox) -> None:
    from hrmzoo.persistence import generations as gens

    mnt = s.work / "mnt"
    real = s.mount_tmpfs(mnt, 8 << 20)
    mnt.mkdir(exist_ok=True)
    s.allow(mnt)
    run = mnt / "r"
    s.cli(*s.train(str(run), 2, "train.checkpoint_interval=2"), expect="ok")
    how = _full_disk(s, run) if real else "injected"

    def fault(point):
        if point == "after:model.safetensors" and how == "injected":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run / "checkpoints"))
    gens.FAULT_HOOK = fault
    try:
        s.cli("train", f"resume={run}", f"data={s.ds}", "train.steps=4", expect="the disk is full (ENOSPC)")
    finally:
        gens.FAULT_HOOK = None
    s.out.notes.append(f"ENOSPC: {how}")
    (run.parent / "filler").unlink(missing_ok=True)
    s.lose(resumable(run))
    s.cli("train", f"resume={run}", f"data={s.ds}", "train.steps=4", expect="ok")


@case("failures", "read-only run directory (EROFS): resume, eval, eval out= elsewhere")
def c_erofs(s: Sandbox) -> None:
    from hrmzoo.persistence import generations as gens

    mnt = s.work / "mnt"
    real = s.mount_tmpfs(mnt, 8 << 20)
    mnt.mkdir(exist_ok=True)
    s.allow(mnt, s.work / "report.json")
    run = mnt / "r"
    s.cli(*s.train(str(run), 2, "train.checkpoint_interval=2"), expect="ok")
    if real and s.remount_ro(mnt):
        s.out.notes.append("EROFS: real")
        s.cli("train", f"resume={run}", f"data={s.ds}", "train.steps=4", expect="read-only")
        s.cli("eval", f"ckpt={run}", expect="out=PATH")
    else:
        s.out.notes.append("EROFS: injected")

        def fault(point):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(run / "checkpoints"))
        gens.FAULT_HOOK = fault
        try:
            s.cli("train", f"resume={run}", f"data={s.ds}", "train.steps=4", expect="read-only")
        finally:
            gens.FAULT_HOOK = None
    s.cli("eval", f"ckpt={run}", "out=report.json", expect="ok")
    s.lose(resumable(run))


@case("failures", "`latest` turned into a directory")
def c_latest_dir(s: Sandbox) -> None:
    s.allow(s.work / "r")
    s.cli(*s.train("r", 2, "train.checkpoint_interval=2"), expect="ok")
    ptr = s.work / "r" / "checkpoints" / "latest"
    ptr.unlink()
    ptr.mkdir()
    (ptr / "user.txt").write_text("someone's file")
    s.cli("train", "resume=r", f"data={s.ds}", "train.steps=4", expect="is a directory")
    if not (ptr / "user.txt").is_file():
        s.lose("the directory in place of `latest` was removed")


@case("failures", "a 200k-deep dataset.json")
def c_deep_json(s: Sandbox) -> None:
    bad = s.work / "bad"
    shutil.copytree(s.ds, bad)
    (bad / "train" / "dataset.json").write_text("[" * 200_000 + "]" * 200_000)
    s.baseline()
    s.cli("train", "tiny_sudoku4", f"data={bad}", *TINY, "train.steps=1", "train.out_dir=r", expect="nested too deeply")


@case("limits", "model.hidden_size=12000")
def c_hidden(s: Sandbox) -> None:
    s.cli("train", "tiny_sudoku4", f"data={s.ds}", *T, "train.steps=1", "train.out_dir=r", "model.hidden_size=12000", expect="available")


@case("limits", "train.batch_size=1000000")
def c_batch(s: Sandbox) -> None:
    s.cli("train", "tiny_sudoku4", f"data={s.ds}", *T, "train.steps=1", "train.out_dir=r", "train.batch_size=1000000", expect="available")


@case("limits", "l_cycles=300 h_cycles=300")
def c_cycles(s: Sandbox) -> None:
    # The estimate uses a matmul's peak rate, so it errs low: on an idle AVX-512/AMX core it put this
    # step at 62 s, under the default 120 s, while the step takes longer. The case pins the limit so
    # the refusal does not depend on the machine's speed.
    old = os.environ.get("HRMZOO_LIMIT_STEP_SECONDS")
    os.environ["HRMZOO_LIMIT_STEP_SECONDS"] = "20"
    try:
        s.cli("train", "tiny_sudoku4", f"data={s.ds}", *T, "train.steps=1", "train.out_dir=r", "model.coupling.l_cycles=300",
              "model.coupling.h_cycles=300", expect="per step")
    finally:
        if old is None:
            os.environ.pop("HRMZOO_LIMIT_STEP_SECONDS")
        else:
            os.environ["HRMZOO_LIMIT_STEP_SECONDS"] = old


@case("limits", "`latest` symlinked to /dev/zero: eval and resume")
def c_dev_zero(s: Sandbox) -> None:
    s.allow(s.work / "r", s.work / "report.json")
    s.cli(*s.train("r", 2, "train.checkpoint_interval=2"), expect="ok")
    ptr = s.work / "r" / "checkpoints" / "latest"
    ptr.unlink()
    ptr.symlink_to("/dev/zero")
    start = time.time()
    s.cli("eval", "ckpt=r", "out=report.json")
    s.cli("train", "resume=r", f"data={s.ds}", "train.steps=4", expect="symbolic link")
    if time.time() - start > 60:
        s.lose("reading `latest` took over a minute")


# ---------------------------------------------------------------- running them

def execute(fn: Callable[[Sandbox], None], tmp: Path, dataset: Path) -> Outcome:
    """Run one case in its own sandbox under `tmp`; returns what it did."""
    s = Sandbox(tmp / fn.__name__, dataset)
    root_before = set(os.listdir("/"))
    s.baseline()
    t0 = time.time()
    try:
        fn(s)
    except Exception as exc:  # noqa: BLE001 - a case that breaks is a traceback of the table itself
        s.out.traceback += 1
        s.out.notes.append(f"the case failed: {type(exc).__name__}: {exc}")
    finally:
        for p in s.procs:
            if p.poll() is None:
                time.sleep(2)
        orphans = tagged_processes(s.tag)
        s.out.orphans = orphans
        for line in orphans:  # end them, by their own id only
            with contextlib.suppress(OSError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
        for m in reversed(s.mounts):
            subprocess.run(["umount", "-l", str(m)], capture_output=True)
    after, before = snapshot(s.root), s.before
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    allowed = [str(a) for a in s.allowed]
    outside = sorted(p for p in changed if not any(p == a or p.startswith(a + "/") or p == a + "/" for a in allowed))
    s.out.lost += [f"changed or removed: {p}" for p in outside if p in before]
    outside = [p for p in outside if p not in before]
    outside += [f"/{e}" for e in sorted(set(os.listdir("/")) - root_before)]
    s.out.outside = outside
    s.out.notes.append(f"{time.time() - t0:.0f}s")
    return s.out


def describe(out: Outcome) -> str:
    return (f"clean {out.clean}, traceback {out.traceback}, lost {len(out.lost)}, outside {len(out.outside)}, orphans {len(out.orphans)}"
            + "".join(f"\n    {x}" for x in out.lost + out.outside + out.orphans + out.notes))


def run_cases(words: list[str]) -> list[tuple[str, str, Outcome]]:
    import torch

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hrmzoo-reliability-") as tmp:
        tmp = Path(tmp)
        from hrmzoo.data.sudoku import build_sudoku

        dataset = build_sudoku(tmp / "dataset", size=4, num_train=24, num_test=8, seed=3)
        for category, name, fn in CASES:
            if words and not any(w in name or w in category or w in fn.__name__ for w in words):
                continue
            out = execute(fn, tmp, dataset)
            rows.append((category, name, out))
            print(f"[{category}] {name}: {describe(out)}", file=sys.stderr, flush=True)
    return rows


def format_table(rows: list[tuple[str, str, Outcome]]) -> str:
    head = ("category", "case", "clean", "traceback", "data lost", "writes outside", "orphans")
    body = [(c, n, str(o.clean), str(o.traceback), str(len(o.lost)), str(len(o.outside)), str(len(o.orphans))) for c, n, o in rows]
    total = ("total", f"{len(rows)} cases", *(str(sum(int(r[i]) for r in body)) for i in range(2, 7)))
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in [*body, total]]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    rows = run_cases(argv)
    print(format_table(rows))
    bad = sum(o.traceback + len(o.lost) + len(o.outside) + len(o.orphans) for _, _, o in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
