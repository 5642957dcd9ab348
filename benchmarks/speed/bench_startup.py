"""Start-up time of the command line and of `import hrmzoo`: median wall time of N fresh processes.

Beside hrmzoo's commands it times `python -c pass` (the interpreter alone),
`import torch` and `import timm.layers` (torch + timm, which imports torchvision),
so the figures can be read on a loaded machine. Every command is timed twice:
`hrmzoo COMMAND --help`, and one argument error of it (a missing or misspelt
target, a recipe named twice, a bad puzzle: `ARG_ERRORS`), which must exit 2
with its one-line message before torch is imported. hrmzoo runs as
`python -m hrmzoo` from this checkout (PYTHONPATH = the repository), or as the
`hrmzoo` found on PATH with `--installed` (outside the checkout).

    python benchmarks/speed/bench_startup.py            # 5 runs each
    python benchmarks/speed/bench_startup.py --runs 9 --only "hrmzoo --help"
    python benchmarks/speed/bench_startup.py --group commands   # only the --help and argument-error rows
    python benchmarks/speed/bench_startup.py --group baselines --group solve --installed   # a wheel's `hrmzoo solve`

`--group solve` times `hrmzoo solve sudoku <81 cells>` with the shipped cpu_sudoku9
weights (issue 29's "< 5 s on an idle 2-core machine"). `--installed` runs the
`hrmzoo` beside this interpreter (else on PATH) with PYTHONPATH unset, in an empty temporary directory: run it
with the interpreter of the venv the wheel is installed in, so that the baselines
(`python -c 'import torch'`) time that venv's torch.

Prints a table (wall-time median, min, max, and the median CPU seconds of the
process, which a loaded machine disturbs far less), the 1-minute load average
before and after, then one line `JSON: {...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from hrmzoo.cli import COMMANDS  # noqa: E402  (light: argparse and the command table only)

#: one argument error per command: the mistake a newcomer makes first
ARG_ERRORS: dict[str, list[str]] = {
    "build": ["build"],
    "train": ["train", "tiny_sudoku"],
    "eval": ["eval"],
    "sweep": ["sweep", "runs/no-such-run"],
    "halting": ["halting"],
    "compare": ["compare", "tiny_sudoku4", "tiny_sudoku4"],
    "plot": ["plot"],
    "solve": ["solve", "sudoku", "123"],
    "trace": ["trace", "runs/no-such-run"],
    "import": ["import"],
    "data": ["data", "sudokuu"],
    "recipes": ["recipes", "zz*"],
    "list": ["list", "block", "t*", "extra"],
    "schema": ["schema", "--bogus"],
    "catalog": ["catalog", "--bogus"],
}
# label -> (what runs after the interpreter (or the hrmzoo command), the exit status it must give)
BASELINES: dict[str, tuple[list[str], int]] = {
    "python -c pass": (["-c", "pass"], 0),
    "python -c 'import torch'": (["-c", "import torch"], 0),
    "python -c 'import torch, torchvision'": (["-c", "import torch, torchvision"], 0),
    "python -c 'import timm.layers'": (["-c", "import timm.layers"], 0),
}
COMMAND_CASES: dict[str, tuple[list[str], int]] = {"hrmzoo --help": (["hrmzoo", "--help"], 0)}
for _name in COMMANDS:
    COMMAND_CASES[f"hrmzoo {_name} --help"] = (["hrmzoo", _name, "--help"], 0)
    COMMAND_CASES["hrmzoo " + " ".join(ARG_ERRORS[_name][0:]) + "  (error)"] = (["hrmzoo", *ARG_ERRORS[_name]], 2)
OTHER_CASES: dict[str, tuple[list[str], int]] = {
    "hrmzoo recipes": (["hrmzoo", "recipes"], 0),
    "hrmzoo recipes --no-params": (["hrmzoo", "recipes", "--no-params"], 0),
    "hrmzoo list": (["hrmzoo", "list"], 0),
    "python -c 'import hrmzoo'": (["-c", "import hrmzoo"], 0),
    "python -c 'import hrmzoo.cli'": (["-c", "import hrmzoo.cli"], 0),
    "python -c 'from hrmzoo import build_model'": (["-c", "from hrmzoo import build_model"], 0),
}
#: the 9x9 Sudoku of the README; solved with the shipped cpu_sudoku9 (issue 29: < 5 s on an idle 2-core machine)
SUDOKU9 = "530070000600195000098000060800060003400803001700020006060000280000419005000080079"
SOLVE_CASES: dict[str, tuple[list[str], int]] = {"hrmzoo solve sudoku <81 cells>": (["hrmzoo", "solve", "sudoku", SUDOKU9], 0)}
GROUPS = {"baselines": BASELINES, "commands": COMMAND_CASES, "other": OTHER_CASES, "solve": SOLVE_CASES}
CASES: dict[str, tuple[list[str], int]] = {**BASELINES, **COMMAND_CASES, **OTHER_CASES, **SOLVE_CASES}


def command(args: list[str], installed: bool) -> list[str]:
    if args[0] != "hrmzoo":
        return [sys.executable, *args]
    if installed:
        beside = Path(sys.executable).parent / "hrmzoo"  # the venv's own script, even when the venv is not activated
        exe = str(beside) if beside.is_file() else shutil.which("hrmzoo")
        if exe is None:
            raise SystemExit("--installed: no 'hrmzoo' beside this interpreter or on PATH")
        return [exe, *args[1:]]
    return [sys.executable, "-m", "hrmzoo", *args[1:]]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(cmd: list[str], env: dict[str, str], expect: int = 0, cwd: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh process, which must exit with `expect`.
    CPU time is what the process itself needed: on a loaded machine it moves far less than wall time."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}, expected {expect}: {proc.stderr.strip().splitlines()[-1:]}")
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    if expect and ("Traceback" in proc.stderr or "error:" not in last):  # one line (argparse puts its usage above it)
        raise SystemExit(f"{' '.join(cmd)}: not a one-line error: {proc.stderr[-500:]}")
    return elapsed, _children_cpu() - cpu


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags) or "none of avx2/avx512"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="fresh processes per case (the median is reported)")
    p.add_argument("--only", action="append", choices=sorted(CASES), help="time only these cases (repeatable)")
    p.add_argument("--group", choices=sorted(GROUPS), action="append", help="time only these groups of cases (repeatable)")
    p.add_argument("--installed", action="store_true", help="time the 'hrmzoo' on PATH instead of this checkout")
    args = p.parse_args(argv)
    env = dict(os.environ)
    if args.installed:
        env.pop("PYTHONPATH", None)  # the installed package only, run outside the checkout
        cwd = Path(tempfile.mkdtemp(prefix="bench_startup."))
    else:
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
        cwd = ROOT
    chosen = {k: v for g in (args.group or GROUPS) for k, v in GROUPS[g].items()}
    cases = {k: v for k, v in chosen.items() if not args.only or k in args.only}
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows = {}
    # interleave the cases (run i of every case, then run i+1) so load changes hit all of them alike
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    for _ in range(args.runs):
        for label, (case, expect) in cases.items():
            times[label].append(time_once(command(case, args.installed), env, expect, cwd))
    for label, values in times.items():
        wall = [v[0] for v in values]
        rows[label] = {"median_s": round(statistics.median(wall), 3), "min_s": round(min(wall), 3), "max_s": round(max(wall), 3),
                       "cpu_median_s": round(statistics.median(v[1] for v in values), 3)}
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "cpu_flags": cpu_flags(),
            "load_1min_before": round(load_before[0], 2), "load_1min_after": round(load_after[0], 2),
            "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
            "runs": args.runs, "hrmzoo": "installed" if args.installed else "checkout"}
    loads = " ".join(f"{x:.2f}" for x in load_before), " ".join(f"{x:.2f}" for x in load_after)
    print(f"python {info['python']}, {info['cpus']} CPUs ({info['cpu_flags']}), load average (1, 5, 15 min) {loads[0]} -> "
          f"{loads[1]}, median of {args.runs} fresh processes, hrmzoo from the {info['hrmzoo']}")
    width = max(len(k) for k in rows)
    print(f"{'command':<{width}}  {'median':>8}  {'min':>7}  {'max':>7}  {'CPU median':>10}")
    for label, r in rows.items():
        print(f"{label:<{width}}  {r['median_s']:>7.3f}s  {r['min_s']:>6.3f}s  {r['max_s']:>6.3f}s  {r['cpu_median_s']:>9.3f}s")
    record = {"info": info, "results": rows}
    print("JSON: " + json.dumps(record))
    return record


if __name__ == "__main__":
    main()
