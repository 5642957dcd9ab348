"""Modulation heads and the shared machinery of head-based controllers.

A head is a two-layer MLP on the pooled recurrent state (mean over positions
of every state tensor, RMS-normalised) that outputs a per-sample, per-channel
modulation of the value passing one hook point. Its last layer is
zero-initialised, so the modulation is exactly the identity at initialisation:

- `film`: `value * (1 + gamma) + beta` (gamma = beta = 0 at init);
- `gate`: `value + delta * (value - old)`, a learned per-channel step size
  on an update (delta = 0 at init; written so that delta = 0 returns `value`
  bit for bit, which `old + (1 + delta) * (value - old)` would not).

Heads are unbounded affine maps. Bounding them (`b * tanh(raw / b)`), keeping the
modulated value's RMS, a squared-modulation penalty and a slower learning rate for
the heads were tried on the theory-of-mind grids and measured no better than a
controller-free model (`experiments/controllers/README.md`); they live in that
experiment's plugin (`experiments/controllers/tuned_heads.py`), which builds its
heads through `HeadController.build`'s `head_class` and adds its loss through
`HeadContext.on_modulation`.

*Empathy* heads also receive a *perspective*: a row of a learned task-family
table (`batch["task_id"]`), added to the head's hidden layer. With
`perspective="inferred"` the row is replaced by the table mixed with the
softmax of a framing classifier on pooled H, so the model frames the task
itself instead of being told.

Activity = mean |modulation| (the head's distance from identity), recorded per
call in `ctx.trace["<head>/<hook point>"]`.

Gradient at step 1: the zero last layer gives every earlier layer of a head
(and the perspective table) zero gradient; the last layer itself gets a
non-zero gradient, so after one optimizer step the whole head learns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from hrmzoo.controllers.base import ControlContext, Controller, ControllerConfig, ControllerError
from hrmzoo.layers import lecun_init_, trunc_normal_init_


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    # softmax/cross-entropy in float32 under bf16, and exact in a float64 model
    return x.to(torch.promote_types(x.dtype, torch.float32))


class HeadControllerConfig(ControllerConfig):
    """Fields every head-based controller (film, quaternion) shares (none beyond `type` today)."""


@dataclass(frozen=True)
class HeadSpec:
    """What a head is: name, quadrant, hook point, modulation kind, conditioning."""

    name: str
    quadrant: str
    point: str
    kind: str  # "film" or "gate"
    empathy: bool  # conditioned on the perspective
    role: str  # one line for describe()


class ModulationHead(nn.Module):
    """Pooled state (+ perspective) -> per-channel modulation of one hook point's value."""

    def __init__(self, spec: HeadSpec, in_dim: int, hidden_size: int, width: int):
        super().__init__()
        self.spec = spec
        self.inp = lecun_init_(nn.Linear(in_dim, width))
        self.out = nn.Linear(width, hidden_size * (2 if spec.kind == "film" else 1))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def modulation(self, pooled: torch.Tensor, perspective: torch.Tensor | None) -> torch.Tensor:
        """[B, in_dim] (+ [B, width]) -> [B, D] (gate) or [B, 2D] (film: gamma, beta).

        Args:
            pooled: the pooled state from `HeadController.pool`.
            perspective: the task family's row [B, width] for empathy heads, else None.
        """
        h = self.inp(pooled)
        if perspective is not None:
            h = h + perspective.to(h.dtype)
        return self.out(F.silu(h))

    def apply(self, value: torch.Tensor, old: torch.Tensor | None, mod: torch.Tensor) -> torch.Tensor:
        """Modulate `value` [B, S, D] by `mod` (one row per sample, broadcast over positions).

        `film`: `value * (1 + gamma) + beta`; `gate`: `value + delta * (value - old)`,
        which needs the hook's `old` state (a `ControllerError` otherwise).
        """
        m = mod.unsqueeze(1).to(value.dtype)  # one modulation per sample, broadcast over positions
        if self.spec.kind == "film":
            gamma, beta = m.chunk(2, dim=-1)
            return value * (1 + gamma) + beta
        if old is None:
            raise ControllerError(f"controller head {self.spec.name}: hook '{self.spec.point}' gives no 'old' state to gate; use a film head there")
        return value + m * (value - old)


class HeadController(Controller):
    """A controller made of `ModulationHead`s plus a shared perspective module.

    Subclasses call `build` with their head specs from their `__init__`
    (see `QuaternionController` and `FilmController`); the work of a segment is
    done by the `HeadContext` that `context` returns.
    """

    #: what builds each head (`build`'s default for `head_class`); a plugin's controller sets its own
    head_class: Callable[..., ModulationHead] = ModulationHead
    #: the per-segment context `context` returns (a plugin may subclass `HeadContext`); set below
    context_class: type

    def build(self, specs: list[HeadSpec], *, hidden_size: int, state_keys: tuple[str, ...], output_key: str,
              num_task_families: int, width: int, perspective: str | None, framing_weight: float,
              head_class: Callable[..., ModulationHead] = ModulationHead) -> None:
        """Create the heads, the perspective table and the framing classifier (call from `__init__`).

        Args:
            specs: the heads to build, one `HeadSpec` each; heads at the same
                hook point apply in this order.
            hidden_size: the model's width D.
            state_keys: the state tensors (pooled, in this order, as the heads' input).
            output_key: the state the framing classifier reads (the slowest level's).
            num_task_families: rows of the perspective table.
            width: hidden width of every head (and of a perspective row).
            perspective: `"given"` (row `task_id`), `"inferred"` (framing
                softmax over rows) or None (no empathy conditioning at all).
            framing_weight: weight of the framing loss (0: no framing classifier).
            head_class: what builds each head, `head_class(spec, in_dim, hidden_size, width)`
                (a plugin's variant of `ModulationHead`; the default is the plain head).
        """
        self.state_keys: tuple[str, ...] = tuple(state_keys)
        self.h_key: str = output_key
        self.hidden_size = hidden_size
        self.num_task_families = num_task_families
        self.perspective_mode = perspective
        in_dim = self.hidden_size * max(1, len(self.state_keys))
        self.heads = nn.ModuleDict({s.name: head_class(s, in_dim, self.hidden_size, width) for s in specs})
        self.hook_points = tuple(dict.fromkeys(s.point for s in specs))
        self._at: dict[str, list[ModulationHead]] = {}
        for head in self.heads.values():
            self._at.setdefault(head.spec.point, []).append(head)
        needs_table = perspective is not None and any(s.empathy for s in specs)
        self.table = None
        if needs_table:
            self.table = nn.Embedding(num_task_families, width)
            trunc_normal_init_(self.table.weight, std=1.0)
        # a single family makes the framing loss identically zero: skip it
        self.framing_weight = framing_weight if num_task_families > 1 else 0.0
        self.framing = None
        if self.framing_weight > 0 or perspective == "inferred":
            self.framing = lecun_init_(nn.Linear(self.hidden_size, num_task_families))

    def heads_at(self) -> dict[str, list[str]]:
        return {point: [head.spec.name for head in heads] for point, heads in self._at.items()}

    # ------------------------------------------------------------------ pieces

    def pool(self, state: dict | None, value: torch.Tensor) -> torch.Tensor:
        """Mean over positions of every state tensor (coupling order), RMS-normalised: [B, K*D]."""
        if state is None or not all(k in state for k in self.state_keys):
            parts = [value] * max(1, len(self.state_keys))
        else:
            parts = [state[k] for k in self.state_keys]
        pooled = torch.cat([p.mean(dim=1) for p in parts], dim=-1)
        return F.rms_norm(pooled, (pooled.shape[-1],))

    def frame_logits(self, z_h: torch.Tensor) -> torch.Tensor:
        """Task-family logits [B, T] from pooled H state [B, S, D] (the framing classifier)."""
        pooled = z_h.mean(dim=1)
        return self.framing(F.rms_norm(pooled, (pooled.shape[-1],)))

    def context(self, batch: dict[str, Any], x: torch.Tensor) -> ControlContext:
        """A `HeadContext` that runs these heads at their hook points for one segment."""
        return self.context_class(self, batch, x)

    # ------------------------------------------------------------------ report
    def head_parameters(self) -> dict[str, int]:
        """Parameters per head name (the perspective table and framing classifier apart)."""
        return {name: sum(p.numel() for p in head.parameters()) for name, head in self.heads.items()}

    def describe(self) -> list[str]:
        """One line per head (quadrant, hook point, modulation, params), then the perspective module."""
        lines = []
        counts = self.head_parameters()
        for name, head in self.heads.items():
            s = head.spec
            cond = "state + perspective" if (s.empathy and self.table is not None) else "state"
            role = s.role + ("; framing loss on its output" if s.point == "h_step" and self.framing_weight > 0 else "")
            lines.append(f"{name:<4} {s.quadrant:<14} @{s.point:<10} {s.kind:<4} on {cond:<19} {counts[name]:>10,} params  {role}")
        if self.table is not None:
            n = self.table.weight.numel()
            families = f"{self.num_task_families} task famil{'y' if self.num_task_families == 1 else 'ies'}"
            source = "rows from batch['task_id']" if self.perspective_mode == "given" else "rows mixed by the framing classifier"
            lines.append(f"perspective table: {families} x {self.table.embedding_dim} ({n:,} params, {self.perspective_mode}: {source})")
        if self.framing is not None:
            n = sum(p.numel() for p in self.framing.parameters())
            lines.append(f"framing classifier: pooled {self.h_key} -> task family ({n:,} params), loss weight {self.framing_weight} at every h_step")
        return lines


class HeadContext(ControlContext):
    """Runs a `HeadController` 's heads at their hook points for one segment."""

    def __init__(self, ctl: HeadController, batch: dict[str, Any], x: torch.Tensor):
        super().__init__(batch, x)
        self.ctl = ctl
        self.given = None
        if ctl.table is not None or ctl.framing is not None:
            tid = self.task_id
            if tid.numel() and (int(tid.min()) < 0 or int(tid.max()) >= ctl.num_task_families):
                raise ControllerError(
                    f"controller: batch task_id {int(tid.max())} outside 0..{ctl.num_task_families - 1}; "
                    f"set model.controller.num_task_families to the number of task families in the data"
                )
            self.tid = tid
            if ctl.table is not None and ctl.perspective_mode == "given":
                self.given = ctl.table(tid)
        self._framing_terms: list[torch.Tensor] = []

    def perspective(self, state: dict | None, value: torch.Tensor) -> torch.Tensor | None:
        """The perspective row [B, width] for an empathy head: the given task's row, or
        (`inferred`) the table mixed by the framing classifier's softmax; None without a table."""
        ctl = self.ctl
        if ctl.table is None:
            return None
        if ctl.perspective_mode == "given":
            return self.given
        z_h = state[ctl.h_key] if state is not None and ctl.h_key in state else value
        return torch.softmax(_at_least_float32(ctl.frame_logits(z_h)), dim=-1).to(ctl.table.weight.dtype) @ ctl.table.weight

    def hook(self, point, value, *, old=None, state=None):
        """Apply every head at `point` in turn, record its activity, and add the framing
        loss at `h_step` (see `ControlContext.hook` for the arguments)."""
        # the framing loss reads H's state before SE re-frames it: read after, SE could
        # pass the task id it is given straight into the state and fake the framing
        unframed = value
        heads = self.ctl._at.get(point)
        if heads:
            pooled = self.ctl.pool(state, value)
            for head in heads:
                persp = self.perspective(state, value) if head.spec.empathy else None
                mod = head.modulation(pooled, persp)
                self.record(f"{head.spec.name}/{point}", mod.abs().mean())
                self.on_modulation(head, mod)
                value = head.apply(value, old, mod)
        if point == "h_step" and self.ctl.framing_weight > 0:
            self._add_framing(unframed)
        return value

    def on_modulation(self, head: ModulationHead, mod: torch.Tensor) -> None:
        """Called with every head application's modulation; a plugin's context adds a loss on it here."""

    def reset_losses(self) -> None:
        super().reset_losses()
        self._framing_terms.clear()

    def _add_framing(self, z_h: torch.Tensor) -> None:
        ce = F.cross_entropy(_at_least_float32(self.ctl.frame_logits(z_h)), self.tid)
        self._framing_terms.append(ce)
        self.aux_losses["framing"] = self.ctl.framing_weight * _mean_with_grad(self._framing_terms)


def _mean_with_grad(terms: list[torch.Tensor]) -> torch.Tensor:
    """Mean of the loss terms that carry gradient (all of them when none does, e.g. at
    evaluation): a term from a no-grad step would only dilute the gradient."""
    return torch.stack([t for t in terms if t.requires_grad] or terms).mean()


HeadController.context_class = HeadContext
