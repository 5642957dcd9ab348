"""Fidelity cases: the logits, gradients and weights of shipped configurations,
pinned before the N-level rewrite of the model (issue 13) and asserted after it.

`tests/fixtures/fidelity.safetensors` (the folder .gitignore lets binary fixtures into) was written once, on the pre-rewrite code
(commit eeabc1b), by

    PYTHONPATH=$PWD python -m tests.fidelity

and must not be regenerated to make a failing test pass: it is the reference.
Each case builds a recipe with a fixed seed, runs one segment on a fixed batch
in float32 with one thread, and backpropagates a fixed random projection of the
logits and halting logits. Stored per case: the logits and halting logits
(bit-exact on the machine that wrote them; gradients to float32 rounding since the fused RoPE backward of issue 15), the parameter count, and a sha256
digest of every state_dict entry and of every parameter's gradient. Weights are
set by seeded generators, so their digests are exact on every machine; logits
and gradients go through BLAS kernels, so on a different CPU or torch version
the test compares them with a tolerance instead (see test_fidelity.py).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import torch

FIXTURE = Path(__file__).parent / "fixtures" / "fidelity.safetensors"

TINY_TRANSFORMER = ["model.hidden_size=32", "model.l_block.num_layers=1", "model.l_block.num_heads=2", "model.l_block.expansion=2.0"]

# name -> (recipe, overrides, batch size)
CASES: dict[str, tuple[str, list[str], int]] = {
    "hrm_sudoku": ("hrm_sudoku", [], 1),
    "tiny_sudoku4": ("tiny_sudoku4", [], 2),
    "tiny_sudoku6": ("tiny_sudoku6", [], 2),
    "tiny_sudoku6_H_then_L": ("tiny_sudoku6", ["model.coupling.order=H_then_L"], 2),
    "tiny_sudoku6_bptt": ("tiny_sudoku6", ["model.gradient.type=bptt"], 2),
    "tiny_sudoku6_implicit": ("tiny_sudoku6", ["model.gradient={type: implicit, solver: {type: anderson, tol: 1.0e-3, max_iter: 20}, backward_solver: {type: anderson, tol: 1.0e-4, max_iter: 30}}"], 2),
    "tiny_sudoku4_flat": ("tiny_sudoku4_flat", [], 2),
    "trm_small": ("trm_sudoku", ["model.hidden_size=32", "model.puzzle_emb_ndim=32", "model.prefix_len=2",
                                 "model.l_block.num_layers=1", "model.coupling.t_cycles=2", "model.coupling.n_cycles=2"], 2),
    "trm_small_separate": ("trm_sudoku", ["model.hidden_size=32", "model.puzzle_emb_ndim=32", "model.prefix_len=2",
                                          "model.l_block.num_layers=1", "model.coupling.t_cycles=2", "model.coupling.n_cycles=2",
                                          "model.h_block={type: mlp_mixer, num_layers: 1, expansion: 2.0}"], 2),
    "tiny_quaternion_mix": ("tiny_quaternion_mix", [], 2),
    "hrm_small_film_gated": ("hrm_sudoku", TINY_TRANSFORMER + ["model.h_block.num_layers=1", "model.h_block.num_heads=2",
                                                               "model.h_block.expansion=2.0", "model.injection.type=gated",
                                                               "model.controller={type: film, point: l_context, num_task_families: 2}"], 1),
}
SEED = 0


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()[:16] if t.numel() else "empty"


def run_case(name: str) -> dict:
    """Build, run one segment and backpropagate; return what the fixture pins."""
    from hrmzoo import build_model

    recipe, overrides, batch_size = CASES[name]
    model = build_model(recipe, overrides, seed=SEED)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # zero-initialised layers (controller heads, Q head, gates) would hide their
        # part in the computation: give them seeded values, identically each run
        for p in model.parameters():
            if not p.any():
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    cfg = model.cfg
    batch = {
        "inputs": torch.randint(0, cfg.vocab_size, (batch_size, cfg.seq_len), generator=gen),
        "puzzle_identifiers": torch.zeros(batch_size, dtype=torch.long),
        "task_id": torch.arange(batch_size) % 2,
    }
    out = model(batch)
    proj = torch.randn(out.logits.shape, generator=gen)
    loss = (out.logits * proj).sum()
    if out.halt_logits is not None:
        loss = loss + out.halt_logits.float().sum()
    for value in out.aux_losses.values():
        loss = loss + value
    loss.backward()
    return {
        "logits": out.logits.detach(),
        "halt_logits": out.halt_logits.detach() if out.halt_logits is not None else torch.zeros(0),
        "num_parameters": model.num_parameters(),
        "state_dict": {k: digest(v) for k, v in model.state_dict().items()},
        "grads": {k: digest(p.grad) for k, p in model.named_parameters() if p.grad is not None},
        "grad_norms": {k: float(p.grad.double().norm()) for k, p in model.named_parameters() if p.grad is not None},
    }


def machine() -> str:
    return f"torch {torch.__version__}, cpu {torch.backends.cpu.get_cpu_capability()}, {platform.machine()}"


def write_fixture() -> None:
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    tensors, meta = {}, {"machine": machine()}
    for name in CASES:
        got = run_case(name)
        tensors[f"{name}/logits"] = got["logits"].contiguous()
        tensors[f"{name}/halt_logits"] = got["halt_logits"].contiguous()
        meta[name] = json.dumps({k: got[k] for k in ("num_parameters", "state_dict", "grads", "grad_norms")})
        print(f"{name}: {got['num_parameters']:,} params, {len(got['state_dict'])} state_dict entries")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(FIXTURE), metadata=meta)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size:,} bytes) on {machine()}")


if __name__ == "__main__":
    write_fixture()
