"""The perspective controller: empathy heads that take agent k's view, per position, trained on k's view.

The essay's empathy module is "a small specialized module trained on
perspective/task framing (SE/FE), connected to H as a multi-head controller".
The quaternion controller's empathy heads (issue 27's audit) were conditioned on
the question kind, trained to predict it (a header token: the loss fell to 5e-5
without learning anything), modulated every position of a sample alike, and
sat at their tanh bound. This controller changes each of those, for the
version-2 theory-of-mind benchmark (`hrmzoo.data.tom_story`, `data: {type: tom2}`):

- **conditioned on the perspective, not the question**: the row of agent X
  (the mind asked about; a "world" row for the control questions) plus the
  row of Y for second-order questions, read from the question slot of the
  input; and per position a marker of X's own cell and Y's cell on the map,
  so a head knows *where* the perspective is, not only *whose* it is;
- **per-position modulation**: each head is a two-layer MLP applied at every
  position to that position's value (RMS-normalised) plus the perspective,
  giving its own `gamma, beta` per position and channel (spatial FiLM:
  `value * (1 + gamma) + beta`); zero-initialised last layer, so the model
  is exactly the model without a controller at initialisation;
- **no saturating bound**: the modulation is affine in the last layer (an
  optional `modulation_penalty` keeps it small without flattening gradients);
- **trained on perspective**: auxiliary targets that are not in the input,
  read from the heads' hidden layers: SE (`h_step`) predicts, at every map
  cell, which object X believes is there (`belief_map`); FE (`l_context`)
  predicts, at every event slot, whether X is in the room after the event and
  whether X saw it (`presence`, `witness`). The targets are recomputed from
  each input by the benchmark's own replay (`tom_story.perspective_targets`),
  as labels are, and never enter the model's input.

With `perception_layers` FE gets eyes of its own (`Perception`): a stack of 3x3 convolutions over
the map's tokens and the X / Y cell markers, trained on X's and Y's view alone (`view_map`), whose
features join FE's hidden layer at the map cells. By default the answer's gradient stops at them
(`perception_grad: false`), so the task reads the view without overwriting it (issue 27, session 13:
a view learned in the backbone's state was erased by the answer within 100 steps).

Each call records, in the trace, the head's mean |modulation|
(`"<head>/<point>"`, the project's activity convention) and the fraction of
its hidden units where the SiLU is flat (|SiLU'| < 0.1, the analogue of the
audit's tanh' < 0.1: `"<head>/<point>/flat"`); `head_grad_norms()` gives the
gradient norm of each head's parameters after a backward pass, for
`experiments/tom/heads.py`.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from hrmzoo.controllers.base import ControlContext, Controller, ControllerConfig, ControllerError
from hrmzoo.data import tom_story
from hrmzoo.layers import lecun_init_, trunc_normal_init_
from hrmzoo.registry import register

#: the empathy heads: name -> (hook point, what its hidden layer is trained to read out)
HEADS = {"FE": ("l_context", "events"), "SE": ("h_step", "belief")}
WORLD = tom_story.MAX_AGENTS  # the perspective row of a question with no agent (reality, memory)


class PerspectiveConfig(ControllerConfig):
    """Empathy heads conditioned on the asked agent, per position, with perspective targets.

    Attributes:
        size: the tom2 map side (`data.size`).
        max_events: event slots of the tom2 layout (the larger of `num_events[1]` and `test_num_events[1]`).
        view_radius: the benchmark's `view_radius` (the targets' replay uses it).
        head_width: hidden width of each head (and of a perspective row).
        heads: which heads to build: `FE` (L's context, every L step) and/or `SE` (H's new state).
        target_weight: weight of the perspective-target loss (0: the heads are trained by the task loss only).
        modulation_penalty: 0 (default) or w: adds `w * mean(modulation^2)` to the loss.
        keep_scale: rescale each modulated position to the RMS of the state it modulated (default), so the
            blocks and the output head read a state on the scale they were built for however large the
            modulation grows; False: `value * (1 + gamma) + beta` as it is (found to hold the model at the
            task's prior: issue 27's runs, experiments/tom/README.md).
        lr_scale: the heads and perspective rows learn at `lr * lr_scale` (their own parameter group,
            `hrmzoo.train.optim.build_optimizers`); below 1 the modulation grows more slowly than the
            backbone it modulates.
        modulate: True (default): each head modulates the state at its hook point. False: the heads only
            read X's view out of the state (their perspective targets, trained through the backbone) and
            leave the state as it is, with no modulation layer built: the baseline given the same
            targets through an output head, issue 27's ablation that tells the targets' effect from the
            modulation's.
        view_map: FE also reads out, per map cell, whether X (and Y, on second order) has a line of sight
            to it (`tom_story.view_targets`): the perception every belief rests on, as a dense target
            (a perception stage). Needs the FE head.
        nonlinear_readout: read the targets from SiLU(hidden) instead of the hidden layer itself. The hidden
            layer is the state plus the perspective, so a readout linear in it adds the perspective as a bias
            and cannot pick X's view out of a state that holds every agent's; through the SiLU the head is a
            one-hidden-layer MLP of both, as its modulation already is.
        perception_layers: 0 (default): the view is read out of the backbone's state (FE's hidden layer).
            N > 0: FE has eyes of its own, N 3x3 convolutions over the map tokens and the X / Y cell markers
            (`Perception`), which the view target trains (needs `view_map`); their features join FE's hidden
            layer at each map cell. Sight is then one local computation with its own gradient, as in
            `experiments/tom/view_cnn.py`, not something the recurrence must learn through its updates.
        perception_width: channels of those convolutions.
        perception_grad: False (default): the answer's (and FE's other targets') gradient stops at the eyes'
            features, which the view loss alone trains; True: it flows into them.
        perception_shared: False (default): the eyes look once at a map marking X's and Y's cells and read out
            both views. True: they look twice with the same weights, once from X's cell and once from Y's, each
            reading out the view from the marked cell: Y's view is X's computation run from Y's place, trained
            on every belief question rather than on the second-order ones alone (twice the eyes' compute; FE
            gets both looks' features).
    """

    size: int = Field(8, ge=6, le=tom_story.MAX_SIZE)
    max_events: int = Field(8, ge=1, le=32)
    view_radius: Optional[int] = Field(None, ge=1)
    head_width: int = Field(32, gt=0)
    heads: tuple[str, ...] = ("FE", "SE")
    target_weight: float = Field(0.1, ge=0)
    modulation_penalty: float = Field(0.0, ge=0)
    keep_scale: bool = True
    lr_scale: float = Field(1.0, gt=0)
    modulate: bool = True
    view_map: bool = False
    nonlinear_readout: bool = False
    perception_layers: int = Field(0, ge=0, le=16)
    perception_width: int = Field(32, gt=0)
    perception_grad: bool = False
    perception_shared: bool = False


def _silu_slope(h: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(h)
    return s * (1 + h * (1 - s))


class SpatialHead(nn.Module):
    """value [B, S, D] (+ perspective [B, S, W]) -> per-position gamma, beta, and the hidden layer it read.

    Without `modulate` there is no `out` layer: the head is its hidden layer and the readout, and its
    modulation is None. `map_readout` > 0 adds a second readout of that width (FE's per-cell view).
    """

    def __init__(self, hidden_size: int, width: int, readout: int, modulate: bool = True, map_readout: int = 0, nonlinear_readout: bool = False):
        super().__init__()
        self.inp = lecun_init_(nn.Linear(hidden_size, width))
        self.out = nn.Linear(width, 2 * hidden_size) if modulate else None
        if self.out is not None:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        self.readout = lecun_init_(nn.Linear(width, readout))
        self.map_readout = lecun_init_(nn.Linear(width, map_readout)) if map_readout else None
        self.nonlinear_readout = nonlinear_readout

    def features(self, hidden: torch.Tensor) -> torch.Tensor:
        """What the readouts read: the hidden layer, or its SiLU with `nonlinear_readout`."""
        return F.silu(hidden) if self.nonlinear_readout else hidden

    def hidden(self, value: torch.Tensor, perspective: torch.Tensor) -> torch.Tensor:
        return self.inp(F.rms_norm(value, (value.shape[-1],))) + perspective.to(value.dtype)

    def forward(self, value: torch.Tensor, perspective: torch.Tensor) -> tuple[Optional[torch.Tensor], torch.Tensor]:
        h = self.hidden(value, perspective)
        return (self.out(F.silu(h)) if self.out is not None else None), h


class Perception(nn.Module):
    """FE's eyes: map tokens + X / Y cell markers [B, n*n] -> features [B, n*n, out_width] and view logits [B, 2, n*n].

    Its own token embedding (it reads the input, not the backbone's embedding, so nothing but its targets
    need train it), then `layers` 3x3 convolutions with SiLU over the n x n map, then a 1x1 readout of X's
    and Y's view per cell (`tom_story.view_targets`' two rows). `shared`: one look from X's cell and one
    from Y's through the same weights, each reading out the marked cell's view; features of both looks.
    """

    def __init__(self, size: int, layers: int, width: int, shared: bool = False):
        super().__init__()
        self.size, self.shared = size, shared
        self.out_width = 2 * width if shared else width
        self.token = nn.Embedding(tom_story.VOCAB_SIZE, width)
        self.marker = nn.Embedding(2 if shared else 3, width)  # shared: 1 marks the looker's cell
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(layers))
        self.view = nn.Linear(width, 1 if shared else 2)

    def _look(self, grid: torch.Tensor, marker: torch.Tensor) -> torch.Tensor:
        n = self.size
        h = self.token(grid.clamp(0, tom_story.VOCAB_SIZE - 1)) + self.marker(marker)  # [B, n*n, W]
        h = h.transpose(1, 2).reshape(h.shape[0], -1, n, n)
        for conv in self.convs:
            h = F.silu(conv(h))
        return h.flatten(2).transpose(1, 2)  # [B, n*n, W]

    def forward(self, grid: torch.Tensor, marker: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.shared:
            feats = self._look(grid, marker)
            return feats, self.view(feats).transpose(1, 2)
        lookers = torch.cat([marker == 1, marker == 2]).long()  # X's look, then Y's, as one batch
        fx, fy = self._look(grid.repeat(2, 1), lookers).chunk(2)
        return torch.cat([fx, fy], -1), torch.cat([self.view(fx), self.view(fy)], -1).transpose(1, 2)


@functools.lru_cache(maxsize=1 << 16)  # an epoch revisits the same inputs; the replay is pure in them
def _targets(tokens: bytes, size: int, max_events: int, radius: Optional[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    story, question = tom_story.decode(np.frombuffer(tokens, dtype=np.int64), size, max_events)
    return tom_story.perspective_targets(story, question, max_events, radius)


@functools.lru_cache(maxsize=1 << 16)  # apart from `_targets`: only `view_map` pays for the 2 x n^2 lines of sight
def _views(tokens: bytes, size: int, max_events: int, radius: Optional[int]) -> np.ndarray:
    story, question = tom_story.decode(np.frombuffer(tokens, dtype=np.int64), size, max_events)
    return tom_story.view_targets(story, question, radius)


@register("controller", "perspective", config=PerspectiveConfig, sizes=("hidden_size", "input_len", "num_prefix"))
class PerspectiveController(Controller):
    """FE and SE as per-position FiLM heads, conditioned on agent X (and Y), trained on X's view."""

    #: the inputs it reads: `hrmzoo.data.tom_story`'s layout (question slot, event slots, map)
    input_layout = "tom2"

    def __init__(self, cfg: PerspectiveConfig, *, hidden_size: int, input_len: int, num_prefix: int):
        super().__init__()
        bad = [h for h in cfg.heads if h not in HEADS]
        if bad or not cfg.heads or len(set(cfg.heads)) != len(cfg.heads):
            raise ControllerError(f"controller perspective: heads {list(cfg.heads)} must list FE and/or SE, each once")
        if cfg.modulation_penalty and not cfg.modulate:
            raise ControllerError("controller perspective: modulation_penalty needs modulate: true (without modulation there is nothing to penalise)")
        if cfg.view_map and "FE" not in cfg.heads:
            raise ControllerError("controller perspective: view_map is read out by the FE head; add FE to heads or set view_map: false")
        if cfg.perception_layers and not cfg.view_map:
            raise ControllerError("controller perspective: perception_layers are FE's eyes, trained on the view; set view_map: true "
                                  "(or perception_layers: 0)")
        if cfg.perception_shared and not cfg.perception_layers:
            raise ControllerError("controller perspective: perception_shared shares FE's eyes between X and Y; set perception_layers > 0 "
                                  "(or perception_shared: false)")
        want = tom_story.seq_len(cfg.size, cfg.max_events)
        if input_len != want:
            raise ControllerError(f"controller perspective: a tom2 input of size {cfg.size} with {cfg.max_events} event slots has {want} tokens, "
                                  f"the model's seq_len is {input_len}; set model.controller.size/max_events to the data's")
        self.cfg = cfg
        self.num_prefix = num_prefix
        self.header_len = tom_story.header_rows(cfg.size, cfg.max_events) * cfg.size
        w = cfg.head_width
        self.agent_row = nn.Embedding(tom_story.MAX_AGENTS + 1, w)  # X, or WORLD for the controls
        self.other_row = nn.Embedding(tom_story.MAX_AGENTS + 1, w)  # Y, or WORLD for first order
        self.marker = nn.Embedding(3, w)  # per position: 0 elsewhere, 1 X's cell, 2 Y's cell
        for emb in (self.agent_row, self.other_row, self.marker):
            trunc_normal_init_(emb.weight, std=1.0)
        readout = {"events": 2, "belief": tom_story.MAX_OBJECTS + 1}
        # with eyes (perception_layers) the view is theirs to read out, not FE's hidden layer's
        fe_map = 2 if cfg.view_map and not cfg.perception_layers else 0
        self.heads = nn.ModuleDict({name: SpatialHead(hidden_size, w, readout[HEADS[name][1]], cfg.modulate,
                                                      map_readout=fe_map if name == "FE" else 0,
                                                      nonlinear_readout=cfg.nonlinear_readout) for name in cfg.heads})
        self.eyes = Perception(cfg.size, cfg.perception_layers, cfg.perception_width, cfg.perception_shared) if cfg.perception_layers else None
        self.sight = lecun_init_(nn.Linear(self.eyes.out_width, w)) if self.eyes is not None else None  # eyes -> FE's hidden layer
        self.hook_points = tuple(HEADS[name][0] for name in cfg.heads)
        self._at = {HEADS[name][0]: name for name in cfg.heads}
        self.lr_scale = cfg.lr_scale  # read by build_optimizers

    def heads_at(self) -> dict[str, list[str]]:
        return {point: [name] for point, name in self._at.items()}

    def context(self, batch: dict[str, Any], x: torch.Tensor) -> ControlContext:
        return PerspectiveContext(self, batch, x)

    def markers(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows [B, 2]: X's and Y's perspective row, WORLD where none; marker [B, S]: 1 at X's map cell, 2 at Y's, else 0)."""
        names = inputs[:, 1:3].long() - tom_story.NAME0
        valid = (names >= 0) & (names < tom_story.MAX_AGENTS)
        rows = torch.where(valid, names, torch.full_like(names, WORLD))
        grid = inputs[:, self.header_len:].long()
        marker = torch.zeros_like(inputs, dtype=torch.long)
        for slot, code in ((0, 1), (1, 2)):
            own = valid[:, slot:slot + 1] & (grid == tom_story.AGENT0 + rows[:, slot:slot + 1])
            marker[:, self.header_len:] = torch.where(own, torch.full_like(grid, code), marker[:, self.header_len:])
        return rows, marker

    def look(self, inputs: torch.Tensor, marker: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The eyes on a batch of tom2 inputs: (features [B, n*n, W] (2W when shared), view logits [B, 2, n*n]); needs `perception_layers`."""
        if self.eyes is None:
            raise ControllerError("controller perspective: no eyes to look with; set model.controller.perception_layers > 0")
        if marker is None:
            marker = self.markers(inputs)[1]
        return self.eyes(inputs[:, self.header_len:].long(), marker[:, self.header_len:])

    def head_grad_norms(self) -> dict[str, float]:
        """Gradient norm of each head's parameters (and of the perspective rows) after a backward pass."""
        out = {}
        parts = [*self.heads.items(), ("rows", nn.ModuleList([self.agent_row, self.other_row, self.marker]))]
        if self.eyes is not None:
            parts.append(("eyes", nn.ModuleList([self.eyes, self.sight])))
        for name, mod in parts:
            grads = [p.grad.detach().float().norm() for p in mod.parameters() if p.grad is not None]
            out[name] = float(torch.stack(grads).norm()) if grads else 0.0
        return out

    def describe(self) -> list[str]:
        lines = []
        for name, head in self.heads.items():
            point, reads = HEADS[name]
            n = sum(p.numel() for p in head.parameters())
            target = "X's belief map (object per map cell)" if reads == "belief" else "X's presence and sight per event slot"
            if head.map_readout is not None:
                target += "; X's and Y's view per map cell"
            what = "per-position film on value + perspective" if self.cfg.modulate else "readout of value + perspective, no modulation"
            if self.cfg.nonlinear_readout:
                what += " (readout through SiLU)"
            lines.append(f"{name:<3} @{point:<10} {what}  {n:>8,} params  target: {target}")
        if self.eyes is not None:
            n = sum(p.numel() for m in (self.eyes, self.sight) for p in m.parameters())
            looks = "two looks with shared weights, from X's cell and from Y's" if self.eyes.shared else "over the map and the X/Y markers"
            lines.append(f"eyes: {len(self.eyes.convs)} 3x3 convolutions (width {self.cfg.perception_width}), {looks} "
                         f"({n:,} params), target: X's and Y's view per map cell; into FE's hidden layer at the map cells"
                         + ("" if self.cfg.perception_grad else ", the answer's gradient stopped there"))
        rows = sum(p.numel() for m in (self.agent_row, self.other_row, self.marker) for p in m.parameters())
        lines.append(f"perspective: rows of agent X and Y (+ world) and X/Y cell markers ({rows:,} params), read from the input")
        lines.append(f"target loss weight {self.cfg.target_weight:g}; " + ("unbounded modulation" if self.cfg.modulate else "the state is left unchanged")
                     + (f", penalty {self.cfg.modulation_penalty:g} * mean(modulation^2)" if self.cfg.modulation_penalty else ""))
        return lines


class PerspectiveContext(ControlContext):
    """One segment: the perspective per position, the targets, and the heads at their hook points."""

    def __init__(self, ctl: PerspectiveController, batch: dict[str, Any], x: torch.Tensor):
        super().__init__(batch, x)
        self.ctl = ctl
        inputs = batch["inputs"]
        cfg = ctl.cfg
        if inputs.shape[1] != tom_story.seq_len(cfg.size, cfg.max_events):
            raise ControllerError(f"controller perspective: batch inputs have {inputs.shape[1]} tokens, a tom2 input of size {cfg.size} "
                                  f"with {cfg.max_events} event slots has {tom_story.seq_len(cfg.size, cfg.max_events)}")
        rows, marker = ctl.markers(inputs)
        per_pos = ctl.agent_row(rows[:, 0])[:, None, :] + ctl.other_row(rows[:, 1])[:, None, :] + ctl.marker(marker)
        if ctl.num_prefix:
            per_pos = F.pad(per_pos, (0, 0, ctl.num_prefix, 0))
        self.perspective = per_pos
        self._loss_terms: dict[str, list[torch.Tensor]] = {}
        # the targets only train: without gradient (evaluation) their replay would cost CPU for nothing
        self._targets = self._read_targets(inputs) if cfg.target_weight > 0 and torch.is_grad_enabled() else None
        self._view_loss = None
        self.fe_perspective = per_pos  # FE's: with eyes, plus what they see at each map cell
        if ctl.eyes is not None:
            feats, logits = ctl.look(inputs, marker)
            seen = ctl.sight(feats if cfg.perception_grad else feats.detach())
            self.fe_perspective = per_pos + F.pad(seen, (0, 0, ctl.num_prefix + ctl.header_len, 0))
            if self._targets is not None:
                self._view_loss = self._map_loss(logits.float())

    def _read_targets(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.ctl.cfg
        keys = [np.ascontiguousarray(r, dtype=np.int64).tobytes() for r in inputs.detach().cpu().numpy()]
        rows = [_targets(k, cfg.size, cfg.max_events, cfg.view_radius) for k in keys]
        def batched(arrays) -> torch.Tensor:
            return torch.from_numpy(np.stack(arrays).astype(np.int64)).to(inputs.device)

        out = {key: batched([r[i] for r in rows]) for i, key in enumerate(("presence", "witness", "belief"))}
        if cfg.view_map:
            out["view"] = batched([_views(k, cfg.size, cfg.max_events, cfg.view_radius) for k in keys])
        return out

    def hook(self, point, value, *, old=None, state=None):
        name = self.ctl._at.get(point)
        if name is None:
            return value
        head = self.ctl.heads[name]
        if self._view_loss is not None:  # the eyes look once a segment; their loss is set again after any reset_losses
            self.aux_losses["perception_view"] = self.ctl.cfg.target_weight * self._view_loss
        mod, hidden = head(value, self.fe_perspective if name == "FE" else self.perspective)
        if mod is not None:
            self.record(f"{name}/{point}", mod.abs().mean())
        self.record(f"{name}/{point}/flat", (_silu_slope(hidden.detach()).abs() < 0.1).float().mean())
        if mod is not None and self.ctl.cfg.modulation_penalty > 0:
            self._add("modulation", self.ctl.cfg.modulation_penalty * mod.float().pow(2).mean())
        if self._targets is not None:
            self._add(f"perspective_{name}", self.ctl.cfg.target_weight * self._target_loss(name, head, hidden))
        if mod is None:  # a readout only (`modulate: false`): the targets train the backbone through `value`
            return value
        gamma, beta = mod.to(value.dtype).chunk(2, dim=-1)
        out = value * (1 + gamma) + beta
        if self.ctl.cfg.keep_scale:  # the direction is the head's, the size the backbone's
            rms = lambda t: t.float().pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()  # noqa: E731
            out = out * (rms(value) / rms(out)).to(out.dtype)
        return out

    def _target_loss(self, name: str, head: SpatialHead, hidden: torch.Tensor) -> torch.Tensor:
        ctl, cfg = self.ctl, self.ctl.cfg
        h = head.features(hidden[:, ctl.num_prefix:])  # token positions
        if HEADS[name][1] == "belief":
            logits = head.readout(h[:, ctl.header_len:]).float()
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), self._targets["belief"].reshape(-1))
        starts = tom_story.QUESTION_TOKENS + tom_story.EVENT_TOKENS * torch.arange(cfg.max_events, device=h.device)
        logits = head.readout(h[:, starts]).float()  # [B, E, 2]: present after the event, saw it
        terms = []
        for k, key in enumerate(("presence", "witness")):
            t = self._targets[key]
            mask = t >= 0
            if mask.any():
                terms.append(F.binary_cross_entropy_with_logits(logits[..., k][mask], t[mask].float()))
        if head.map_readout is not None:  # X's and Y's view of each map cell: [B, n*n, 2] against [B, 2, n*n]
            view = self._map_loss(head.map_readout(h[:, ctl.header_len:]).float().transpose(1, 2))
            if view is not None:
                terms.append(view)
        return torch.stack(terms).mean() if terms else logits.sum() * 0

    def _map_loss(self, view: torch.Tensor) -> Optional[torch.Tensor]:
        """BCE of view logits [B, 2, n*n] against X's and Y's view (open cells only), recorded as `FE/view_loss`."""
        t = self._targets["view"]
        mask = t >= 0
        if not mask.any():
            return None
        loss = F.binary_cross_entropy_with_logits(view[mask], t[mask].float())
        self.record("FE/view_loss", loss)  # the view's own share of the loss, for the logs
        return loss

    def _add(self, key: str, term: torch.Tensor) -> None:
        terms = self._loss_terms.setdefault(key, [])
        terms.append(term)
        carried = [t for t in terms if t.requires_grad] or terms
        # a hook can run inside a later no-grad update (H_then_L: L steps follow the last carried H); the mean of
        # the carried terms must keep their graph all the same
        with torch.enable_grad():
            self.aux_losses[key] = torch.stack(carried).mean()

    def reset_losses(self) -> None:
        super().reset_losses()
        self._loss_terms.clear()
