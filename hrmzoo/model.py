"""ReasoningModel: one segment of a recurrent reasoner, assembled from registered parts.

Read top to bottom: embed the batch, let the controller open a context, ask the
coupling for the segment's schedule, let the gradient estimator run it, read
the output state with the heads. The state carried to the next segment is
detached (HRM's deep supervision: no gradient between segments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from timm.layers import trunc_normal_tf_
from torch import nn

from hrmzoo import registry
from hrmzoo.couplings.base import Parts, State


@dataclass
class SegmentOutput:
    """What one segment returns.

    Attributes:
        state: the new state, detached (carry it into the next segment).
        logits: [B, seq_len, vocab] token logits.
        halt_logits: the halting head's output, or None.
        diagnostics: ``residual`` [B] of the last cycle, controller ``trace``.
        aux_losses: extra loss terms (controller), scalars.
    """

    state: State
    logits: torch.Tensor
    halt_logits: torch.Tensor | None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)


class ReasoningModel(nn.Module):
    """A recurrent reasoner built from a recipe's ``model`` section."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.recipe = None  # set by build_model; carried into checkpoints
        self.embedding = registry.create("embedding", cfg.embedding, model_cfg=cfg)
        self.coupling = registry.create("coupling", cfg.coupling, model_cfg=cfg)
        self.l_block = registry.create("block", cfg.l_block, model_cfg=cfg)
        self.l_injection = registry.create("injection", cfg.injection, model_cfg=cfg)
        h_cfg = cfg.h_block
        if h_cfg is None and self.coupling.uses_h_block:
            h_cfg = cfg.l_block  # H mirrors L's configuration, with its own weights
        self.h_block = registry.create("block", h_cfg, model_cfg=cfg) if h_cfg is not None else None
        self.h_injection = registry.create("injection", cfg.injection, model_cfg=cfg) if self.h_block is not None else None
        self.gradient = registry.create("gradient", cfg.gradient, model_cfg=cfg)
        self.halting = registry.create("halting", cfg.halting, model_cfg=cfg)
        self.controller = registry.create("controller", cfg.controller, model_cfg=cfg)
        self.head = registry.create("head", cfg.head, model_cfg=cfg)
        # HRM's initial states: fixed random vectors (not trained), saved with the weights
        for key in self.coupling.state_keys:
            init = torch.empty(cfg.hidden_size)
            trunc_normal_tf_(init, std=cfg.state_init_std)
            self.register_buffer(f"init_{key}", init)

    # -------------------------------------------------------------- state
    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        """The fixed initial state, broadcast to [B, S, D] per state tensor."""
        S, D = self.cfg.total_seq_len, self.cfg.hidden_size
        out = {}
        for key in self.coupling.state_keys:
            init = getattr(self, f"init_{key}")
            out[key] = init.to(device=device or init.device, dtype=dtype or init.dtype).expand(batch_size, S, D).clone()
        return out

    def reset_state(self, state: State, reset: torch.Tensor) -> State:
        """Put the initial state back in the slots where ``reset`` [B] is True."""
        out = {}
        for key, value in state.items():
            init = getattr(self, f"init_{key}").to(value.dtype)
            out[key] = torch.where(reset.view(-1, 1, 1), init, value)
        return out

    def parts(self) -> Parts:
        return Parts(self.l_block, self.h_block, self.l_injection, self.h_injection)

    # -------------------------------------------------------------- forward
    def forward(self, batch: dict[str, torch.Tensor], state: State | None = None) -> SegmentOutput:
        """Run one segment.

        Args:
            batch: ``inputs`` [B, seq_len] token ids, optional
                ``puzzle_identifiers`` [B] and ``task_id`` [B].
            state: the carried state (None: the initial state).
        """
        inputs = batch["inputs"]
        x = self.embedding(inputs, batch.get("puzzle_identifiers"))
        if state is None:
            state = self.initial_state(inputs.shape[0], x.device, x.dtype)
        state = {k: v.to(x.dtype) for k, v in state.items()}
        ctl = self.controller.context(batch, x)
        cycles = self.coupling.cycles(self.parts(), x, ctl)
        state, diagnostics = self.gradient(cycles, state)
        z = state[self.coupling.output_key]
        diagnostics["trace"] = ctl.trace
        return SegmentOutput(
            state={k: v.detach() for k, v in state.items()},
            logits=self.head(z),
            halt_logits=self.halting.halt_logits(z),
            diagnostics=diagnostics,
            aux_losses=ctl.aux_losses,
        )

    # -------------------------------------------------------------- reports
    def component_parameters(self) -> dict[str, int]:
        """Trainable parameters per component; the puzzle-embedding table is listed apart."""
        counts: dict[str, int] = {}
        for name, module in self.named_children():
            n = sum(p.numel() for pn, p in module.named_parameters() if pn != "puzzle_emb")
            counts[name] = n
        counts["puzzle_emb (table)"] = self.puzzle_table_size()
        return counts

    def num_parameters(self) -> int:
        """Trainable parameters excluding the per-puzzle embedding table (HRM's published count)."""
        return sum(p.numel() for p in self.parameters()) - self.puzzle_table_size()

    def puzzle_table_size(self) -> int:
        table = getattr(self.embedding, "puzzle_emb", None)
        return table.numel() if table is not None else 0

    def updates_per_segment(self) -> tuple[int, int]:
        """(updates per segment, updates that carry gradient)."""
        schedule = self.coupling.schedule()
        tags = [t for cyc in schedule for t in cyc]
        mask = self.gradient.grad_mask(tags, [len(c) for c in schedule])
        return len(tags), sum(mask)
