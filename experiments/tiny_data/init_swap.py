"""Fresh (untrained) weights of a recipe from one seed, with chosen tensors from another: is a failing
seed's fate in its initial weights, and in which of them?

    python experiments/tiny_data/init_swap.py RECIPE --seed A [--from-seed B --take PREFIX[,PREFIX...]] --out FILE.safetensors

then start a run from it with the batch order of any seed:

    hrmzoo train RECIPE train.seed=C train.init_from=FILE.safetensors

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


def swapped(recipe: str, seed: int, from_seed: int | None, take: tuple[str, ...]):
    model = build_model(recipe, seed=seed)
    if from_seed is not None and take:
        donor = build_model(recipe, seed=from_seed).state_dict()
        names = [k for k in donor if k.startswith(take)]
        if not names:
            sys.exit(f"init_swap.py: no tensor of {recipe} starts with {', '.join(take)}; names: {', '.join(donor)}")
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
    ap.add_argument("--take", default="", help="comma-separated name prefixes taken from --from-seed")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    take = tuple(p for p in args.take.split(",") if p)
    if bool(take) != (args.from_seed is not None):
        ap.error("--from-seed and --take go together")
    save_model(swapped(args.recipe, args.seed, args.from_seed, take), args.out)
    print(args.out)


if __name__ == "__main__":
    main()
