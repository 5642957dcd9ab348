"""Data parallel (2 Gloo processes on CPU) gives the same run as one process with the same global batch."""

from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hrmzoo.checkpoint import read_checkpoint
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
    state = json.loads((tmp_path / "ddp" / "trainer_state.json").read_text())
    assert state["world"] == 2 and state["step"] == 5
