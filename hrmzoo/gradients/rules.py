"""Which updates carry gradient, decided by data dependence.

Each rule maps a segment's flattened updates (each with the state key it
`writes` and the keys it `reads`) and the key the heads read (the
*output*) to a boolean mask. Rules look at what feeds the output, never at
positions or tags, so they are right for every coupling and update order
(with `H_then_L` the L updates after the last H update feed only the next
segment's carry, never this segment's output).

`dependence` is the set every rule chooses from: the last update of the
output state and, followed through what each reads, the updates whose results
reach it. `reach` says which of a mask's updates the output's gradient
actually arrives at (a chosen update whose result only feeds updates run
without gradient gets none); `hrmzoo.gradients.coverage` compares the two
at build time.
"""

from __future__ import annotations

from typing import Sequence

from hrmzoo.couplings.base import Update


def last_write(updates: Sequence[Update], key: str, before: int) -> int | None:
    """Index of the last update that writes `key` strictly before `before`."""
    for i in range(before - 1, -1, -1):
        if updates[i].writes == key:
            return i
    return None


def output_update(updates: Sequence[Update], output_key: str) -> int | None:
    """Index of the last update writing the output state (None: the segment never writes it)."""
    return last_write(updates, output_key, len(updates))


def _follow(updates: Sequence[Update], output_key: str, allowed: Sequence[bool] | None) -> list[bool]:
    """The updates reached from the output's last update by following, for each key a reached
    update reads, the last update writing it before the reader; only through `allowed` ones."""
    reached = [False] * len(updates)
    out = output_update(updates, output_key)
    if out is None or (allowed is not None and not allowed[out]):
        return reached
    # each update's view of the last writer of every key, in one forward pass: linear in the
    # segment's length (a backward search per read would be quadratic on long schedules)
    writers: dict[str, int] = {}
    before: list[dict[str, int]] = []
    for i, update in enumerate(updates):
        before.append(dict(writers))
        writers[update.writes] = i
    reached[out] = True
    frontier = [out]
    while frontier:
        reader = frontier.pop()
        for key in updates[reader].reads:
            j = before[reader].get(key)
            if j is not None and not reached[j] and (allowed is None or allowed[j]):
                reached[j] = True
                frontier.append(j)
    return reached


def dependence(updates: Sequence[Update], output_key: str) -> list[bool]:
    """The updates the output's value depends on within the segment (what bptt trains through
    the output): the last update of the output state and every update whose result reaches it."""
    return _follow(updates, output_key, None)


def reach(updates: Sequence[Update], mask: Sequence[bool], output_key: str) -> list[bool]:
    """The updates of `mask` that the output's gradient reaches: gradient flows back only
    through updates run with gradient, so a masked update counts when a chain of masked
    updates leads from it to the output's last update."""
    return _follow(updates, output_key, mask)


def one_step_mask(updates: Sequence[Update], output_key: str) -> list[bool]:
    """HRM's one-step gradient (Wang et al. 2025, sec. 2.3, "approximate gradient").

    The last update of the output state carries gradient; then, for every state
    a chosen update reads that has no chosen update yet, the last update of that
    state before the reader does too. Each state thus gets exactly one
    differentiable update, the one whose result the output actually reads
    (HRM: the last L update before the last H update, and that H update), for
    any order and any number of levels.
    """
    mask = [False] * len(updates)
    out = output_update(updates, output_key)
    if out is None:
        return mask
    chosen = {output_key: out}
    frontier = [out]
    while frontier:
        reader = frontier.pop()
        for key in updates[reader].reads:
            if key in chosen:
                continue
            j = last_write(updates, key, reader)
            if j is not None:
                chosen[key] = j
                frontier.append(j)
    for i in chosen.values():
        mask[i] = True
    return mask


def window_mask(updates: Sequence[Update], output_key: str, length: int) -> list[bool]:
    """The `length` consecutive updates that end with the last update of the output state."""
    mask = [False] * len(updates)
    out = output_update(updates, output_key)
    if out is None:
        return mask
    for i in range(max(0, out - length + 1), out + 1):
        mask[i] = True
    return mask


def last_cycle_mask(updates: Sequence[Update], cycle_lengths: Sequence[int], output_key: str) -> list[bool]:
    """TRM's rule (Jolicoeur-Martineau 2025, "full recursion process"): backpropagate
    through the whole last cycle that produces the output, i.e. one cycle's worth
    of updates ending with the last update of the output state. With `L_then_H`
    that is the last cycle; with `H_then_L` it is the L updates before the last
    H update and that H update.
    """
    return window_mask(updates, output_key, cycle_lengths[-1])


def k_step_mask(updates: Sequence[Update], output_key: str, k: int) -> list[bool]:
    """Truncated BPTT / k-step phantom gradient (Geng et al. 2021): the last k updates on
    which the output depends.

    Backpropagation through "the last k steps" means the k steps nearest the output
    along its computation. An update the output does not read (with `slow_first`, the
    L updates just before the last H update, which read nothing H reads) is no step
    of that computation, so it is skipped rather than counted: on `H M L L M L L` x 2
    with k = 2 the window is the last H and the M it reads, not the last H and the L
    before it (which would train H alone). Each chosen update feeds the output
    through chosen updates only (everything between it and the output it feeds is
    later, hence chosen too), so all k get gradient. Where the output reads its
    levels in one order (HRM's L L H | L L H), this is the k updates that end with
    the last H update, as before.
    """
    depends = dependence(updates, output_key)
    chosen = [i for i, d in enumerate(depends) if d][-k:]
    mask = [False] * len(updates)
    for i in chosen:
        mask[i] = True
    return mask
