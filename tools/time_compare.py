"""`hrmzoo compare` with the CPU time of every training loop recorded beside its wall time.

On a shared machine wall clock is inflated by the other processes; the process
CPU time of a one-thread run is not (much), and one-thread CPU-minutes
approximate one-thread wall-minutes on an idle machine. This wrapper runs
`hrmzoo compare` in-process with the same arguments and adds, per run: steps,
training wall and CPU seconds, `/proc/loadavg` at start and end, and the CPU's
AVX2 / AVX-512 BF16 / AMX flags. It writes `measure.json` next to `compare.json`.

Examples:
    python tools/time_compare.py cpu_sudoku6 "seeds=[0]" threads=1 out=runs/cpu_sudoku6
    python tools/time_compare.py cpu_maze15 "seeds=[0]" threads=1 out=runs/cpu_maze15
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from hrmzoo.analysis import compare
from hrmzoo.train.trainer import Trainer

CPU_FLAGS = ("avx2", "avx512_bf16", "amx_bf16", "amx_tile")


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:  # not Linux
        return "n/a"


def cpu_flags() -> list[str]:
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [f for f in CPU_FLAGS if f in words]


def main(argv: list[str]) -> dict:
    timings: list[dict] = []
    run = Trainer.run

    def timed_run(self, *args, **kwargs):
        la0, c0, w0 = loadavg(), time.process_time(), time.perf_counter()
        summary = run(self, *args, **kwargs)
        timings.append({"run_dir": str(self.run_dir), "steps": summary.steps, "train_wall_s": round(time.perf_counter() - w0, 3),
                        "train_cpu_s": round(time.process_time() - c0, 3), "loadavg_start": la0, "loadavg_end": loadavg()})
        print("timing:", json.dumps(timings[-1]), flush=True)
        return summary

    Trainer.run = timed_run  # only this process, only for its duration
    try:
        spec = compare.spec_from_args(argv)
        la0, c0, w0 = loadavg(), time.process_time(), time.perf_counter()
        report = compare.run_compare(spec)
    finally:
        Trainer.run = run
    out = {"args": argv, "cpu_flags": cpu_flags(), "torch": torch.__version__, "loadavg_start": la0, "loadavg_end": loadavg(),
           "total_wall_s": round(time.perf_counter() - w0, 1), "total_cpu_s": round(time.process_time() - c0, 1),
           "timings": timings, "table": report["table"], "runs": report["runs"]}
    Path(spec.out, "measure.json").write_text(json.dumps(out, indent=1))
    print(compare.format_table(report))
    print(json.dumps({k: out[k] for k in ("cpu_flags", "loadavg_start", "loadavg_end", "total_wall_s", "total_cpu_s", "timings")}, indent=1))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
