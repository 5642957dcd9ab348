"""Build (once) the two evaluation sets of a logic recipe and print their directories.

    python experiments/tiny_data/eval_sets.py RECIPE DATA_DIR [KEY=VALUE ...]  ->  prints STATUS_DIR and DEEP_DIR

STATUS_DIR: the recipe's own instances with the 16 status answers alone (its `data:` with
`label_mentions` off: the same train and test instances, so a model trained on mentions is scored
on the answers). DEEP_DIR: the same with a test split of depth 5-8 (beyond the training range).
Each is kept under DATA_DIR by the hash of its spec, so recipes with different data never share one.
Overrides (`data.num_train=100`) change the recipe first, as they change the run's training data.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hrmzoo.data.prepare import atomic_build, build_into, parse_config, spec_hash
from hrmzoo.recipe import load_recipe


def eval_sets(recipe: str, data_dir: Path, overrides: list[str] = ()) -> tuple[Path, Path]:
    data = load_recipe(recipe, list(overrides)).data
    if getattr(data, "type", None) != "logic":
        raise SystemExit(f"eval_sets.py: {recipe} does not train on logic data")
    spec = data.model_dump(mode="json")
    out = []
    for extra in ({}, {"test_depth": [5, 8]}):
        cfg = parse_config({**spec, "label_mentions": False, **extra})
        path = data_dir / f"logic-{spec_hash(cfg)}"
        if not (path / "build.json").is_file():  # built aside and renamed: two runs starting together share one build
            atomic_build(path, lambda tmp: build_into(cfg, tmp))
        out.append(path)
    return out[0], out[1]


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    print(*eval_sets(sys.argv[1], Path(sys.argv[2]), sys.argv[3:]), sep="\n")
