"""Every case of the reliability table (`tests/reliability/table.py`, issue 28) as a test:
each must end clean, with no traceback, no data lost, nothing written outside and no orphan.
The cases that start real processes (two writers, torchrun, a file-size limit) are slow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hrmzoo.cli import main
from hrmzoo.train.lock import LOCK_FILE, RunLock, RunLocked
from tests.reliability.conftest import TINY
from tests.reliability.harness import assert_safe
from tests.reliability.table import CASES, describe, execute

SLOW = {"c_two_resumes", "c_two_fresh", "c_resume_while_training", "c_fsize_first_save", "c_torchrun_kill", "c_kill_before_save"}


def _param(category, name, fn):
    marks = [pytest.mark.slow] if fn.__name__ in SLOW else []
    return pytest.param(fn, id=fn.__name__[2:], marks=marks)


@pytest.mark.parametrize("fn", [_param(*c) for c in CASES])
def test_table_case(tmp_path, sudoku4, fn):
    out = execute(fn, tmp_path, sudoku4)
    assert out.clean > 0 or fn.__name__ == "c_torchrun_kill", describe(out)
    assert (out.traceback, out.lost, out.outside, out.orphans) == (0, [], [], []), describe(out)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, sudoku4):
    run = tmp_path / "run"
    args = ["train", "recipe=tiny_sudoku4", f"data={sudoku4}", *TINY, "train.steps=2", f"train.out_dir={run}"]
    assert_safe("one writer", lambda: main(args), expect="ok")
    with RunLock(run, "hrmzoo train (the test)"):
        detail = assert_safe("one writer", lambda: main(["train", f"resume={run}", f"data={sudoku4}", "train.steps=4"]), expect="one-line")
        assert f"PID {os.getpid()}" in detail and "hrmzoo train (the test)" in detail
        # a fresh run into the same directory is refused by the lock too
        assert_safe("one writer", lambda: main(args), expect="one-line")
    assert_safe("one writer", lambda: main(["train", f"resume={run}", f"data={sudoku4}", "train.steps=4"]), expect="ok")


def test_a_lock_left_by_a_killed_process_is_not_in_the_way(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, json, os, socket, sys, time\n"
        f"fd = os.open({str(tmp_path / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, json.dumps({'pid': os.getpid(), 'host': socket.gethostname(), 'since': time.time()}).encode())\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=f"PID {holder.pid} on"):
            RunLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = RunLock(tmp_path).acquire()  # the kernel released the dead holder's lock
    lock.release()


def test_the_lock_is_released_when_a_run_fails(tmp_path, sudoku4):
    run = tmp_path / "run"
    args = ["train", "recipe=tiny_sudoku4", f"data={sudoku4}", *TINY, "train.steps=2", f"train.out_dir={run}"]
    assert_safe("one writer", lambda: main(args), expect="ok")
    # a refused resume (another batch size) must not leave the directory locked
    assert_safe("one writer", lambda: main(["train", f"resume={run}", f"data={sudoku4}", "train.batch_size=4"]), expect="one-line")
    start = time.perf_counter()
    RunLock(run).acquire().release()
    assert time.perf_counter() - start < 1
