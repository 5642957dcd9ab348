"""``hrmzoo build RECIPE [key=value ...] [--out FILE] [--schedule FILE.svg]``: validate, build and describe a model."""

from __future__ import annotations

from hrmzoo.analysis.schedule_svg import segment_schedule, text_report, write_schedule_svg
from hrmzoo.builder import build_model
from hrmzoo.checkpoint import save_model
from hrmzoo.recipe.schema import COMPONENT_SLOTS


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="validate a recipe, build the model and print its structure")
    p.add_argument("recipe", help="recipe path or shipped name")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--out", help="save the initialised weights (+ recipe) to this .safetensors file")
    p.add_argument("--schedule", metavar="FILE.svg", help="draw one segment (levels, cycles, gradient-carrying updates, halting) as SVG")
    p.set_defaults(run=run)


def describe(model) -> str:
    """The component tree: registered names, parameters, state shapes, updates."""
    cfg = model.cfg
    counts = model.component_parameters()
    lines = [f"recipe: {model.recipe.name}  ({model.recipe.description})" if model.recipe else "recipe: <none>"]
    lines.append(f"model: hidden {cfg.hidden_size}, vocab {cfg.vocab_size}, seq_len {cfg.seq_len} + {cfg.num_prefix} prefix, positions {cfg.pos_encoding}")
    module_for = {"injection": "l_injection"}
    for slot in COMPONENT_SLOTS:
        comp = getattr(cfg, slot)
        attr = module_for.get(slot, slot)
        module = getattr(model, attr, None)
        if comp is None:
            note = "(mirrors l_block, own weights)" if slot == "h_block" and model.h_block is not None else "(not used)"
            n = counts.get(attr, 0)
            lines.append(f"  {slot:<11} {'-':<14} {n:>12,} params  {note}")
            continue
        if slot == "h_block" and model.h_block is None:
            # flat builds no H network: a recipe's h_block would only be counted, never trained
            lines.append(f"  {slot:<11} {'-':<14} {0:>12,} params  (ignored: coupling '{cfg.coupling.type}' builds no H network)")
            continue
        fields = {k: v for k, v in comp.model_dump().items() if k != "type"}
        n = counts.get(attr, 0)
        if slot == "injection" and model.h_injection is not None:
            n += counts.get("h_injection", 0)
        shown = ", ".join(f"{k}={v}" for k, v in fields.items())
        lines.append(f"  {slot:<11} {comp.type:<14} {n:>12,} params  {shown}")
        detail = getattr(module, "describe", None)
        if callable(detail):
            lines.extend(f"      {row}" for row in detail())
    lines.append(f"  puzzle_emb table: {counts['puzzle_emb (table)']:,} params (excluded from the total)")
    shapes = ", ".join(f"{k}[B, {cfg.total_seq_len}, {cfg.hidden_size}]" for k in model.coupling.state_keys)
    lines.append(f"state: {shapes}")
    schedule = model.coupling.schedule()
    total, with_grad = model.updates_per_segment()
    lines.append(f"updates per segment: {total} ({' | '.join(''.join(c) for c in schedule)}), carrying gradient: {with_grad}")
    lines.extend(text_report(segment_schedule(model)))
    lines.append(f"max segments: {model.halting.max_segments}")
    lines.append(f"total parameters: {model.num_parameters():,}")
    return "\n".join(lines)


def run(args) -> int:
    model = build_model(args.recipe, args.overrides)
    print(describe(model))
    if args.out:
        path = save_model(model, args.out)
        print(f"saved: {path}")
    if args.schedule:
        print(f"schedule: {write_schedule_svg(model, args.schedule)}")
    return 0
