"""Data parallel (2 Gloo processes on CPU) gives the same run as one process with the same global batch."""

from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hrmzoo.persistence.checkpoint import read_checkpoint
from hrmzoo.train.dist import DistContext
from hrmzoo.train.trainer import Trainer
from tests.train.conftest import TINY

# no exploration: its random draws are per rank by design
OVERRIDES = [*TINY, "model.puzzle_emb_ndim=32", "model.halting.exploration_prob=0.0", "train.ema_decay=0.9",
             "train.log_interval=1", "train.steps=5", "train.checkpoint_interval=3"]


def _worker(rank: int, world: int, port: int, run_dir: str, data: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        Trainer("tiny_sudoku4", OVERRIDES, run_dir=run_dir, data_root=data, dist=DistContext(rank, world, rank)).run()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["kind"] == "train"]


def test_two_gloo_ranks_match_one_process(tmp_path, sudoku4):
    Trainer("tiny_sudoku4", OVERRIDES, run_dir=tmp_path / "single", data_root=sudoku4).run()
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp"), str(sudoku4)), nprocs=2, join=True)
    assert _losses(tmp_path / "ddp") == pytest.approx(_losses(tmp_path / "single"), rel=1e-5, abs=1e-6)
    single, _ = read_checkpoint(tmp_path / "single")
    ddp, _ = read_checkpoint(tmp_path / "ddp")
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], rtol=1e-4, atol=1e-5)
    state = json.loads((tmp_path / "ddp" / "checkpoints" / "step-00000005" / "trainer_state.json").read_text())
    assert state["world"] == 2 and state["step"] == 5


# exploration on: each rank draws its own exploration noise, so resume must restore every rank's generator
RESUME = [*TINY, "model.halting.exploration_prob=0.5", "train.log_interval=1", "train.checkpoint_interval=2"]


def _resume_worker(rank: int, world: int, port: int, run_dir: str, data: str, steps: int, resume: bool) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        Trainer("tiny_sudoku4", [*RESUME, f"train.steps={steps}"], run_dir=run_dir, data_root=data,
                resume=resume, dist=DistContext(rank, world, rank)).run()
    finally:
        dist.destroy_process_group()


def _spawn_run(run_dir, data, steps, resume=False):
    mp.spawn(_resume_worker, args=(2, _free_port(), str(run_dir), str(data), steps, resume), nprocs=2, join=True)


def test_two_rank_resume_matches_uninterrupted_run(tmp_path, sudoku4):
    _spawn_run(tmp_path / "full", sudoku4, 6)
    _spawn_run(tmp_path / "cut", sudoku4, 3)  # stops after step 3 (a save at 2 and at 3)
    _spawn_run(tmp_path / "cut", sudoku4, 6, resume=True)
    assert _losses(tmp_path / "cut") == _losses(tmp_path / "full")  # bitwise: same world, same RNG per rank
    full, _ = read_checkpoint(tmp_path / "full")
    cut, _ = read_checkpoint(tmp_path / "cut")
    for key in full:
        assert torch.equal(full[key], cut[key]), key
    # another world size is refused in one line that says what to do
    from hrmzoo.errors import CheckpointError

    with pytest.raises(CheckpointError, match="nproc_per_node=2"):
        Trainer("tiny_sudoku4", [*RESUME, "train.steps=8"], run_dir=tmp_path / "cut", data_root=sudoku4, resume=True)


def _dying_worker(rank: int, world: int, port: int, run_dir: str, data: str, result: str) -> None:
    import os

    import hrmzoo.train.trainer as mod
    from hrmzoo.errors import HrmzooError

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    real = mod.segment_step
    calls = {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if rank == 1 and calls["n"] == 3:
            os._exit(9)  # the kill: no exception, no cleanup, the socket just closes
        return real(*args, **kwargs)

    mod.segment_step = step
    try:
        Trainer("tiny_sudoku4", [*RESUME, "train.steps=6"], run_dir=run_dir, data_root=data, dist=DistContext(rank, world, rank)).run()
    except HrmzooError as exc:
        with open(result, "w") as f:
            f.write(str(exc))
    # no destroy_process_group: the peer is gone


def test_killed_rank_leaves_the_other_with_one_line(tmp_path, sudoku4):
    result = tmp_path / "rank0.txt"
    ctx = mp.start_processes(_dying_worker, args=(2, _free_port(), str(tmp_path / "run"), str(sudoku4), str(result)),
                             nprocs=2, join=False, start_method="spawn")
    for p in ctx.processes:
        p.join(120)
    assert all(not p.is_alive() for p in ctx.processes)
    msg = result.read_text()
    assert msg.startswith("rank 0: lost the other processes") and "\n" not in msg
    assert "step-00000002" in msg  # names the newest checkpoint to resume from
