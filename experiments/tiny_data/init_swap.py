"""Fresh (untrained) weights of a recipe from one seed, with chosen tensors from another: is a failing
seed's fate in its initial weights, and in which of them?

    python experiments/tiny_data/init_swap.py RECIPE --seed A [--from-seed B --take PREFIX[,PREFIX...]] --out FILE.safetensors

then start a run from it with the batch order of any seed:

    hrmzoo train RECIPE train.seed=C train.init_from=FILE.safetensors

`--from-checkpoint RUN_OR_FILE` takes tensors from a trained run instead (every tensor the two share by
name and shape, or those `--take` names): a model with a new part (a controller) can start from a
trained model without it, the new part at its own initialisation.

`--take embedding,l_block` takes every tensor whose name starts with one of the prefixes from seed
B's initialisation (`python -m hrmzoo build RECIPE` names the components). The file is a normal
hrmzoo checkpoint carrying the recipe.
"""

from __future__ import annotations

import argparse
import sys

import torch

from hrmzoo import build_model
from hrmzoo.persistence.checkpoint import save_model


def swapped(recipe: str, seed: int, from_seed: int | None, take: tuple[str, ...], from_checkpoint: str | None = None,
            overrides: tuple[str, ...] = ()):
    model = build_model(recipe, list(overrides), seed=seed)
    donor = None
    if from_checkpoint is not None:
        from hrmzoo.persistence.checkpoint import read_weights

        own = model.state_dict()
        tensors, _ = read_weights(from_checkpoint)
        donor = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    elif from_seed is not None and take:
        donor = build_model(recipe, list(overrides), seed=from_seed).state_dict()
    if donor is not None:
        names = [k for k in donor if k.startswith(take)] if take else list(donor)
        if not names:
            sys.exit(f"init_swap.py: no tensor of {recipe} starts with {', '.join(take) or 'any name'}; names: {', '.join(donor) or 'none shared'}")
        with torch.no_grad():
            state = model.state_dict()
            for k in names:
                state[k].copy_(donor[k])
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--seed", type=int, required=True, help="seed of the initialisation")
    ap.add_argument("--from-seed", type=int, help="seed whose initial tensors --take copies in")
    ap.add_argument("--from-checkpoint", help="a trained run or checkpoint whose tensors (shared by name and shape) are taken")
    ap.add_argument("--take", default="", help="comma-separated name prefixes taken from --from-seed (or --from-checkpoint)")
    ap.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE", help="recipe overrides")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    take = tuple(p for p in args.take.split(",") if p)
    if args.from_checkpoint is not None and args.from_seed is not None:
        ap.error("take tensors --from-seed or --from-checkpoint, not both")
    if args.from_checkpoint is None and bool(take) != (args.from_seed is not None):
        ap.error("--from-seed and --take go together")
    save_model(swapped(args.recipe, args.seed, args.from_seed, take, args.from_checkpoint, tuple(args.overrides)), args.out)
    print(args.out)


if __name__ == "__main__":
    main()
