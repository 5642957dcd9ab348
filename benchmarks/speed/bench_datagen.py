"""Time dataset generation on one core: 9x9 Sudoku and 30x30 mazes.

Usage::

    python benchmarks/speed/bench_datagen.py                 # 10,000 Sudoku, 1,000 mazes
    python benchmarks/speed/bench_datagen.py --sudoku 2000 --mazes 200

Prints a table and, last, one JSON line with the figures. Pins BLAS/OpenMP
to one thread (set before numpy loads) so the figure is a one-core figure.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from hrmzoo.data.maze import generate_mazes  # noqa: E402
from hrmzoo.data.sudoku import generate_puzzles  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sudoku", type=int, default=10_000, help="number of 9x9 puzzles")
    p.add_argument("--mazes", type=int, default=1_000, help="number of 30x30 mazes")
    p.add_argument("--min-path-len", type=int, default=110)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass
    rows = []
    t0, c0 = time.perf_counter(), time.process_time()
    s = generate_puzzles(args.sudoku, 9, seed=args.seed, progress=True)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows.append({"task": "sudoku 9x9 (unique, verified)", "count": args.sudoku, "seconds": round(dt, 2), "cpu_seconds": round(cpu, 2),
                 "per_second": round(args.sudoku / dt, 1), "mean_givens": round(float(s.givens.mean()), 2),
                 "mean_backtracks": round(float(s.backtracks.mean()), 2)})
    t0, c0 = time.perf_counter(), time.process_time()
    _, _, lens = generate_mazes(args.mazes, 30, args.min_path_len, seed=args.seed, progress=True)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows.append({"task": f"maze 30x30 (path >= {args.min_path_len})", "count": args.mazes, "seconds": round(dt, 2), "cpu_seconds": round(cpu, 2),
                 "per_second": round(args.mazes / dt, 1), "mean_path_len": round(float(np.mean(lens)), 1)})
    # Wall time suffers on a shared machine; CPU time is the one-core cost.
    print(f"{'task':34s} {'count':>8s} {'wall s':>9s} {'cpu s':>9s} {'per wall s':>11s}")
    for r in rows:
        print(f"{r['task']:34s} {r['count']:>8d} {r['seconds']:>9.2f} {r['cpu_seconds']:>9.2f} {r['per_second']:>11.1f}")
    print(json.dumps({"bench": "datagen", "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None, "results": rows}))


if __name__ == "__main__":
    main()
