"""`hrmzoo build RECIPE [key=value ...] [--out FILE] [--schedule FILE.svg]`: validate, build and describe a model.

RECIPE is a shipped recipe name (see 'hrmzoo recipes') or a YAML path;
`recipe=RECIPE` works too. Other arguments are recipe overrides such as
`model.gradient.type=bptt`. `--out FILE` (or `out=FILE`) saves the
initialised weights and the recipe as safetensors; `--schedule FILE.svg`
(or `schedule=FILE.svg`) draws one segment as SVG. An existing file is
replaced only with `--force`; a relative path may not climb out of the
current directory (give an absolute one if you mean it).

Examples:
  hrmzoo build hrm_sudoku
  hrmzoo build recipe=recipes/hrm_sudoku.yaml model.coupling.h_cycles=3 out=init.safetensors
"""

from __future__ import annotations

from hrmzoo.cli.args import split_arguments
from hrmzoo.cli.text import description
from hrmzoo.errors import HrmzooError


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="validate a recipe, build the model and print its structure",
                       description=description(__doc__))
    p.add_argument("args", nargs="*", metavar="RECIPE [key=value ...]", help="recipe name or path, then recipe overrides")
    p.add_argument("--out", help="save the initialised weights (+ recipe) to this .safetensors file")
    p.add_argument("--schedule", metavar="FILE.svg", help="draw one segment (levels, cycles, gradient-carrying updates, halting) as SVG")
    p.add_argument("--force", action="store_true", help="replace an existing --out or --schedule file")
    p.set_defaults(run=run)


def describe(model) -> str:
    """The component tree: registered names, parameters, state shapes, updates."""
    from hrmzoo.analysis.schedule_svg import segment_schedule, text_report
    from hrmzoo.recipe.schema import COMPONENT_SLOTS

    cfg = model.cfg
    counts = model.component_parameters()
    lines = [f"recipe: {model.recipe.name}  ({model.recipe.description})" if model.recipe else "recipe: <none>"]
    lines.append(f"model: hidden {cfg.hidden_size}, vocab {cfg.vocab_size}, seq_len {cfg.seq_len} + {cfg.num_prefix} prefix, positions {cfg.pos_encoding}")
    module_for = {"injection": "l_injection"}
    for slot in COMPONENT_SLOTS:
        if getattr(cfg, "levels", None) and slot in ("l_block", "h_block", "injection"):
            if slot == "l_block":
                lines.extend(_level_rows(model, counts))
            continue
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


def _level_rows(model, counts: dict[str, int]) -> list[str]:
    """One row per level of `model.levels` (fastest first): its block, injection and period."""
    rows = []
    first = model.level_specs[0].name
    for i, spec in enumerate(model.level_specs):
        label = f"level {spec.name}"
        period = f"period {spec.period} (every {spec.period} {model.level_specs[i - 1].name})" if i else "period 1 (fastest)"
        if spec.shared_with is not None:
            rows.append(f"  {label:<11} {'-':<14} {0:>12,} params  runs {spec.shared_with}'s block and injection; {period}")
            continue
        n = counts.get(f"{spec.prefix}_block", 0) + counts.get(f"{spec.prefix}_injection", 0)
        fields = {k: v for k, v in spec.block.model_dump().items() if k != "type"}
        note = f" (copies {first}'s block config, own weights)" if model.cfg.levels[i].block is None else ""
        shown = ", ".join(f"{k}={v}" for k, v in fields.items())
        rows.append(f"  {label:<11} {spec.block.type:<14} {n:>12,} params  {shown}; injection {spec.injection.type}; {period}{note}")
    return rows


def run(args) -> int:
    from hrmzoo.cli.args import check_recipe_argument

    named, overrides = split_arguments(args.args, ("recipe",), "build", target="recipe")
    check_recipe_argument(named, "build", "hrm_sudoku")  # before torch: a typo is reported at once
    from hrmzoo.common.paths import check_output_file

    # the output rule of every command, checked before the model is built
    out = check_output_file(args.out, "--out", force=args.force) if args.out is not None else None
    schedule = check_output_file(args.schedule, "--schedule", force=args.force) if args.schedule is not None else None

    from hrmzoo.recipe.build import build_model
    from hrmzoo.persistence.checkpoint import save_model

    model = build_model(named["recipe"], overrides)
    print(describe(model))
    if out is not None:
        path = save_model(model, out)
        print(f"saved: {path}")
    if schedule is not None:
        from hrmzoo.analysis.schedule_svg import write_schedule_svg

        print(f"schedule: {write_schedule_svg(model, schedule)}")
    return 0
