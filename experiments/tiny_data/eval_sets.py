"""Build (once) the two evaluation sets of a tiny-data recipe and print them, with the rating to break them down by.

    python experiments/tiny_data/eval_sets.py RECIPE DATA_DIR [KEY=VALUE ...]  ->  prints IN_DIR, BEYOND_DIR, RATING

IN_DIR: the recipe's own train and test instances, scored as the family's answers (for `logic`: its
`data:` with `label_mentions` off, so a model trained on mentions is scored on the 16 status answers
alone). BEYOND_DIR: the same with a test split past the training range: `logic` depth 5-8, `listfn`
programs of 3 primitives, `flow` networks of 8-9 nodes (the recipe's layout must hold them:
`max_nodes: 9`). RATING: the per-instance rating of the family (`depth`, `length`, `nodes`) for
`hrmzoo eval ... by=RATING`. Each set is kept under DATA_DIR by the hash of its spec, so recipes with
different data never share one. Overrides (`data.num_train=100`) change the recipe first, as they
change the run's training data; the generators draw the test split apart from that size's training
instances.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hrmzoo.data.prepare import atomic_build, build_into, parse_config, spec_hash
from hrmzoo.recipe import load_recipe


#: family -> (what the in-range set changes, what the beyond set changes, the rating to break results down by)
FAMILIES = {
    "logic": ({"label_mentions": False}, {"label_mentions": False, "test_depth": [5, 8]}, "depth"),
    "listfn": ({}, {"test_length": [3, 3]}, "length"),
    "flow": ({}, {"test_nodes": [8, 9]}, "nodes"),
}


def eval_sets(recipe: str, data_dir: Path, overrides: list[str] = ()) -> tuple[Path, Path, str]:
    data = load_recipe(recipe, list(overrides)).data
    family = getattr(data, "type", None)
    if family not in FAMILIES:
        raise SystemExit(f"eval_sets.py: {recipe} trains on {family} data; this script knows {', '.join(FAMILIES)}")
    spec = data.model_dump(mode="json")
    inside, beyond, rating = FAMILIES[family]
    out = []
    for extra in (inside, beyond):
        cfg = parse_config({**spec, **extra})
        path = data_dir / f"{family}-{spec_hash(cfg)}"
        if not (path / "build.json").is_file():  # built aside and renamed: two runs starting together share one build
            atomic_build(path, lambda tmp: build_into(cfg, tmp))
        out.append(path)
    return out[0], out[1], rating


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    print(*eval_sets(sys.argv[1], Path(sys.argv[2]), sys.argv[3:]), sep="\n")
