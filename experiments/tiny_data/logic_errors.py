"""Where a trained logic model errs: the error rate of its supervised tokens by kind and by atom level.

    python experiments/tiny_data/logic_errors.py RUN DATA [--segments 4] [--limit 500]

RUN is a run directory (or checkpoint) of a `logic` recipe; DATA a `logic` build with `label_mentions`
(the recipe's own data). Token kinds: `name` (an atom's name), `status` (the answer), `body` and
`head` (an atom named in a rule). Levels: `fact`, `L1`..`L4` (the forward-chaining round that derives
the atom; `L4` holds 4 and more), `false`. Prints one line per (kind, level): count and error rate.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch

from hrmzoo import load_model
from hrmzoo.data import logic
from hrmzoo.data.reader import load_split
from hrmzoo.evaluate.core import evaluate


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("data")
    p.add_argument("--segments", type=int, default=4)
    p.add_argument("--limit", type=int, default=500)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(a.run)
    result = evaluate(model, a.data, max_segments=a.segments, keep_predictions=True, limit=a.limit)
    pred = result.samples["predictions"].numpy()
    split = load_split(a.data, "test")
    n = split.vocab_size - logic.ATOM0  # atoms of the layout (vocab: the special tokens, then one per atom)
    xs, ys = np.asarray(split.sets[0].inputs)[: len(pred)], np.asarray(split.sets[0].labels)[: len(pred)]
    err, total = Counter(), Counter()
    for x, y, yhat in zip(xs, ys, pred):
        level = logic.derivation_rounds(n, *logic.decode(x, num_atoms=n))
        for pos in np.flatnonzero((y == logic.YES) | (y == logic.NO)):
            if pos < 2 * n:
                kind, atom = ("name" if pos % 2 == 0 else "status"), pos // 2
            else:
                kind, atom = ("head" if (pos - 2 * n) % 3 == 2 else "body"), int(x[pos]) - logic.ATOM0
            lv = int(level[atom])
            key = (kind, "false" if lv < 0 else "fact" if lv == 0 else f"L{min(lv, 4)}")
            total[key] += 1
            err[key] += int(yhat[pos] != y[pos])
    print(f"{a.run}: exact {100 * result.metrics['exact_accuracy']:.1f}% at {a.segments} segments, {len(pred)} test instances")
    for key in sorted(total):
        print(f"{key[0]:7s} {key[1]:6s} n={total[key]:6d}  error {100 * err[key] / total[key]:5.1f}%")


if __name__ == "__main__":
    main()
