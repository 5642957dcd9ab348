"""Exact accuracy broken down by a per-puzzle rating the generator stored beside a split.

Generators save side arrays as `extra__<name>.npy` in a split directory (Sudoku:
`backtracks`, the guesses its search needs after singles, and `givens`; mazes:
`path_len`, the shortest S->G path in moves). `hrmzoo eval RUN by=backtracks`
groups the evaluated samples by that value and reports exact accuracy per
bucket, at the samples' halt step and had every sample stopped at segment k.

Buckets are given by their lower edges (`buckets=[0,1,2,4,8]`: 0, 1, 2-3, 4-7,
8 and up). Without edges, a rating with at most 8 distinct values gets one
bucket per value, and a wider one its quartiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hrmzoo.errors import HrmzooError

#: At most this many distinct values get a bucket each; more are split at their quartiles.
MAX_VALUE_BUCKETS = 8


def example_ratings(root: str | Path, split: str, name: str) -> np.ndarray:
    """The rating `name` of every example of a split, in file order (= evaluation order).

    A rating stored per group (one value per original puzzle) is repeated over the
    group's examples (its augmented variants); one stored per example is used as is.

    Raises:
        HrmzooError: no such side array (the message lists those there are), or one
            whose length matches neither the groups nor the examples of the split.
    """
    from hrmzoo.data.reader import load_split

    split_dir = Path(root) / split
    path = split_dir / f"extra__{name}.npy"
    if not path.is_file():
        have = sorted(p.name[len("extra__"):-len(".npy")] for p in split_dir.glob("extra__*.npy"))
        listed = ", ".join(have) if have else "none (the dataset was not made by a generator that rates its puzzles)"
        raise HrmzooError(f"by={name}: {split_dir} has no extra__{name}.npy; ratings stored there: {listed}")
    values = np.load(path, allow_pickle=False)
    data = load_split(root, split, check_values=False)
    if len(data.sets) != 1:
        raise HrmzooError(f"by={name}: {split_dir} has {len(data.sets)} sets; a breakdown needs a generator's single-set split")
    s = data.sets[0]
    if values.ndim != 1:
        raise HrmzooError(f"by={name}: {path} has shape {values.shape}; a rating is one number per puzzle")
    if len(values) == s.num_examples:
        return values
    if len(values) == s.num_groups:
        example_puzzle = np.searchsorted(np.asarray(s.puzzle_indices), np.arange(s.num_examples), side="right") - 1
        puzzle_group = np.searchsorted(np.asarray(s.group_indices), example_puzzle, side="right") - 1
        return values[puzzle_group]
    raise HrmzooError(f"by={name}: {path} has {len(values)} values but the split has {s.num_groups} groups and {s.num_examples} examples")


def default_edges(values: np.ndarray) -> list[float]:
    """Lower bucket edges: each value when there are few, else the quartiles (deduplicated)."""
    distinct = np.unique(values)
    if len(distinct) <= MAX_VALUE_BUCKETS:
        return [float(v) for v in distinct]
    quart = np.quantile(values, [0.0, 0.25, 0.5, 0.75], method="lower")
    return sorted({float(v) for v in quart})


def parse_edges(text: str) -> list[float]:
    """`buckets=[0,1,2,4]` (or `0,1,2,4`) -> increasing lower edges; a one-line error otherwise."""
    body = text.strip().removeprefix("[").removesuffix("]")
    try:
        edges = [float(x) for x in body.split(",") if x.strip()]
    except ValueError:
        raise HrmzooError(f"buckets={text}: not a list of numbers; e.g. buckets=[0,1,2,4,8]") from None
    if not edges or any(b <= a for a, b in zip(edges, edges[1:])):
        raise HrmzooError(f"buckets={text}: give increasing lower edges, e.g. buckets=[0,1,2,4,8]")
    return edges


def _label(lo: float, hi: float | None, integer: bool) -> str:
    fmt = (lambda v: str(int(v))) if integer else (lambda v: f"{v:g}")
    if hi is None:
        return f">={fmt(lo)}"
    if integer and hi - lo == 1:
        return fmt(lo)
    return f"{fmt(lo)}-{fmt(hi - 1)}" if integer else f"[{fmt(lo)}, {fmt(hi)})"


def by_bucket(samples: dict[str, Any], ratings: np.ndarray, edges: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Exact accuracy per rating bucket.

    Args:
        samples: `EvalResult.samples` (`exact` [N], `exact_per_segment` [N, S], `segment_ran` [N, S]).
        ratings: [>= N] rating per example in evaluation order (the first N are used).
        edges: increasing lower edges (None: `default_edges`). Values below the first edge
            are left out (and counted in no bucket).

    Returns:
        One dict per non-empty bucket: `bucket` (label), `lo`, `hi` (None for the last),
        `n`, `exact` (at the halt step) and `exact_by_segment` (None where no sample ran).
    """
    exact = np.asarray(samples["exact"], dtype=bool)
    n = len(exact)
    if len(ratings) < n:
        raise HrmzooError(f"{len(ratings)} ratings for {n} evaluated samples; evaluate the split the ratings belong to")
    r = np.asarray(ratings[:n])
    edges = list(edges) if edges is not None else default_edges(r)
    integer = bool(np.issubdtype(r.dtype, np.integer)) and all(float(e).is_integer() for e in edges)
    per_seg = np.asarray(samples["exact_per_segment"], dtype=bool)
    ran = np.asarray(samples["segment_ran"], dtype=bool)
    rows = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        sel = (r >= lo) & ((r < hi) if hi is not None else True)
        k = int(sel.sum())
        if not k:
            continue
        ran_k, right_k = ran[sel].sum(0), (per_seg[sel] & ran[sel]).sum(0)
        rows.append({
            "bucket": _label(lo, hi, integer), "lo": lo, "hi": hi, "n": k,
            "exact": float(exact[sel].mean()),
            "exact_by_segment": [float(a / b) if b else None for a, b in zip(right_k, ran_k)],
        })
    return rows


def format_buckets(name: str, rows: list[dict[str, Any]]) -> str:
    """A text table: bucket, count, exact at halt, exact per segment."""
    if not rows:
        return f"by {name}: no sample falls in a bucket"
    segs = len(rows[0]["exact_by_segment"])
    shown = [s for s in range(segs) if s + 1 in (1, 2, 4, 8, 16, 32, 64) or s == segs - 1]
    head = f"{'by ' + name:<14} {'n':>6} {'exact':>8}  " + " ".join(f"{'seg' + str(s + 1):>7}" for s in shown)
    out = [head]
    for row in rows:
        cells = " ".join(f"{100 * v:6.1f}%" if (v := row['exact_by_segment'][s]) is not None else f"{'-':>7}" for s in shown)
        out.append(f"{row['bucket']:<14} {row['n']:>6} {100 * row['exact']:7.2f}%  {cells}")
    return "\n".join(out)
