"""`hrmzoo import {hrm,trm} CKPT [--config all_config.yaml] [key=value ...] --out FILE`.

Reads a checkpoint of the original HRM or TRM code (a torch state dict, loaded
with `weights_only=True`), builds the matching recipe and writes a zoo
checkpoint (safetensors with the recipe) that gives the same outputs.
"""

from __future__ import annotations

from hrmzoo.errors import HrmzooError


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="convert an original HRM or TRM checkpoint into a zoo checkpoint")
    p.add_argument("kind", choices=["hrm", "trm"], help="which original code wrote the checkpoint")
    p.add_argument("checkpoint", help="the original checkpoint file (torch state dict or .safetensors)")
    p.add_argument("fields", nargs="*", help="arch fields the weights do not hold, by the original's names, e.g. H_cycles=2 seq_len=81")
    p.add_argument("--config", help="the all_config.yaml the original run saved beside its checkpoints")
    p.add_argument("--out", required=True, help="where to write the zoo checkpoint (.safetensors)")
    p.set_defaults(run=run)


def parse_fields(items: list[str]) -> dict:
    """`key=value` pairs with literal values (YAML scalars, never code)."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise HrmzooError(f"'{item}': expected key=value with an original arch field name, e.g. H_cycles=2")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise HrmzooError(f"'{item}': the value is not a literal") from None
    return out


def run(args) -> int:
    from hrmzoo.persistence.checkpoint import save_model
    from hrmzoo.interop import import_hrm, import_trm

    load = import_hrm if args.kind == "hrm" else import_trm
    model = load(args.checkpoint, args.config, parse_fields(args.fields))
    path = save_model(model, args.out)
    m = model.cfg
    print(f"imported {args.kind.upper()}: hidden {m.hidden_size}, seq_len {m.seq_len} + {m.num_prefix} prefix, "
          f"{model.num_parameters():,} parameters (+ puzzle table {model.puzzle_table_size():,})")
    print(f"saved: {path}")
    return 0
