"""Data-parallel helpers over torch.distributed (NCCL on CUDA, Gloo on CPU).

Kept deliberately small: every rank holds the whole model, gradients are
averaged with one all-reduce of a flat buffer after `backward`, and rank 0
writes checkpoints and logs. `torchrun` sets the environment this reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def die_with_launcher() -> bool:
    """Ask Linux to kill this worker when its launcher (`torchrun`) dies, however it dies.

    Without it a SIGKILL to torchrun leaves every rank training (parent PID 1) and writing the
    run directory; a resume started then would be a second writer. `prctl(PR_SET_PDEATHSIG,
    SIGKILL)` fires when the parent exits; a launcher that died just before the call is noticed
    by the parent having changed (to a reaper) across it. Returns whether it is armed
    (False off Linux, where nothing is done).
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the launcher died between the look and the call: the signal will never come
        os._exit(1)
    return True


@dataclass
class DistContext:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0 writes files).
        world: number of processes.
        local_rank: rank on this machine (picks the CUDA device).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> "DistContext":
        """Join the process group `torchrun` describes (a single process when there is none)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        die_with_launcher()
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return cls(rank, world, local_rank)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_reduce_grads(self, params: list[torch.nn.Parameter]) -> None:
        """Average gradients over ranks (a missing gradient counts as zero on that rank)."""
        if not self.enabled:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean over ranks of a tensor (the tensor itself in one process)."""
        if not self.enabled:
            return value
        out = value.detach().clone()
        dist.all_reduce(out)
        return out / self.world

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return value
        out = value.detach().clone()
        dist.all_reduce(out)
        return out

    def gather_cat(self, value: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's tensor along dim 0, in rank order (same shapes on every rank)."""
        if not self.enabled:
            return value
        parts = [torch.empty_like(value) for _ in range(self.world)]
        dist.all_gather(parts, value.contiguous())
        return torch.cat(parts)

    def broadcast_(self, tensor: torch.Tensor) -> None:
        if self.enabled:
            dist.broadcast(tensor, 0)
