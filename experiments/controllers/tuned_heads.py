"""The controllers experiment's one-off head options, as a plugin (`imports: [tuned_heads.py]`).

`film_tuned` and `quaternion_tuned` are the zoo's `film` and `quaternion` controllers with four
options that were tried on the theory-of-mind grids and measured no better than a controller-free
model (README.md beside this file), so they are not part of the core schema:

- `modulation_bound` b: every head's gamma, beta (film) and delta (gate) become `b * tanh(raw / b)`,
  so a head rescales a state by at most 1 +- b and shifts it by at most b per channel (slope 1 at 0:
  exactly the identity at initialisation). Unbounded, SE and SF grew H's state to RMS ~37 within 500
  steps at lr 3e-3 and the runs collapsed to answering NO on every cell (experiments/controllers/README.md, lab log).
- `preserve_rms`: film heads rescale their output, per position, to the RMS over channels of the
  value they modulate (exact identity at initialisation: the factor is x / x = 1).
- `modulation_penalty` w: adds `w * mean(modulation^2)` to the training loss (`loss/modulation`),
  averaged over the head applications that carry gradient: a soft alternative to the bound.
- `lr_scale` s: the controller's parameters step at `lr * s` (their own parameter group; the
  optimizer reads a controller's `lr_scale`). Formerly `train.controller_lr_scale`.

The heads are built in the core's order with the core's initialisation (`HeadController.build`'s
`head_class`), so a recipe gets the same initial weights it got when these options were core fields.
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
from pydantic import BaseModel, Field

from hrmzoo.controllers.film import FilmConfig, FilmController
from hrmzoo.controllers.modulation import HeadContext, ModulationHead, _at_least_float32, _mean_with_grad
from hrmzoo.controllers.quaternion import QuaternionConfig, QuaternionController
from hrmzoo.registry import register

CONTROLLER_SIZES = ("hidden_size", "state_keys", "output_key")


_OPTIONS_DOC = """        modulation_bound: None (unbounded) or b: every modulation becomes `b * tanh(raw / b)`.
        preserve_rms: film heads keep the RMS (per position) of the value they modulate.
        modulation_penalty: weight w of `w * mean(modulation^2)` in the training loss (0: none).
        lr_scale: the controller's parameters learn at `lr * lr_scale`.
"""


class _TunedOptions(BaseModel):
    """The four options both tuned controllers add (documented in `_OPTIONS_DOC`)."""

    modulation_bound: Optional[float] = Field(None, gt=0)
    preserve_rms: bool = False
    modulation_penalty: float = Field(0.0, ge=0)
    lr_scale: float = Field(1.0, gt=0)


class TunedFilmConfig(FilmConfig, _TunedOptions):
    __doc__ = FilmConfig.__doc__.rstrip() + "\n" + _OPTIONS_DOC


class TunedQuaternionConfig(QuaternionConfig, _TunedOptions):
    __doc__ = QuaternionConfig.__doc__.rstrip() + "\n" + _OPTIONS_DOC


def _rms(x: torch.Tensor) -> torch.Tensor:
    """Root mean square over the last (channel) axis, kept: [..., 1]."""
    return x.pow(2).mean(dim=-1, keepdim=True).sqrt()


class TunedHead(ModulationHead):
    """A `ModulationHead` with an optional bound on its outputs and RMS-preserving film."""

    def __init__(self, spec, in_dim: int, hidden_size: int, width: int, *, bound: float | None = None, preserve_rms: bool = False):
        super().__init__(spec, in_dim, hidden_size, width)
        self.bound = bound
        self.preserve_rms = preserve_rms

    def modulation(self, pooled, perspective):
        raw = super().modulation(pooled, perspective)
        if self.bound is None:
            return raw
        # a soft clip with slope 1 at 0: small modulations (and init, raw = 0) are unchanged
        return self.bound * torch.tanh(raw / self.bound)

    def apply(self, value, old, mod):
        out = super().apply(value, old, mod)
        if self.spec.kind == "film" and self.preserve_rms:
            # same expression for numerator and denominator: at the identity (out == value)
            # the factor is exactly 1.0 and no bit changes; eps keeps an all-zero row finite
            eps = torch.finfo(value.dtype).eps
            out = out * ((_rms(value) + eps) / (_rms(out) + eps))
        return out


class PenaltyContext(HeadContext):
    """Adds `modulation_penalty * mean(modulation^2)` (`loss/modulation`) when the weight is > 0."""

    def __init__(self, ctl, batch, x):
        self._penalty_terms: list[torch.Tensor] = []
        super().__init__(ctl, batch, x)

    def on_modulation(self, head, mod):
        if self.ctl.modulation_penalty > 0:
            self._penalty_terms.append(_at_least_float32(mod).pow(2).mean())
            self.aux_losses["modulation"] = self.ctl.modulation_penalty * _mean_with_grad(self._penalty_terms)

    def reset_losses(self) -> None:
        super().reset_losses()
        self._penalty_terms.clear()


class _Tuned:
    """What both tuned controllers add: the head class, the penalty context, the lr scale, the report."""

    context_class = PenaltyContext

    def _tune(self, cfg) -> None:
        self.head_class = functools.partial(TunedHead, bound=cfg.modulation_bound, preserve_rms=cfg.preserve_rms)
        self.modulation_bound = cfg.modulation_bound
        self.preserve_rms = cfg.preserve_rms
        self.modulation_penalty = cfg.modulation_penalty
        self.lr_scale = cfg.lr_scale

    def describe(self) -> list[str]:
        lines = super().describe()
        if self.modulation_bound is not None:
            lines.append(f"modulation bound: every gamma, beta, delta = {self.modulation_bound:g} * tanh(raw / {self.modulation_bound:g})")
        if self.preserve_rms:
            lines.append("film heads keep the RMS (per position) of the value they modulate")
        if self.modulation_penalty > 0:
            lines.append(f"modulation penalty: {self.modulation_penalty:g} * mean(modulation^2) over the head applications, added to the loss")
        if self.lr_scale != 1.0:
            lines.append(f"learning rate: lr x {self.lr_scale:g} for the controller's parameters")
        return lines


@register("controller", "film_tuned", config=TunedFilmConfig, sizes=CONTROLLER_SIZES)
class TunedFilmController(_Tuned, FilmController):
    """`film` with the experiment's bound, RMS preservation, penalty and learning-rate scale."""

    def __init__(self, cfg: TunedFilmConfig, *, hidden_size: int, state_keys: tuple[str, ...], output_key: str):
        self._tune(cfg)
        super().__init__(cfg, hidden_size=hidden_size, state_keys=state_keys, output_key=output_key)


@register("controller", "quaternion_tuned", config=TunedQuaternionConfig, sizes=CONTROLLER_SIZES)
class TunedQuaternionController(_Tuned, QuaternionController):
    """`quaternion` with the experiment's bound, RMS preservation, penalty and learning-rate scale."""

    def __init__(self, cfg: TunedQuaternionConfig, *, hidden_size: int, state_keys: tuple[str, ...], output_key: str):
        self._tune(cfg)
        super().__init__(cfg, hidden_size=hidden_size, state_keys=state_keys, output_key=output_key)
