"""Anderson acceleration (type II) for batched fixed-point problems."""

from __future__ import annotations

import torch
from pydantic import Field

from hrmzoo.registry import register
from hrmzoo.solvers.base import Map, Solver, SolverConfig, SolverResult, Tracker


class AndersonConfig(SolverConfig):
    """Anderson mixing over a window of past iterates.

    Attributes:
        memory: how many past iterates the extrapolation mixes (m).
        mixing: beta; the next iterate is beta * sum(a_i f(z_i)) + (1 - beta) * sum(a_i z_i).
        regularization: Tikhonov term added to the normal equations, relative
            to their scale, so a rank-deficient history does not blow up.
    """

    memory: int = Field(5, gt=0)
    mixing: float = Field(1.0, gt=0, le=1)
    regularization: float = Field(1e-6, ge=0)


@register("solver", "anderson", config=AndersonConfig, sizes=())
class AndersonSolver(Solver):
    """Anderson acceleration: extrapolate from the last `memory` iterates by least squares.

    Each step picks weights a (summing to one) that minimise ||sum_i a_i (f(z_i) - z_i)||
    per sample, then moves to the same mix of the f(z_i). On a linear contraction
    this is GMRES-like and needs far fewer evaluations than plain iteration.
    """

    def solve(self, f: Map, z0) -> SolverResult:
        cfg = self.cfg
        track = Tracker(self, z0)
        B = z0.shape[0]
        work = torch.promote_types(z0.dtype, torch.float32)  # least squares in >= fp32
        X: list[torch.Tensor] = []  # past iterates, flattened [B, n]
        Fx: list[torch.Tensor] = []  # their map values
        z = z0
        for _ in range(cfg.max_iter):
            fz = f(z)
            if track.record(z, fz):
                break
            X.append(z.reshape(B, -1))
            Fx.append(fz.reshape(B, -1))
            if len(X) > cfg.memory:
                X.pop(0)
                Fx.pop(0)
            if len(X) == 1:
                z = fz
                continue
            Xs, Fs = torch.stack(X, 1), torch.stack(Fx, 1)  # [B, m, n]
            G = (Fs - Xs).to(work)
            alpha = self._weights(G).to(z0.dtype)  # [B, m]
            mixed_f = torch.einsum("bm,bmn->bn", alpha, Fs)
            mixed_x = torch.einsum("bm,bmn->bn", alpha, Xs)
            nxt = mixed_f if cfg.mixing == 1.0 else cfg.mixing * mixed_f + (1 - cfg.mixing) * mixed_x
            z = nxt.reshape(z0.shape)
        return track.result

    def _weights(self, G: torch.Tensor) -> torch.Tensor:
        """argmin_a ||a^T G|| subject to sum(a) = 1, per sample, via the bordered normal equations."""
        B, m, _ = G.shape
        H = G @ G.transpose(1, 2)  # [B, m, m]
        scale = H.diagonal(dim1=1, dim2=2).mean(1)
        # a sample whose history is all zero (already solved) gets unit damping: any weights do
        damp = torch.where(scale > 0, self.cfg.regularization * scale, torch.ones_like(scale))
        H = H + damp[:, None, None] * torch.eye(m, dtype=G.dtype, device=G.device)
        system = G.new_zeros(B, m + 1, m + 1)
        system[:, 0, 1:] = 1
        system[:, 1:, 0] = 1
        system[:, 1:, 1:] = H
        rhs = G.new_zeros(B, m + 1, 1)
        rhs[:, 0] = 1
        sol, info = torch.linalg.solve_ex(system, rhs)
        alpha = sol[:, 1:, 0]
        # a singular system (regularization 0, repeated iterates) falls back to a plain step
        plain = torch.zeros_like(alpha)
        plain[:, -1] = 1
        bad = (info != 0) | ~torch.isfinite(alpha).all(1)
        return torch.where(bad[:, None], plain, alpha)
