"""Activation memory per gradient estimator as a function of the number of cycles.

For each registered gradient estimator and each cycle count, one training step
(`segment_step` + backward) is run; the bytes autograd saves for backward are
counted with saved-tensor hooks (parameters apart), and on CUDA the peak memory
above the weights is read too. one_step and implicit should stay flat in the
number of cycles, bptt grow linearly. For `implicit` the cycle count is the
number of forward solver iterations (the tolerance is set unreachable so each
solve runs exactly that many).

Examples:
    python benchmarks/speed/bench_memory.py --preset tiny --batch-size 16 --cycles 1 2 4 8 16
    python benchmarks/speed/bench_memory.py --recipe hrm_sudoku --batch-size 64 --device cuda --dtype bfloat16
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

import torch  # noqa: E402

import common  # noqa: E402

from hrmzoo import build_model, list_components, load_recipe  # noqa: E402
from hrmzoo.analysis.memory import SavedTensorCounter  # noqa: E402
from hrmzoo.model.segment_loop import new_carry, segment_step  # noqa: E402

# the field of each coupling that counts its cycles per segment
CYCLE_FIELD = {"hierarchical": "h_cycles", "recursive": "t_cycles", "flat": "cycles"}


def estimator_overrides(name: str, cycles: int, coupling: str) -> list[str]:
    """Overrides that select estimator `name` and `cycles` cycles per segment."""
    field = CYCLE_FIELD.get(coupling)
    if field is None:
        raise SystemExit(f"bench_memory: coupling '{coupling}' has no known cycle-count field; add it to CYCLE_FIELD")
    out = [f"model.gradient={{type: {name}}}", f"model.coupling.{field}={cycles}"]
    if name == "implicit":
        # forward: exactly `cycles` cycles (an unreachable tolerance); adjoint: the estimator's defaults
        out += [f"model.gradient.solver={{type: anderson, tol: 1.0e-30, max_iter: {cycles}}}",
                "model.gradient.backward_solver={type: anderson, tol: 1.0e-4, max_iter: 30}"]
    return out


def measure(recipe: str, overrides: list[str], batch_size: int, device: torch.device, dtype: str, seed: int = 0) -> dict:
    """Saved-for-backward bytes (and CUDA peak) of one training step."""
    model = build_model(recipe, overrides, device=device, seed=seed)
    batch = common.random_batch(model, batch_size, device, torch.Generator().manual_seed(seed))
    carry = new_carry(model, batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit: the solve is meant to stop at max_iter here
        with SavedTensorCounter(model) as saved, common.autocast(device, dtype):
            _, result = segment_step(model, carry, batch, training=True)
        result.loss.backward()
    out = {"saved_bytes": saved.result.activations, "saved_param_bytes": saved.result.parameters, "saved_tensors": saved.result.tensors}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        out["cuda_peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
    return out


def run(recipe: str, base_overrides: list[str], estimators: list[str], cycles: list[int], batch_size: int, device, dtype: str, seed: int = 0) -> dict:
    """Figures per estimator and cycle count, plus the ratio last/first cycle count."""
    coupling = load_recipe(recipe, base_overrides).model.coupling.type
    results: dict[str, dict] = {}
    for name in estimators:
        rows = {n: measure(recipe, [*base_overrides, *estimator_overrides(name, n, coupling)], batch_size, device, dtype, seed) for n in cycles}
        first, last = rows[cycles[0]]["saved_bytes"], rows[cycles[-1]]["saved_bytes"]
        results[name] = {"by_cycles": rows, "ratio": last / first if first else float("inf")}
    return results


def main(argv: list[str] | None = None) -> dict:
    p = common.base_parser(__doc__.splitlines()[0], batch_size=16)
    p.add_argument("--cycles", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--estimators", nargs="+", default=None, help="default: every registered gradient estimator")
    args = p.parse_args(argv)
    model, device = common.setup(args)  # validates the recipe; also seeds and sets threads
    recipe, overrides = args.recipe, list(args.overrides)
    if args.preset:
        recipe, preset = common.PRESETS[args.preset]
        overrides = [*preset, *overrides]
    estimators = args.estimators or list_components("gradient")["gradient"]
    cycles = sorted(set(args.cycles))
    results = run(recipe, overrides, estimators, cycles, args.batch_size, device, args.dtype, args.seed)

    mib = 1 / 2**20
    rows = [[name, *(f"{r['by_cycles'][n]['saved_bytes'] * mib:.2f}" for n in cycles), f"{r['ratio']:.3f}"] for name, r in results.items()]
    common.print_table(
        f"saved for backward (MiB, parameters excluded): {model.recipe.name}, batch {args.batch_size}, {device}, {args.dtype}",
        ["estimator", *(f"{n} cyc" for n in cycles), f"{cycles[-1]}/{cycles[0]}"],
        rows,
    )
    if device.type == "cuda":
        rows = [[name, *(f"{r['by_cycles'][n]['cuda_peak_bytes'] * mib:.1f}" for n in cycles)] for name, r in results.items()]
        common.print_table("CUDA peak above the weights (MiB)", ["estimator", *(f"{n} cyc" for n in cycles)], rows)
    record = {
        "bench": "memory",
        "recipe": model.recipe.name,
        "preset": args.preset,
        "overrides": args.overrides,
        "batch_size": args.batch_size,
        "device": str(device),
        "dtype": args.dtype,
        "cycles": cycles,
        "results": {k: {"ratio": v["ratio"], "by_cycles": {str(n): f for n, f in v["by_cycles"].items()}} for k, v in results.items()},
        "env": common.environment(device),
    }
    common.emit_json(record)
    return record


if __name__ == "__main__":
    main()
