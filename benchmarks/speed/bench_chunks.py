"""A no-grad segment run whole or in row chunks: the measurement behind `hrmzoo.model.segment_loop.CPU_CHUNK_TOKENS`.

Times one no-grad segment over `--batch-size` puzzles, whole and in chunks of
each `--rows` value (interleaved rounds, median), and checks that the chunked
states equal the whole-batch ones.

Example:
    python benchmarks/speed/bench_chunks.py --preset tiny --batch-size 64 --threads 1 --clock cpu --rows 64 32 16 8
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import torch  # noqa: E402

import common  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[64, 32, 16, 8])
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    model, device = common.setup(args)
    B = args.batch_size
    batch = common.random_batch(model, B, device)

    def run(rows: int) -> torch.Tensor:
        with torch.no_grad(), common.autocast(device, args.dtype):
            outs = [model({k: v[i:i + rows] for k, v in batch.items()}) for i in range(0, B, rows)]
        return torch.cat([torch.cat(list(o.state.values()), dim=-1) for o in outs])

    whole = run(B)
    times: dict[int, list[float]] = {r: [] for r in args.rows}
    identical = {}
    for _ in range(args.rounds):
        for rows in args.rows:
            common.sync(device)
            t0 = common.clock()
            out = run(rows)
            common.sync(device)
            times[rows].append(common.clock() - t0)
            identical[rows] = bool(torch.equal(out, whole))
    med = {r: statistics.median(t) for r, t in times.items()}
    base = med.get(B)
    rows_out = [[str(r), str(r * model.cfg.total_seq_len), f"{1e3 * med[r]:.1f}",
                 f"{100 * (base / med[r] - 1):+.1f}%" if base else "-", "yes" if identical[r] else "no"] for r in args.rows]
    common.print_table(f"no-grad segment in row chunks: {model.recipe.name}{' (' + args.preset + ')' if args.preset else ''}, batch {B}, "
                       f"{args.dtype}, threads {torch.get_num_threads()}, clock {args.clock}",
                       ["rows", "tokens", "ms per segment", "faster than whole", "states identical"], rows_out)
    record = {"bench": "chunks", "batch_size": B, "ms": {r: 1e3 * t for r, t in med.items()}, "identical": identical,
              "env": common.environment(device)}
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
