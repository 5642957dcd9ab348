"""What ARC voting needs per test example: its task, test index and augmentation, plus the answers.

hrmzoo's builder writes it to `test/arc_test_meta.json`. A dataset built by
the original HRM code has no such file; its identifiers carry the same facts
(`<task>_t<dihedral>_<colour map>`, the un-augmented variant named `<task>`)
and its test labels hold the answers, so the metadata is rebuilt from those —
or the error says exactly what is missing. An ARC-shaped split (30x30 canvas,
12 tokens) is never scored silently without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hrmzoo.errors import HrmzooError

ARC_SEQ_LEN, ARC_VOCAB = 900, 12


def is_arc_split(root: str | Path, split: str = "test") -> bool:
    """Whether a split is ARC: it has `arc_test_meta.json` or the ARC encoding (seq 900, vocab 12)."""
    from hrmzoo.data.arc import TEST_META_FILE

    split_dir = Path(root) / split
    if (split_dir / TEST_META_FILE).is_file():
        return True
    try:
        meta = json.loads((split_dir / "dataset.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("seq_len") == ARC_SEQ_LEN and meta.get("vocab_size") == ARC_VOCAB


def load_test_meta(root: str | Path, split: str = "test") -> dict[str, Any]:
    """`{"examples": [...], "test_outputs": {...}, "origin": "hrmzoo" | "reconstructed"}` of an ARC split."""
    from hrmzoo.data.arc import TEST_META_FILE

    path = Path(root) / split / TEST_META_FILE
    if not path.is_file():
        return reconstruct_test_meta(root, split)
    try:
        meta = json.loads(path.read_text())
        out = {"examples": meta["examples"], "test_outputs": meta["test_outputs"], "origin": "hrmzoo"}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HrmzooError(f"{path}: unreadable ARC test metadata ({exc}); rebuild the ARC dataset") from None
    return out


def _few(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def reconstruct_test_meta(root: str | Path, split: str = "test") -> dict[str, Any]:
    """Rebuild the test metadata of an originally built ARC split from identifiers and labels.

    Raises:
        HrmzooError: naming the variants whose augmentation cannot be read from their
            identifier, or the tasks whose un-augmented variant (hence answer) is absent.
    """
    from hrmzoo.data.arc import crop_canvas, parse_variant_name
    from hrmzoo.data.reader import load_split, read_identifiers

    where = Path(root) / split
    data = load_split(root, split)
    names = read_identifiers(root)
    if len(data.sets) != 1:
        raise HrmzooError(f"{where}: ARC split without arc_test_meta.json has sets {[s.name for s in data.sets]}; "
                          "reconstruction reads one set (the original builders write only 'all')")
    s = data.sets[0]
    if s.num_examples == 0:
        raise HrmzooError(f"{where}: the ARC test split has no examples; rebuild it with evaluation tasks that have test pairs")
    examples: list[dict] = []
    identity_rows: dict[str, list[int]] = {}
    variant_counts: dict[str, set[int]] = {}
    unreadable: list[str] = []
    order: list[str] = []
    for p in range(s.num_puzzles):
        pid = int(s.puzzle_identifiers[p])
        name = names[pid] if 0 <= pid < len(names) else None
        if name is None:
            raise HrmzooError(f"{where}: puzzle identifier {pid} is outside identifiers.json ({len(names)} names); rebuild the dataset")
        task, spec = parse_variant_name(name)
        if spec.is_identity and "_" in name:
            unreadable.append(name)
            continue
        lo, hi = int(s.puzzle_indices[p]), int(s.puzzle_indices[p + 1])
        if task not in variant_counts:
            order.append(task)
        variant_counts.setdefault(task, set()).add(hi - lo)
        if spec.is_identity:
            identity_rows[task] = list(range(lo, hi))
        for i in range(hi - lo):
            examples.append({"task_id": task, "test_index": i, "puzzle_identifier": pid, "aug": spec.to_json(), "offset": [0, 0]})
    if unreadable:
        raise HrmzooError(f"{where}: no arc_test_meta.json, and {len(unreadable)} test variant names do not say their augmentation "
                          f"(expected <task>_t<0-7>_<10-digit colour map>, e.g. 007bbfb7_t3_0512349876): {_few(unreadable)}; "
                          "rebuild with hrmzoo (`hrmzoo data arc`) or with the original builder's naming")
    missing = [t for t in order if t not in identity_rows]
    if missing:
        raise HrmzooError(f"{where}: no arc_test_meta.json, and {len(missing)} tasks have no un-augmented variant in the test split, "
                          f"so their test outputs are unknown: {_few(missing)}; rebuild the dataset with hrmzoo (`hrmzoo data arc`)")
    uneven = [t for t in order if len(variant_counts[t]) > 1]
    if uneven:
        raise HrmzooError(f"{where}: tasks whose variants hold different numbers of test inputs: {_few(uneven)}; "
                          "the test indices cannot be matched; rebuild the dataset with hrmzoo")
    answers = {t: [crop_canvas(s.labels[r]).tolist() for r in identity_rows[t]] for t in order}
    if any(not g or not g[0] for out in answers.values() for g in out):
        bad = [t for t, out in answers.items() if any(not g or not g[0] for g in out)]
        raise HrmzooError(f"{where}: test labels of {_few(bad)} hold no grid at the top-left corner; not an ARC test split this reader knows")
    return {"examples": examples, "test_outputs": answers, "origin": "reconstructed"}
