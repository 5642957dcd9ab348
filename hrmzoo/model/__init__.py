"""ReasoningModel: one segment of a recurrent reasoner, assembled from registered parts.

Read top to bottom: embed the batch, let the controller open a context, ask the
coupling for the segment's schedule over the levels (fastest first, each with
its own or a shared block and injection), let the gradient estimator run it,
read the output state (the slowest level's) with the heads. The state carried to the next segment is
detached (HRM's deep supervision: no gradient between segments).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hrmzoo import registry
from hrmzoo.couplings.base import Level, Levels, State
from hrmzoo.gradients.coverage import check_schedule
from hrmzoo.layers.init import trunc_normal_init_
from hrmzoo.common.seeding import seeded
from hrmzoo.model.wiring import ComponentSizes, check_block_shape, construct


@dataclass
class SegmentOutput:
    """What one segment returns.

    Attributes:
        state: the new state, detached (carry it into the next segment).
        logits: [B, seq_len, vocab] token logits.
        halt_logits: the halting head's output, or None.
        diagnostics: `residual` [B] of the last cycle, controller `trace`.
        aux_losses: extra loss terms (controller), scalars.
    """

    state: State
    logits: torch.Tensor
    halt_logits: torch.Tensor | None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)


def level_key(cfg, i: int) -> str:
    """The recipe key prefix of level i's networks: `model.levels[i].`, or the two-level
    sugar keys (`model.l_block`...) read as `model.` + `l_block`."""
    if getattr(cfg, "levels", None):
        return f"model.levels[{i}]."
    return f"model.{'lh'[min(i, 1)]}_"


class ReasoningModel(nn.Module):
    """A recurrent reasoner built from a recipe's `model` section."""

    def __init__(self, cfg, seed: int | None = None):
        """Build every component from `cfg` (the recipe's `model` section).

        Args:
            cfg: the validated model config.
            seed: model seed. Each component is initialised from its own
                generator, seeded from (seed, component name), so adding or
                removing an optional component (controller, halting head, H
                block) leaves every other component's weights unchanged. None
                draws the seed from torch's global generator.
        """
        super().__init__()
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,), device="cpu"))
        self.cfg = cfg
        self.recipe = None  # set by build_model; carried into checkpoints

        coupling_cls = registry.get("coupling", cfg.coupling.type).cls
        specs = coupling_cls.level_specs(cfg.coupling, cfg)
        sizes = ComponentSizes.of(cfg, levels=specs)

        def create(path: str, kind: str, component_cfg, where: str | None = None, **extra):
            with seeded(seed, path):
                return construct(kind, component_cfg, sizes, where=where or f"model.{path}", model_cfg=cfg, **extra)

        self.embedding = create("embedding", "embedding", cfg.embedding)
        self.coupling = create("coupling", "coupling", cfg.coupling, levels=specs)
        sizes = ComponentSizes.of(cfg, levels=specs, state_keys=self.coupling.state_keys,
                                  output_key=self.coupling.output_key, hook_points=self.coupling.hook_points())
        # each level's own networks, fastest first, as attributes `<level>_block` and
        # `<level>_injection` (HRM: l_block, l_injection, h_block, h_injection): the
        # names checkpoints and `hrmzoo import` use, and the seeding paths
        for i, spec in enumerate(specs):
            if spec.shared_with is not None:
                continue
            where = level_key(cfg, i)
            block = create(f"{spec.prefix}_block", "block", spec.block, where=f"{where}block")
            check_block_shape(block, sizes, where=f"{where}block")
            setattr(self, f"{spec.prefix}_block", block)
            setattr(self, f"{spec.prefix}_injection", create(f"{spec.prefix}_injection", "injection", spec.injection, where=f"{where}injection"))
        for name in ("l_block", "h_block", "l_injection", "h_injection"):
            if not hasattr(self, name):
                setattr(self, name, None)  # the two-level names stay readable when a level shares or is absent
        self.level_specs = specs
        self.gradient = create("gradient", "gradient", cfg.gradient)
        self.halting = create("halting", "halting", cfg.halting)
        self.controller = create("controller", "controller", cfg.controller)
        wanted = tuple(getattr(self.controller, "hook_points", ()))
        if wanted and not set(wanted) & set(sizes.hook_points):
            # a warning, not an error: ablations build every controller on every coupling (a flat model has no H)
            warnings.warn(
                f"model.controller: {cfg.controller.type} acts at {', '.join(wanted)}, which no update of this model passes, "
                f"so it changes nothing (hook points here: {', '.join(sizes.hook_points)}; a level's are "
                f"<name>_context, <name>_message, <name>_step)",
                stacklevel=2,
            )
        # from the schedule's data dependence, no forward pass: refuse an output that never reads
        # x, warn when the estimator's window leaves a parameter group untrained that bptt trains
        holding = {name.split(".")[0] for name, _ in self.named_parameters()}
        check_schedule(self.coupling, self.gradient, cfg.coupling, cfg.gradient, wanted, holding)
        self.head = create("head", "head", cfg.head)
        # HRM's initial states: fixed random vectors (not trained), saved with the weights
        for key in self.coupling.state_keys:
            init = torch.empty(cfg.hidden_size)
            with seeded(seed, f"init_{key}"):
                trunc_normal_init_(init, std=cfg.state_init_std)
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
        """Put the initial state back in the slots where `reset` [B] is True."""
        out = {}
        for key, value in state.items():
            init = getattr(self, f"init_{key}").to(value.dtype)
            out[key] = torch.where(reset.view(-1, 1, 1), init, value)
        return out

    def level_networks(self) -> Levels:
        """Level name -> its block and injection, fastest first; a level that shares
        (`shared_with`, TRM's y) maps to the networks of the level it shares."""
        out: dict[str, Level] = {}
        for spec in self.level_specs:
            owner = spec.shared_with or spec.name
            prefix = owner.lower()
            out[spec.name] = Level(getattr(self, f"{prefix}_block"), getattr(self, f"{prefix}_injection"))
        return out

    # -------------------------------------------------------------- forward
    def forward(self, batch: dict[str, torch.Tensor], state: State | None = None) -> SegmentOutput:
        """Run one segment.

        Args:
            batch: `inputs` [B, seq_len] token ids, optional
                `puzzle_identifiers` [B] and `task_id` [B].
            state: the carried state (None: the initial state).
        """
        inputs = batch["inputs"]
        x = self.embedding(inputs, batch.get("puzzle_identifiers"))
        if state is None:
            state = self.initial_state(inputs.shape[0], x.device, x.dtype)
        state = {k: v.to(x.dtype) for k, v in state.items()}
        ctl = self.controller.context(batch, x)
        cycles = self.coupling.cycles(self.level_networks(), x, ctl)
        state, diagnostics = self.gradient(cycles, state, output_key=self.coupling.output_key, ctl=ctl)
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

    def gradient_schedule(self) -> list[list[tuple[str, bool]]]:
        """One segment's updates cycle by cycle as (tag, carries gradient) pairs."""
        plan = self.coupling.plan()
        flat = [u for cyc in plan for u in cyc]
        mask = iter(self.gradient.grad_mask(flat, [len(c) for c in plan], self.coupling.output_key))
        return [[(u.tag, next(mask)) for u in cyc] for cyc in plan]

    def updates_per_segment(self) -> tuple[int, int]:
        """(updates per segment, updates that carry gradient)."""
        flat = [g for cyc in self.gradient_schedule() for _, g in cyc]
        return len(flat), sum(flat)
