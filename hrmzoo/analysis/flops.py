"""Model FLOPs of a segment, counted the way benchmarks/METHOD.md defines them.

Per token and per layer application a layer costs `2 x (its parameters)` plus,
for attention, `2 x 2 x S x hidden` for the scores and the weighted sum. A
step's useful work is that cost times the block applications it really runs
forward (every no-grad cycle, any extra forward a halting policy needs) plus
twice the applications that run backward. The LM head is counted the same way.

Block applications are counted by hooks on the model's blocks during a real
step (`BlockCallCounter`), so the count follows whatever the coupling,
the gradient estimator and the halting policy actually do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def block_flops_per_token(block: nn.Module, seq_len: int, hidden: int) -> float:
    """Forward FLOPs per token of one application of `block` over `seq_len` tokens.

    Blocks that know their cost answer through `flops_per_token(seq_len)`;
    for any other block the matmul FLOPs of one forward are counted by torch's
    `FlopCounterMode` on a dummy [1, seq_len, hidden] input.
    """
    own = getattr(block, "flops_per_token", None)
    if callable(own):
        return float(own(seq_len))
    param = next(block.parameters(), None)
    x = torch.zeros(1, seq_len, hidden, device=param.device if param is not None else None,
                    dtype=param.dtype if param is not None else None)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        block(x)
    return counter.get_total_flops() / seq_len


def head_flops_per_token(model) -> float:
    """Forward FLOPs per output token of the LM head (2 x D x V)."""
    return 2.0 * model.cfg.hidden_size * model.cfg.vocab_size


@dataclass
class BlockCalls:
    """Block applications seen during a step: name -> [forward count, count with grad]."""

    calls: dict[str, list[int]] = field(default_factory=dict)

    def add(self, name: str, with_grad: bool) -> None:
        entry = self.calls.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += int(with_grad)

    @property
    def forward(self) -> int:
        return sum(c[0] for c in self.calls.values())

    @property
    def backward(self) -> int:
        return sum(c[1] for c in self.calls.values())


class BlockCallCounter:
    """Context manager counting every forward of the model's blocks and whether grad was on.

    With `batch_size`, a call on fewer rows (a no-grad forward run in chunks of the
    batch, as `hrmzoo.model.segment_loop.target_halt_logits` does on the CPU) counts as that
    fraction of an application, so the count stays "applications over the whole batch".

    Examples:
        >>> with BlockCallCounter(model) as counter:   # doctest: +SKIP
        ...     loss = segment_step(...)
        >>> counter.calls.forward                       # doctest: +SKIP
    """

    def __init__(self, model, batch_size: int | None = None):
        self.model = model
        self.batch_size = batch_size
        self.calls = BlockCalls()
        self._rows: dict[tuple[str, bool], int] = {}
        self._handles: list = []

    def __enter__(self) -> "BlockCallCounter":
        # every level's own block (l_block, m_block, h_block...), by its attribute name
        names = [f"{spec.prefix}_block" for spec in self.model.level_specs if spec.shared_with is None]
        for name in names:
            block = getattr(self.model, name, None)
            if block is None:
                continue
            def hook(module, args, _name=name):
                if self.batch_size is None:
                    self.calls.add(_name, torch.is_grad_enabled())
                    return
                key = (_name, torch.is_grad_enabled())
                self._rows[key] = self._rows.get(key, 0) + int(args[0].shape[0])
                self._update()
            self._handles.append(block.register_forward_pre_hook(hook))
        return self

    def _update(self) -> None:
        B = self.batch_size
        def apps(rows: int):
            return rows // B if rows % B == 0 else rows / B
        counts: dict[str, list] = {}
        for (name, grad), rows in self._rows.items():
            entry = counts.setdefault(name, [0, 0])
            entry[0] += rows
            entry[1] += rows if grad else 0
        self.calls = BlockCalls({name: [apps(f), apps(g)] for name, (f, g) in counts.items()})

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


def step_flops(model, calls: BlockCalls, batch_size: int, *, head_forward: int = 1, head_backward: int = 1) -> dict[str, float]:
    """Model FLOPs of one step from counted block applications.

    Args:
        model: the ReasoningModel (for sizes and blocks).
        calls: block applications of the step (see `BlockCallCounter`).
        batch_size: samples in the step.
        head_forward: LM-head applications run forward.
        head_backward: LM-head applications run backward.

    Returns:
        `forward`, `backward` and `total` FLOPs of the step.
    """
    cfg = model.cfg
    S = cfg.total_seq_len
    fwd = bwd = 0.0
    for name, (n_fwd, n_grad) in calls.calls.items():
        per_app = block_flops_per_token(getattr(model, name), S, cfg.hidden_size) * S * batch_size
        fwd += n_fwd * per_app
        bwd += 2 * n_grad * per_app
    head = head_flops_per_token(model) * cfg.seq_len * batch_size
    fwd += head_forward * head
    bwd += 2 * head_backward * head
    return {"forward": fwd, "backward": bwd, "total": fwd + bwd}


def segment_forward_flops(model, batch_size: int = 1) -> float:
    """Forward FLOPs of one inference segment, from the coupling's schedule (no hooks)."""
    cfg = model.cfg
    S = cfg.total_seq_len
    blocks = {name: level.block for name, level in model.level_networks().items()}
    per_tag = {tag: block_flops_per_token(b, S, cfg.hidden_size) * S for tag, b in blocks.items()}
    total = sum(per_tag[t] for cyc in model.coupling.schedule() for t in cyc)
    return batch_size * (total + head_flops_per_token(model) * cfg.seq_len)
