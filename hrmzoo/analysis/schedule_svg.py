"""The segment loop of a model, read from its components and drawn as SVG or text.

Nothing here is hand-kept per coupling: the updates come from
`coupling.schedule()`, the gradient-carrying ones from
the model's `gradient_schedule()` (the estimator's mask over the coupling's
updates, chosen by data dependence), and what each update writes, reads
and which controller hook points it passes are found by *probing* its function
once with stand-in networks (identity blocks, additive injections) on 1-element
tensors: autograd then says which state tensors (and the input `x`) an update
depends on. So a new coupling (e.g. more than two levels) is drawn correctly
without touching this module.

The SVG is written by hand (no plotting dependency) so `hrmzoo build` and the
docs build can always produce it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import torch
from torch import nn

from hrmzoo.controllers.base import ControlContext
from hrmzoo.errors import HrmzooError

INPUT_KEY = "x"


@dataclass(frozen=True)
class UpdateInfo:
    """One update of a segment.

    Attributes:
        index: position in the segment (0-based, over all cycles).
        cycle: which cycle it belongs to (0-based).
        tag: the coupling's tag ("L", "H", ...).
        writes: state tensors it replaces.
        reads: state tensors (and `x`) its new value depends on.
        hooks: controller hook points it passes, in call order.
        grad: whether it runs with gradient under the model's estimator.
    """

    index: int
    cycle: int
    tag: str
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    hooks: tuple[str, ...]
    grad: bool


@dataclass(frozen=True)
class Level:
    """All updates sharing one tag: a row of the diagram.

    Attributes:
        tag: the coupling's tag.
        keys: the state tensors its updates write.
        count: updates per segment.
    """

    tag: str
    keys: tuple[str, ...]
    count: int

    @property
    def label(self) -> str:
        return f"{self.tag}: {', '.join(self.keys)}" if self.keys else self.tag


@dataclass
class SegmentSchedule:
    """What one segment does, and how segments repeat.

    Attributes:
        title: the recipe name (or the coupling's).
        coupling, gradient, halting, controller: registered type names.
        max_segments: the halting policy's budget.
        state_keys: the coupling's state tensors; `output_key` is the one the heads read.
        updates: every update of one segment, in order.
        levels: one per tag, slowest (fewest updates) first.
        heads_at: controller hook point -> labels of what acts there (empty without a controller).
        notes: extra lines from the estimator (e.g. the implicit solve).
    """

    title: str
    coupling: str
    gradient: str
    halting: str
    controller: str
    max_segments: int
    state_keys: tuple[str, ...]
    output_key: str
    updates: list[UpdateInfo]
    levels: list[Level]
    heads_at: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cycle_lengths(self) -> list[int]:
        lengths: dict[int, int] = {}
        for u in self.updates:
            lengths[u.cycle] = lengths.get(u.cycle, 0) + 1
        return [lengths[c] for c in sorted(lengths)]

    @property
    def num_grad(self) -> int:
        return sum(u.grad for u in self.updates)


# ------------------------------------------------------------------ probing

class _SumInjection(nn.Module):
    """Stand-in injection: the new input is simply state + context."""

    def forward(self, state, context):
        return state + context


class _HookRecorder(ControlContext):
    """Stand-in controller context: records the hook points, changes nothing."""

    def __init__(self):
        super().__init__()
        self.points: list[str] = []

    def hook(self, point, value, *, old=None, state=None):
        self.points.append(point)
        return value


def _probe_levels(coupling):
    # one stand-in per level, so any number of levels is probed the same way
    return coupling.stand_in_levels(block=nn.Identity, injection=_SumInjection)


def _probe(coupling, tags: list[list[str]]) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """(writes, reads, hooks) of each flattened update."""
    x = torch.zeros(1, 1, 1, device="cpu", requires_grad=True)
    rec = _HookRecorder()
    cycles = coupling.cycles(_probe_levels(coupling), x, rec)
    if [[u.tag for u in cyc] for cyc in cycles] != tags:
        raise RuntimeError("the coupling's schedule changed between calls")
    out = []
    for update in (u for cyc in cycles for u in cyc):
        state = {k: torch.zeros(1, 1, 1, device="cpu", requires_grad=True) for k in coupling.state_keys}
        rec.points = []
        with torch.enable_grad():
            new = update(state)
            writes = tuple(k for k in new if new[k] is not state.get(k))
            sources = {**state, INPUT_KEY: x}
            reads: set[str] = set()
            for k in writes:
                if not new[k].requires_grad:
                    continue
                grads = torch.autograd.grad(new[k].sum(), list(sources.values()), allow_unused=True)
                reads.update(name for name, g in zip(sources, grads) if g is not None)
        order = list(coupling.state_keys) + [INPUT_KEY]
        out.append((writes, tuple(k for k in order if k in reads), tuple(rec.points)))
    return out


def segment_schedule(model) -> SegmentSchedule:
    """Read a built model's segment loop (works on a meta-device model too)."""
    cfg = model.cfg
    tags = model.coupling.schedule()
    flat = [t for cyc in tags for t in cyc]
    plan = model.coupling.plan()
    mask = model.gradient.grad_mask([u for cyc in plan for u in cyc], [len(c) for c in plan], model.coupling.output_key)
    notes: list[str] = []
    try:
        probed = _probe(model.coupling, tags)
    except Exception as exc:  # a coupling the stand-in networks cannot run: draw tags only
        probed = [((), (), ())] * len(flat)
        notes.append(f"(reads/writes unknown: probing the coupling failed: {exc})")
    updates = []
    i = 0
    for c, cyc in enumerate(tags):
        for tag in cyc:
            writes, reads, hooks = probed[i]
            updates.append(UpdateInfo(i, c, tag, writes, reads, hooks, bool(mask[i])))
            i += 1
    levels = []
    for tag in dict.fromkeys(flat):
        mine = [u for u in updates if u.tag == tag]
        keys = tuple(dict.fromkeys(k for u in mine for k in u.writes))
        levels.append(Level(tag, keys, len(mine)))
    first = {tag: flat.index(tag) for tag in dict.fromkeys(flat)}
    levels.sort(key=lambda lv: (lv.count, -first[lv.tag]))
    describe = getattr(model.gradient, "describe", None)
    if callable(describe):
        notes = list(describe()) + notes
    recipe = getattr(model, "recipe", None)
    return SegmentSchedule(
        title=recipe.name if recipe is not None else cfg.coupling.type,
        coupling=cfg.coupling.type,
        gradient=cfg.gradient.type,
        halting=cfg.halting.type,
        controller=cfg.controller.type if cfg.controller is not None else "none",
        max_segments=model.halting.max_segments,
        state_keys=tuple(model.coupling.state_keys),
        output_key=model.coupling.output_key,
        updates=updates,
        levels=levels,
        heads_at=model.controller.heads_at(),
        notes=notes,
    )


# ------------------------------------------------------------------ text

def text_timeline(s: SegmentSchedule) -> str:
    """`L L H | L [L] [H]`: one segment, cycles split by `|`, gradient-carrying updates in brackets."""
    cycles: list[list[str]] = []
    for u in s.updates:
        if u.cycle == len(cycles):
            cycles.append([])
        cycles[-1].append(f"[{u.tag}]" if u.grad else u.tag)
    return " | ".join(" ".join(c) for c in cycles)


def text_report(s: SegmentSchedule) -> list[str]:
    """The lines `hrmzoo build` prints under the component tree."""
    lines = [f"segment: {text_timeline(s)}   ([ ] carries gradient under {s.gradient}: {s.num_grad} of {len(s.updates)})"]
    for lv in s.levels:
        sample = next(u for u in s.updates if u.tag == lv.tag)
        reads = ", ".join(sample.reads) or "?"
        lines.append(f"  {lv.tag} updates {', '.join(lv.keys) or '?'} from {reads}, {lv.count}x per segment")
    if s.heads_at:
        by_tag = []
        for lv in s.levels:
            sample = next(u for u in s.updates if u.tag == lv.tag)
            acts = [f"{'+'.join(s.heads_at[p])}@{p}" for p in dict.fromkeys(sample.hooks) if p in s.heads_at]
            if acts:
                by_tag.append(f"every {lv.tag}: {', '.join(acts)}")
        lines.append(f"  controller {s.controller}: {'; '.join(by_tag) or 'no hook point reached'}")
    lines.append(f"  then heads read {s.output_key}; halting {s.halting} decides after each segment "
                 f"(at most {s.max_segments}); the state goes on to the next segment detached")
    return lines


# ------------------------------------------------------------------ SVG

GRAD_FILL = "#e8590c"
NOGRAD_FILL = "#e9ecef"
INK = "#212529"
MUTED = "#868e96"
BOX_W, BOX_H, STEP, CYCLE_GAP, ROW_H = 34, 26, 44, 18, 58
LEFT, TOP = 200, 70


def _text(x, y, s, size=12, anchor="start", fill=INK, weight="normal", cls=None, halo=False) -> str:
    c = f' class="{cls}"' if cls else ""
    # a white halo keeps a label readable where it crosses a line
    h = ' stroke="white" stroke-width="3" paint-order="stroke"' if halo else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}"{h}{c}>{escape(str(s))}</text>')


def schedule_svg(s: SegmentSchedule) -> str:
    """The segment as an SVG document: one row per level (slowest on top) plus the input `x`.

    Each update is a box in its level's row, filled orange when it carries
    gradient (class `update grad`) and grey otherwise (class `update nograd`);
    arrows show which other states and `x` it reads; controller heads are
    written under the updates whose hook points they act on.
    """
    rows = [lv.tag for lv in s.levels]
    row_of_tag = {tag: i for i, tag in enumerate(rows)}
    key_row = {k: row_of_tag[lv.tag] for lv in s.levels for k in lv.keys}
    input_row = len(rows)
    has_heads = bool(s.heads_at)
    row_h = ROW_H + (14 if has_heads else 0)

    def y_of(row: int) -> float:
        return TOP + row * row_h + row_h / 2

    # long segments (TRM: 21 updates) get narrower columns so the picture stays readable when scaled
    step, box_w = (STEP, BOX_W) if len(s.updates) <= 12 else (STEP - 12, BOX_W - 8)
    xs = []
    x = LEFT
    for u in s.updates:
        if u.index and u.cycle != s.updates[u.index - 1].cycle:
            x += CYCLE_GAP
        xs.append(x + step / 2)
        x += step
    end_x = x
    halt_x = end_x + 110
    subtitle = (f"coupling {s.coupling} · gradient {s.gradient} ({s.num_grad} of {len(s.updates)} updates carry gradient)"
                f" · halting {s.halting}, at most {s.max_segments} segments"
                + (f" · controller {s.controller}" if s.controller != "none" else ""))
    longest_note = max((len(n) for n in s.notes), default=0)
    width = int(max(halt_x + 190, 24 + 6.3 * len(subtitle), 24 + 5.6 * longest_note, 820 if has_heads else 560))
    y_in = y_of(input_row)
    loop_y = y_in + 30
    ly = loop_y + 40
    height = int(ly + 12 + 15 * len(s.notes))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" role="img">',
           f"<title>{escape(s.title)}: one segment of {escape(s.coupling)} under {escape(s.gradient)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
           f'<path d="M0,0 L10,5 L0,10 z" fill="{MUTED}"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           _text(12, 22, f"{s.title}: one segment", 15, weight="bold"),
           _text(12, 42, subtitle, 11, fill=MUTED)]
    # cycle bands
    for c, n in enumerate(s.cycle_lengths):
        idx = [u.index for u in s.updates if u.cycle == c]
        x0, x1 = xs[idx[0]] - step / 2 + 2, xs[idx[-1]] + step / 2 - 2
        out.append(f'<rect x="{x0:.1f}" y="{TOP - 14}" width="{x1 - x0:.1f}" height="{input_row * row_h + 8}" '
                   f'fill="#f8f9fa" stroke="#dee2e6" stroke-dasharray="4 3" rx="6"/>')
        out.append(_text((x0 + x1) / 2, TOP - 2, f"cycle {c + 1}", 10, "middle", MUTED))
    # level rows and the input row
    for lv in s.levels:
        y = y_of(row_of_tag[lv.tag])
        role = " (read by heads)" if s.output_key in lv.keys else ""
        out.append(_text(12, y - 2, lv.label, 13, weight="bold", cls="level"))
        out.append(_text(12, y + 13, f"{lv.count}x per segment{role}", 10, fill=MUTED))
        out.append(f'<line x1="{LEFT - 6}" y1="{y}" x2="{end_x}" y2="{y}" stroke="#ced4da" stroke-width="2"/>')
    out.append(_text(12, y_in + 4, "x: input embedding", 12, fill=MUTED, cls="level"))
    out.append(f'<line x1="{LEFT - 6}" y1="{y_in}" x2="{end_x}" y2="{y_in}" stroke="#e9ecef" stroke-width="2" stroke-dasharray="3 3"/>')
    # reads: arrows from the source row at the same column into the box
    for u, cx in zip(s.updates, xs):
        y = y_of(row_of_tag[u.tag])
        for k in u.reads:
            src = input_row if k == INPUT_KEY else key_row.get(k)
            if src is None or src == row_of_tag[u.tag]:
                continue
            ys = y_of(src)
            dy = BOX_H / 2 + 1 if ys > y else -(BOX_H / 2 + 1)
            out.append(f'<circle cx="{cx}" cy="{ys}" r="2.5" fill="{MUTED}"/>')
            out.append(f'<line x1="{cx}" y1="{ys}" x2="{cx}" y2="{y + dy}" stroke="{MUTED}" stroke-width="1.2" marker-end="url(#arrow)"/>')
    # the updates
    for u, cx in zip(s.updates, xs):
        y = y_of(row_of_tag[u.tag])
        fill, cls = (GRAD_FILL, "update grad") if u.grad else (NOGRAD_FILL, "update nograd")
        tip = (f"update {u.index + 1} ({u.tag}), cycle {u.cycle + 1}: writes {', '.join(u.writes) or '?'} "
               f"from {', '.join(u.reads) or '?'}; {'with' if u.grad else 'no'} gradient")
        out.append(f'<g class="{cls}" data-index="{u.index}" data-tag="{escape(u.tag)}"><title>{escape(tip)}</title>'
                   f'<rect x="{cx - box_w / 2}" y="{y - BOX_H / 2}" width="{box_w}" height="{BOX_H}" rx="5" fill="{fill}" '
                   f'stroke="{INK if u.grad else "#adb5bd"}" stroke-width="1.2"/>'
                   + _text(cx, y + 4.5, u.tag, 13, "middle", "white" if u.grad else INK, "bold") + "</g>")
        acts = [name for p in dict.fromkeys(u.hooks) for name in s.heads_at.get(p, [])]
        if acts:
            out.append(_text(cx, y + BOX_H / 2 + 12, " ".join(acts), 9, "middle", "#1971c2", cls="heads", halo=True))
    # output, halting, next segment
    top_out = y_of(key_row.get(s.output_key, 0))
    out.append(f'<line x1="{end_x}" y1="{top_out}" x2="{halt_x - 34}" y2="{top_out}" stroke="{INK}" stroke-width="1.5" marker-end="url(#arrow)"/>')
    out.append(_text(end_x + 4, top_out - 8, f"heads read {s.output_key}", 10, fill=MUTED))
    d = 32
    out.append(f'<polygon points="{halt_x},{top_out - d} {halt_x + d},{top_out} {halt_x},{top_out + d} {halt_x - d},{top_out}" '
               f'fill="#fff3bf" stroke="{INK}" stroke-width="1.2" class="halting"/>')
    out.append(_text(halt_x, top_out + 4, "halt?", 12, "middle", weight="bold"))
    out.append(_text(halt_x + d + 6, top_out - 4, f"yes: answer ({s.halting})", 10))
    out.append(_text(halt_x + d + 6, top_out + 10, f"at most {s.max_segments} segments", 10, fill=MUTED))
    first_row = y_of(0)
    out.append(f'<path d="M{halt_x},{top_out + d} L{halt_x},{loop_y} L{LEFT - 22},{loop_y} L{LEFT - 22},{first_row} L{LEFT - 8},{first_row}" '
               f'fill="none" stroke="{MUTED}" stroke-width="1.2" stroke-dasharray="5 3" marker-end="url(#arrow)"/>')
    out.append(_text(LEFT - 14, loop_y + 13,
                     f"no: next segment, state ({', '.join(s.state_keys)}) carried over detached (no gradient between segments)",
                     10, "start", MUTED))
    # legend and notes
    out.append(f'<rect x="12" y="{ly - 11}" width="16" height="13" rx="3" fill="{GRAD_FILL}" stroke="{INK}"/>')
    out.append(_text(34, ly, f"carries gradient under {s.gradient}", 11))
    out.append(f'<rect x="250" y="{ly - 11}" width="16" height="13" rx="3" fill="{NOGRAD_FILL}" stroke="#adb5bd"/>')
    out.append(_text(272, ly, "runs under no_grad (value only)", 11))
    if has_heads:
        out.append(_text(480, ly, "blue: controller heads at that update's hook points", 11, fill="#1971c2"))
    for i, note in enumerate(s.notes):
        out.append(_text(12, ly + 18 + 15 * i, note, 10, fill=MUTED))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def recipe_schedule(source, overrides=()) -> SegmentSchedule:
    """The schedule of a recipe without allocating its weights (the model is built on the meta device)."""
    from hrmzoo.model import ReasoningModel
    from hrmzoo.recipe import load_recipe

    recipe = load_recipe(source, list(overrides))
    with torch.device("meta"):
        model = ReasoningModel(recipe.model)
    model.recipe = recipe
    return segment_schedule(model)


def write_schedule_svg(model, path: str | Path) -> Path:
    """Write `schedule_svg(segment_schedule(model))` to `path`."""
    path = Path(path)
    text = schedule_svg(segment_schedule(model))
    try:
        from hrmzoo.common.atomic import write_text_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    except OSError as exc:
        raise HrmzooError(f"cannot write the schedule to {path}: {exc.strerror or exc}") from None
    return path
