"""PREDICTED GPU time per training step of a recipe, from its model FLOPs (no GPU needed or used).

Counts the block applications of one real training step (`segment_step` + backward: the
no-grad cycles, the ones carrying gradient and the halting policy's extra forward) on a
small CPU batch, scales the model FLOPs (`hrmzoo.analysis.flops.step_flops`) to the recipe's
batch, and divides by an assumed fraction (MFU) of a GPU's dense bf16 peak. The MFU is an
assumption, not a measurement: small-hidden models, attention at long sequences and the
per-segment Python loop keep real runs below the peak. `benchmarks/speed/bench_flops.py --device
cuda --dtype bfloat16` measures the real figure on a GPU.

Examples:
    python benchmarks/gpu/predict_gpu_step.py hrm_sudoku_hard
    python benchmarks/gpu/predict_gpu_step.py hrm_maze30 --gpu A100 --mfu 0.3,0.5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "speed"))  # bench_flops.py

import torch  # noqa: E402

from bench_flops import DEVICE_BF16_PEAK  # noqa: E402
from common import random_batch  # noqa: E402

from hrmzoo import build_model, load_recipe  # noqa: E402
from hrmzoo.analysis.flops import BlockCallCounter, step_flops  # noqa: E402
from hrmzoo.model.segment_loop import new_carry, segment_step  # noqa: E402


def predict(recipe_name: str, overrides: list[str], *, gpu: str = "H100 SXM", mfus: tuple[float, ...] = (0.3, 0.5),
            count_batch: int = 2) -> dict:
    recipe = load_recipe(recipe_name, overrides)
    model = build_model(recipe, seed=0).train()
    batch = random_batch(model, count_batch, torch.device("cpu"))
    with BlockCallCounter(model, count_batch) as counter:
        _, result = segment_step(model, new_carry(model, batch), batch, training=True, generator=torch.Generator().manual_seed(0))
        result.loss.backward()
    B, steps = recipe.train.batch_size, recipe.train.steps
    flops = step_flops(model, counter.calls, B)["total"]
    peak = DEVICE_BF16_PEAK[gpu]
    rows = [{"mfu": m, "step_s": flops / (m * peak), "total_h": steps * flops / (m * peak) / 3600} for m in mfus]
    return {"recipe": recipe.name, "batch_size": B, "steps": steps, "params": model.num_parameters(), "flops_per_step": flops,
            "block_calls": counter.calls.calls, "gpu": gpu, "gpu_bf16_peak": peak, "predicted": rows}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--gpu", default="H100 SXM", choices=sorted(DEVICE_BF16_PEAK))
    p.add_argument("--mfu", default="0.3,0.5", help="assumed fractions of the bf16 peak")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    out = predict(a.recipe, a.overrides, gpu=a.gpu, mfus=tuple(float(x) for x in a.mfu.split(",")))
    print(f"{out['recipe']}: {out['params']:,} parameters, batch {out['batch_size']}, {out['steps']:,} steps")
    print(f"model FLOPs per training step: {out['flops_per_step']:.3g} (block applications fwd/grad: {out['block_calls']})")
    for r in out["predicted"]:
        print(f"PREDICTED on one {out['gpu']} at {100 * r['mfu']:.0f}% of {out['gpu_bf16_peak'] / 1e12:.0f} TFLOP/s bf16: "
              f"{r['step_s']:.3g} s/step, {r['total_h']:.3g} h for {out['steps']:,} steps")
    print("JSON: " + json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
