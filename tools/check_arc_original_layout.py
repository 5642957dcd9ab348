"""Check, on a built ARC dataset, that the test metadata rebuilt for an originally built dataset is exact.

Makes a view of ROOT's test split as the original builder would have named it
(identifiers renamed to `<task>_t<d>_<colour map>`, no `arc_test_meta.json`;
the arrays are symlinked, not copied), rebuilds the metadata from identifiers
and labels, compares it with the one hrmzoo wrote, and votes the labels
themselves as predictions (100% under both scoring rules when all is right).

Example:
    python tools/check_arc_original_layout.py data/arc2-aug-1000 /tmp/arc2-original-view
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hrmzoo.data.arc import original_variant_name, parse_variant_name
from hrmzoo.data.reader import load_split
from hrmzoo.evaluate.arc import arc_pass_at_k, format_arc_scores
from hrmzoo.evaluate.arc_meta import load_test_meta


def main(root: Path, view: Path) -> bool:
    (view / "test").mkdir(parents=True)
    for f in (root / "test").iterdir():
        if f.name != "arc_test_meta.json":
            os.symlink(f.resolve(), view / "test" / f.name)
    names = json.loads((root / "identifiers.json").read_text())
    (view / "identifiers.json").write_text(json.dumps([names[0]] + [original_variant_name(*parse_variant_name(n)) for n in names[1:]]))
    ours = load_test_meta(root)
    t = time.perf_counter()
    rebuilt = load_test_meta(view)
    t_rebuild = time.perf_counter() - t
    same = ours["examples"] == rebuilt["examples"] and ours["test_outputs"] == rebuilt["test_outputs"]
    print(f"{len(ours['examples'])} test examples of {len(ours['test_outputs'])} tasks; rebuilt metadata identical: {same} ({t_rebuild:.1f} s)")
    labels = torch.from_numpy(np.array(load_split(root, "test").sets[0].labels))
    t = time.perf_counter()
    scores = arc_pass_at_k(view, labels, torch.ones(len(labels)), meta=rebuilt)
    print(format_arc_scores(scores), f"(vote {time.perf_counter() - t:.1f} s)")
    return same and scores["pass@1"] == 1.0


if __name__ == "__main__":
    sys.exit(0 if main(Path(sys.argv[1]), Path(sys.argv[2])) else 1)
