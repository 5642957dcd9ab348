"""What a segment's schedule can train, read off its data dependence when a model is built.

Two silent failures are caught here, from the coupling's tagged updates alone
(what each writes and reads, and whether it reads the input x), with no
forward pass:

- **The output never depends on x** (`check_schedule` raises): with
  `hierarchical` `H_then_L` and one cycle, or `levels` `slow_first` with one
  cycle, a segment is `H L L`: the heads read H, computed before any update
  that reads x, so even bptt gives the embedding and the fast level no
  gradient. The L updates only feed the next segment's detached carry.
- **An estimator's window misses a parameter group that bptt trains**
  (`UntrainedParametersWarning`): e.g. `k_step` with k below the number of
  updates between the output and the nearest update of some level it reads.

Parameter groups are the networks each update runs (`<level>_block`,
`<level>_injection`; a level that shares runs its owner's), the `embedding`
(read by updates that read x) and a controller's heads at each hook point it
acts on (`controller@l_step`). Gradient from auxiliary losses read inside a
cycle (the quaternion controller's framing loss) is not counted: only what the
output's loss trains.
"""

from __future__ import annotations

import warnings
from typing import Sequence

from hrmzoo.couplings.base import Update, hook_points
from hrmzoo.gradients import rules


class UntrainedParametersWarning(UserWarning):
    """A gradient estimator gives no gradient to parameters that bptt trains through the output."""


def fields(cfg) -> str:
    """A component config as `type=k_step, k=2` (for messages)."""
    dumped = cfg.model_dump(mode="json")
    ordered = {"type": dumped.pop("type", None), **dumped} if "type" in dumped else dumped
    return ", ".join(f"{k}={v}" for k, v in ordered.items())


def update_groups(update: Update, levels, controller_points: Sequence[str]) -> set[str]:
    """The parameter groups an update runs (see the module docstring)."""
    groups = {"embedding"} if update.reads_input else set()
    spec = next((s for s in levels if s.name == update.tag), None)
    if spec is None:  # a coupling's own tags: only the input is known
        return groups
    owner = (spec.shared_with or spec.name).lower()
    groups |= {f"{owner}_block", f"{owner}_injection"}
    passes = [p for p in hook_points(levels) if p.startswith(f"{spec.prefix}_")]
    groups |= {f"controller@{p}" for p in passes if p in controller_points}
    return groups


def trained_groups(updates: Sequence[Update], chosen: Sequence[bool], levels, controller_points) -> set[str]:
    """The parameter groups the `chosen` updates run."""
    out: set[str] = set()
    for update, on in zip(updates, chosen):
        if on:
            out |= update_groups(update, levels, controller_points)
    return out


def schedule_text(plan: list[list[Update]], marked: Sequence[bool], last: int = 2) -> str:
    """`H [M] L L | ...`: the segment's tags, cycle by cycle, `marked` ones in brackets;
    only the `last` cycles (where the output's updates are) when there are more."""
    flags = iter(marked)
    cycles = [_runs([f"[{u.tag}]" if next(flags) else u.tag for u in cyc]) for cyc in plan]
    shown = " | ".join(cycles[-last:])
    return shown if len(cycles) <= last else f"... {len(cycles) - last} cycles | {shown}"


def _runs(tokens: list[str]) -> str:
    """Tokens joined by spaces, a run of more than 3 equal ones written once with its count (`Lx16`)."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and tokens[j] == tokens[i]:
            j += 1
        out += [f"{tokens[i]}x{j - i}"] if j - i > 3 else tokens[i:j]
        i = j
    return " ".join(out)


def check_schedule(coupling, estimator, coupling_cfg, gradient_cfg, controller_points: Sequence[str] = (),
                   holding: set[str] | None = None) -> None:
    """Refuse a schedule whose output does not depend on x; warn about untrained groups.

    Args:
        coupling: the built coupling (its `plan()`, `levels`, `output_key`).
        estimator: the built gradient estimator.
        coupling_cfg, gradient_cfg: their configs (named in the messages).
        controller_points: the hook points the controller acts on.
        holding: the groups that hold parameters (`l_injection` of an `add` injection holds
            none, so it is never named); None: every group.

    Raises:
        ValueError: one line naming `model.coupling`'s fields and the fix.
    """
    plan = coupling.plan()
    updates = [u for cyc in plan for u in cyc]
    lengths = [len(c) for c in plan]
    key = coupling.output_key
    if not updates or rules.output_update(updates, key) is None:
        return  # a coupling that declares no data dependence: nothing to read off
    levels = coupling.levels
    depends = estimator.output_dependence(updates, lengths, key)
    readers = sorted({u.tag for u in updates if u.reads_input})
    if readers and not any(d and u.reads_input for u, d in zip(updates, depends)):
        out = updates[rules.output_update(updates, key)].tag
        raise ValueError(
            f"model.coupling ({fields(coupling_cfg)}): the output {key} never depends on the input within a segment "
            f"(schedule {schedule_text(plan, depends)}, [ ]: what the output reads): no update of {'/'.join(readers)}, "
            f"the level that reads x, feeds the last {out} update, so even bptt never trains the embedding or "
            f"{'/'.join(readers)}; run {'/'.join(readers)} before {out} (order L_then_H or fast_first) or add cycles"
        )
    full = trained_groups(updates, rules.dependence(updates, key), levels, controller_points)
    reach = estimator.gradient_reach(updates, lengths, key)
    missing = full - trained_groups(updates, reach, levels, controller_points)
    if holding is not None:
        missing = {g for g in missing if g.split("@")[0] in holding}
    if not missing:
        return
    widen = estimator.widening(updates, lengths, key, lambda r: missing <= trained_groups(updates, r, levels, controller_points))
    fix = f"{widen}, or use" if widen else "use"
    warnings.warn(
        f"model.gradient ({fields(gradient_cfg)}): {', '.join(sorted(missing))} get no gradient from the output, which "
        f"bptt trains (schedule {schedule_text(plan, reach)}, [ ]: what the gradient reaches); {fix} one_step "
        f"(the last update of every level the output reads) or bptt",
        UntrainedParametersWarning,
        stacklevel=3,
    )
