"""One deep-supervision step, shared by the trainer and the evaluator.

HRM's training loop keeps a *carry*: a batch of slots, each holding a puzzle,
its recurrent state and how many segments it has run. Every call runs one
segment for every slot; slots that halted beforehand first take a fresh sample
from the incoming batch and restart from the initial state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hrmzoo.couplings.base import State
from hrmzoo.heads.lm import IGNORE_INDEX
from hrmzoo.model import ReasoningModel, SegmentOutput


@dataclass
class Carry:
    """Per-slot training state carried across optimizer steps."""

    state: State
    batch: dict[str, torch.Tensor]
    steps: torch.Tensor  # [B] segments run on the current puzzle
    halted: torch.Tensor  # [B] the slot takes a new sample on the next call
    min_steps: torch.Tensor  # [B] exploration minimum in force at the last segment: no learned halt before it


@dataclass
class StepResult:
    """What one segment step produced."""

    output: SegmentOutput
    loss: torch.Tensor  # scalar to backpropagate
    terms: dict[str, torch.Tensor]  # per-sample loss terms [B]
    exact: torch.Tensor  # [B] every supervised token right
    token_correct: torch.Tensor  # [B] fraction of supervised tokens right
    halted: torch.Tensor  # [B]
    steps: torch.Tensor  # [B]
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # scalar tensors on the model's device


def new_carry(model: ReasoningModel, batch: dict[str, torch.Tensor]) -> Carry:
    """A carry whose every slot is empty (halted), so the first step loads `batch`."""
    B = batch["inputs"].shape[0]
    device = batch["inputs"].device
    return Carry(
        state=model.initial_state(B, device),
        batch={k: v.clone() for k, v in batch.items()},
        steps=torch.zeros(B, dtype=torch.long, device=device),
        halted=torch.ones(B, dtype=torch.bool, device=device),
        min_steps=torch.zeros(B, dtype=torch.long, device=device),
    )


def _where_rows(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, *([1] * (new.dim() - 1))), new, old)


def score(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(exact [B] bool, token accuracy [B]) over supervised tokens."""
    valid = labels != IGNORE_INDEX
    right = (logits.argmax(-1) == labels) & valid
    exact = (right | ~valid).all(-1)
    token = right.sum(-1).float() / valid.sum(-1).clamp_min(1).float()
    return exact, token


def segment_step(
    model: ReasoningModel,
    carry: Carry,
    batch: dict[str, torch.Tensor],
    *,
    training: bool,
    generator: torch.Generator | None = None,
) -> tuple[Carry, StepResult]:
    """Run one segment on every slot and compute the loss.

    Args:
        model: the reasoner.
        carry: slots from the previous call (`new_carry` at the start).
        batch: fresh samples; a slot that halted takes its row from here.
        training: apply the policy's training rule (exploration) and compute its loss.
        generator: RNG for exploration draws and a policy's sampled halts (PonderNet).
    """
    reset = carry.halted
    B = reset.shape[0]
    current = {k: _where_rows(reset, batch[k], carry.batch[k]) for k in carry.batch}
    state = model.reset_state(carry.state, reset)
    steps = torch.where(reset, torch.zeros_like(carry.steps), carry.steps)
    fresh_min = model.halting.min_segments(B, reset.device, generator) if training else torch.zeros_like(steps)
    # HRM redraws the exploration minimum every segment; per_puzzle keeps a slot's first draw
    min_steps = fresh_min if model.halting.redraws_exploration else torch.where(reset, fresh_min, carry.min_steps)

    out = model(current, state)
    steps = steps + 1
    labels = current["labels"]
    exact, token = score(out.logits.detach(), labels)
    if "solvable" in current:  # an unsolvable input (train.stress) has no right answer
        exact = exact & current["solvable"]
    halted = model.halting.should_halt(out.halt_logits, steps, min_steps, training, generator=generator)

    terms = {"lm": model.head.loss(out.logits, labels)}
    if training:
        terms.update(model.halting.loss(out.halt_logits, exact, steps, lambda: target_halt_logits(model, current, out.state)))
    loss = sum(t.sum() for t in terms.values()) / B
    for value in out.aux_losses.values():
        loss = loss + value

    # scalar tensors, not floats: converting here would wait for the device at every step
    metrics = {f"loss/{k}": v.detach().mean() for k, v in terms.items()}
    metrics.update({f"loss/{k}": v.detach() for k, v in out.aux_losses.items()})
    metrics.update(
        loss=loss.detach(),
        exact=exact.float().mean(),
        token_acc=token.mean(),
        segments=steps.float().mean(),
        halted=halted.float().mean(),
        residual=out.diagnostics["residual"].mean(),
    )
    new = Carry(out.state, current, steps, halted, min_steps)
    return new, StepResult(out, loss, terms, exact, token, halted, steps, metrics)


# A no-grad CPU segment runs its rows in chunks of about this many tokens. Measured with
# `benchmarks/speed/bench_chunks.py` (one core, CPU clock, median of 2, states identical): tiny config
# (hidden 128, 82 tokens) at batch 64, chunks of 32 / 16 / 8 rows 2.4% / 6.1% / 0.9% faster than
# the whole batch; hidden 512 (4+4 layers) at batch 32, chunks of 16 / 8 rows 1.8% / 2.0% faster
# than the whole 32 (an earlier single-shot run had them 7-11% slower). A small, safe gain at 32 rows.
CPU_CHUNK_TOKENS = 32 * 82


def cpu_chunk_rows(model, batch_size: int, seq_len: int, device: torch.device) -> int:
    """Rows per chunk for a no-grad pass over `batch_size` rows (`batch_size` itself: no chunking).

    Only on the CPU and for a model without compiled parts (they would compile again for
    the chunk's shape); chunks are of equal size, about `CPU_CHUNK_TOKENS` tokens each.
    """
    compiled = hasattr(model, "_orig_mod") or any(getattr(m, "_compiled_call_impl", None) is not None for m in model.children())
    if torch.device(device).type != "cpu" or compiled:
        return batch_size
    pieces = -(-batch_size // max(1, CPU_CHUNK_TOKENS // max(1, seq_len)))
    return -(-batch_size // pieces)


def target_halt_logits(model, batch: dict[str, torch.Tensor], state) -> torch.Tensor:
    """Halting logits of one more segment from `state`, without gradient: the Q-learning target.

    Runs without building autograd state. On the CPU the rows run in chunks
    (`CPU_CHUNK_TOKENS`); rows do not interact, so the values are those of one
    whole-batch call up to the matmul kernels' blocking (measured: identical states,
    halt logits within 5e-7).
    """
    B = batch["inputs"].shape[0]
    first = next(iter(state.values())) if isinstance(state, dict) and state else None
    rows = B
    if first is not None and first.dim() == 3:
        rows = cpu_chunk_rows(model, B, first.shape[1], first.device)
    with torch.no_grad():
        if rows >= B:
            return model(batch, state).halt_logits
        parts = []
        for lo in range(0, B, rows):
            part = {k: v[lo:lo + rows] for k, v in batch.items()}
            parts.append(model(part, {k: v[lo:lo + rows] for k, v in state.items()}).halt_logits)
        return torch.cat(parts)
