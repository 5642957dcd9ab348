"""Seeded list-program induction (program-synthesis subroutines).

A hidden program of 1-3 primitives of a small list DSL (digits 0..9) is shown
as `num_examples` input -> output pairs plus a query input; the answer is the
program's output on the query.

The DSL (`PRIMITIVES`, applied left to right): `add1` and `add3` (map x + k
mod 10), `dbl` (map 2x mod 10), `even` (keep even values), `gt4` (keep values
above 4), `rev`, `sort`, `take3` (first three), `drop1` (all but the first),
`cumsum` (running sum mod 10).

Functions, not spellings: two programs that compute the same function (e.g.
`rev rev` and nothing, `add1 add3` and `add3 add1`) are one *function*; a
function's *length* is the length of its shortest program, and the program
shown in `extra__program.npy` is its first shortest spelling. Functions are
told apart by their outputs on a fixed set of probe lists (all 0..6-element
lists of a fixed seeded draw; the same for every build). The identity is
left out.

Unique answers: an instance is kept only when every DSL program of up to
`MAX_PROGRAM_LEN` primitives that maps each example input to its output also
gives the same output on the query (found by enumerating the DSL); otherwise
new example and query inputs are drawn.

Held-out compositions: functions of length >= 2 are split by a hash of their
name; about `HELDOUT_PERCENT` percent are *test functions*, the rest train
functions. The train split draws from train functions (and every length-1
function), the test split only from test functions, so no test program
computes a function any training program computes. `length` and
`test_length` set the function lengths of the two splits (test length >= 2).

Seen functions (`test_functions: seen`): the test split draws from the *train*
functions instead, on example and query lists no train instance shows; it
measures whether the training functions themselves were learned, apart from
composing them anew (the default, `heldout`).

Layout (`seq_len = (2 * num_examples + 2) * width`): `num_examples` pairs
`[input | output]` of `width` slots each, the query input, then `width` answer
slots. A list fills its slots with `VAL0 + v` and then `END`; answer slots
hold `ASK` in the input; the label is the query output (values then `END`),
every other position unsupervised.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, write_build_info, write_flat_split, write_identifiers
from hrmzoo.data.progress import Progress

PAD, ASK, END = 0, 1, 2
VAL0 = 3
MOD = 10
VOCAB_SIZE = VAL0 + MOD
MAX_PROGRAM_LEN = 3
HELDOUT_PERCENT = 25
MIN_WIDTH, MAX_WIDTH = 4, 12

Seq = tuple[int, ...]

PRIMITIVES: dict[str, Callable[[Seq], Seq]] = {
    "add1": lambda s: tuple((v + 1) % MOD for v in s),
    "add3": lambda s: tuple((v + 3) % MOD for v in s),
    "dbl": lambda s: tuple((2 * v) % MOD for v in s),
    "even": lambda s: tuple(v for v in s if v % 2 == 0),
    "gt4": lambda s: tuple(v for v in s if v > 4),
    "rev": lambda s: s[::-1],
    "sort": lambda s: tuple(sorted(s)),
    "take3": lambda s: s[:3],
    "drop1": lambda s: s[1:],
    "cumsum": lambda s: tuple(itertools.accumulate(s, lambda a, b: (a + b) % MOD)),
}
NAMES = tuple(PRIMITIVES)
_FNS = tuple(PRIMITIVES.values())


def run(program: Sequence[int], s: Seq) -> Seq:
    """Apply primitives (indices into `NAMES`) left to right."""
    for p in program:
        s = _FNS[p](s)
    return s


def program_name(program: Sequence[int]) -> str:
    return " ".join(NAMES[p] for p in program)


@functools.lru_cache(maxsize=1)
def functions() -> tuple[tuple[Seq, ...], tuple[int, ...]]:
    """Every DSL function but the identity: (shortest program, its length) as parallel tuples, in enumeration order."""
    rng = np.random.default_rng(12345)
    probes = [tuple(int(v) for v in rng.integers(0, MOD, size=n)) for n in range(7) for _ in range(40)]
    seen = {tuple(probes)}  # the identity's fingerprint
    progs: list[Seq] = []
    for length in range(1, MAX_PROGRAM_LEN + 1):
        for prog in itertools.product(range(len(NAMES)), repeat=length):
            fp = tuple(run(prog, p) for p in probes)
            if fp not in seen:
                seen.add(fp)
                progs.append(prog)
    return tuple(progs), tuple(len(p) for p in progs)


def is_heldout(program: Sequence[int]) -> bool:
    """Whether a function (by its shortest program) belongs to the test split: length >= 2 and a hash bucket."""
    if len(program) < 2:
        return False
    return hashlib.sha256(program_name(program).encode()).digest()[0] * 100 < HELDOUT_PERCENT * 256


def pool(lengths: Sequence[int], heldout: bool) -> list[Seq]:
    """Programs of functions with length in the range, from the test functions (`heldout`) or the train ones."""
    lo, hi = lengths
    progs, lens = functions()
    return [p for p, n in zip(progs, lens) if lo <= n <= hi and is_heldout(p) == heldout]


def query_outputs(inputs: Sequence[Seq], outputs: Sequence[Seq], query: Seq) -> set[Seq]:
    """Outputs on `query` of every DSL program (up to `MAX_PROGRAM_LEN`) consistent with the examples."""
    found: set[Seq] = set()
    states = [(tuple(inputs), query)]  # programs of the current length, applied to the examples and the query
    for _ in range(MAX_PROGRAM_LEN):
        nxt = []
        for ins, q in states:
            for f in _FNS:
                first = f(ins[0])
                rest = tuple(f(s) for s in ins[1:])
                new = ((first,) + rest, f(q))
                nxt.append(new)
                if new[0] == tuple(outputs):
                    found.add(new[1])
        states = list(set(nxt))  # programs that agree on every input behave alike from here on
    return found


def check_params(width: int, num_examples: int, length: Sequence[int], test_length: Sequence[int], test_functions: str = "heldout") -> None:
    if not (MIN_WIDTH <= width <= MAX_WIDTH):
        raise DataError(f"listfn: width {width} must be {MIN_WIDTH}..{MAX_WIDTH} (list slots)")
    if not (1 <= num_examples <= 8):
        raise DataError(f"listfn: num_examples {num_examples} must be 1..8")
    for name, (lo, hi) in (("length", length), ("test_length", test_length)):
        if not (1 <= lo <= hi <= MAX_PROGRAM_LEN):
            raise DataError(f"listfn: {name} ({lo}, {hi}) must satisfy 1 <= min <= max <= {MAX_PROGRAM_LEN}")
    if test_functions not in ("heldout", "seen"):
        raise DataError(f"listfn: test_functions '{test_functions}' must be 'heldout' (compositions never trained) or 'seen' (train functions, new lists)")
    if test_functions == "heldout" and test_length[1] < 2:
        raise DataError(f"listfn: test_length {tuple(test_length)} holds only length-1 programs, which every training split sees; "
                        "use a test_length reaching 2 or more (held-out compositions)")


def seq_len(width: int, num_examples: int) -> int:
    return (2 * num_examples + 2) * width


def _slots(s: Seq, width: int) -> list[int]:
    return [VAL0 + v for v in s] + [END] * (width - len(s))


def encode(inputs: Sequence[Seq], outputs: Sequence[Seq], query: Seq, answer: Seq, width: int) -> tuple[np.ndarray, np.ndarray]:
    x: list[int] = []
    for i, o in zip(inputs, outputs):
        x += _slots(i, width) + _slots(o, width)
    x += _slots(query, width) + [ASK] * width
    y = [PAD] * (len(x) - width) + _slots(answer, width)
    return np.asarray(x, np.uint8), np.asarray(y, np.uint8)


def decode(x: np.ndarray, width: int) -> tuple[list[Seq], list[Seq], Seq]:
    """(example inputs, example outputs, query) of an input row."""
    x = np.asarray(x).reshape(-1, width)
    lists = [tuple(int(t) - VAL0 for t in row if t >= VAL0) for row in x[:-1]]
    return lists[0:-1:2], lists[1:-1:2], lists[-1]


def render(x: np.ndarray, y: np.ndarray | None, width: int, program: str | None = None) -> str:
    """An instance as a person reads it: the examples, the query and (given labels) the answer."""
    ins, outs, query = decode(x, width)
    show = lambda s: "[" + " ".join(str(v) for v in s) + "]"
    lines = [f"{show(i):>{2 * width + 1}} -> {show(o)}" for i, o in zip(ins, outs)]
    answer = "?"
    if y is not None:
        answer = show(tuple(int(t) - VAL0 for t in np.asarray(y).reshape(-1)[-width:] if t >= VAL0))
    lines.append(f"{show(query):>{2 * width + 1}} -> {answer}")
    if program is not None:
        lines.append(f"(hidden program: {program})")
    return "\n".join(lines)


def _draw_list(rng: np.random.Generator, width: int) -> Seq:
    n = int(rng.integers(3, width + 1))
    return tuple(int(v) for v in rng.integers(0, MOD, size=n))


def make_instance(rng: np.random.Generator, program: Seq, width: int, num_examples: int, tries: int = 200):
    """Example inputs/outputs and a query whose answer every consistent DSL program agrees on, or None."""
    for _ in range(tries):
        inputs = [_draw_list(rng, width) for _ in range(num_examples)]
        query = _draw_list(rng, width)
        if query in inputs or len(set(inputs)) < num_examples:
            continue
        outputs = [run(program, s) for s in inputs]
        if len(query_outputs(inputs, outputs, query)) == 1:
            return inputs, outputs, query, run(program, query)
    return None


def generate_split(rng: np.random.Generator, count: int, programs: list[Seq], *, width: int, num_examples: int, exclude: set[bytes],
                   label: str, progress: bool = False) -> list[tuple]:
    out = []
    bar = Progress(label, count, progress)
    misses = 0
    # a length first, then a program of it: the 520 length-3 functions would otherwise crowd out the 10 of length 1
    by_length = [[p for p in programs if len(p) == n] for n in sorted({len(p) for p in programs})]
    while len(out) < count:
        same = by_length[int(rng.integers(len(by_length)))]
        prog = same[int(rng.integers(len(same)))]
        inst = make_instance(rng, prog, width, num_examples)
        key = repr(inst[:3]).encode() if inst is not None else None
        if inst is None or key in exclude:
            misses += 1
            if misses > 1000 + 10 * count:
                raise DataError(f"listfn: could only find {len(out)} instances (asked for {count}); ask for fewer or widen the lists")
            continue
        exclude.add(key)
        out.append((*inst, prog))
        bar.update(len(out))
    bar.close()
    return out


def build_listfn(
    out: str | os.PathLike[str],
    *,
    width: int = 6,
    num_examples: int = 3,
    length: Sequence[int] = (1, 3),
    test_length: Sequence[int] | None = None,
    num_train: int = 1000,
    num_test: int = 1000,
    test_functions: str = "heldout",
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Generate a list-program dataset and write it in the HRM layout.

    Args:
        out: Dataset root.
        width: Slots per list (inputs have 3..width elements).
        num_examples: Input/output pairs shown.
        length: (min, max) function length of train programs.
        test_length: (min, max) function length of test programs (held-out functions only); None: `length`.
        num_train: Train instances.
        num_test: Test instances.
        test_functions: `heldout` (functions no train program computes) or `seen` (train functions on new lists).
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json`.

    Returns:
        The dataset root.
    """
    test_length = tuple(test_length) if test_length is not None else tuple(length)
    check_params(width, num_examples, length, test_length, test_functions)
    if num_train < 0 or num_test < 0:
        raise DataError("listfn: num_train and num_test must be >= 0")
    train_pool = pool(length, heldout=False)
    test_pool = pool(test_length, heldout=False) if test_functions == "seen" else pool(test_length, heldout=True)
    if test_functions == "seen":  # a train function of a length the train split never draws is not "seen"
        trained = set(train_pool)
        test_pool = [p for p in test_pool if p in trained]
    if num_test and not test_pool:
        kind = "train" if test_functions == "seen" else "held-out"
        raise DataError(f"listfn: no {kind} function has a length in test_length {test_length}; widen test_length")
    root = Path(out)
    seen: set[bytes] = set()
    common = dict(width=width, num_examples=num_examples, exclude=seen, progress=progress)
    splits = {
        "train": generate_split(np.random.default_rng([seed, 0]), num_train, train_pool, label="listfn train", **common),
        "test": generate_split(np.random.default_rng([seed, 1]), num_test, test_pool, label="listfn test", **common),
    }
    index = {p: i for i, p in enumerate(functions()[0])}
    for split, rows in splits.items():
        xy = [encode(i, o, q, a, width) for i, o, q, a, _ in rows]
        write_flat_split(root / split, [x for x, _ in xy], [y for _, y in xy], np.ones(len(rows), np.int64), seq_len=seq_len(width, num_examples),
                         vocab_size=VOCAB_SIZE, extras={"program": np.asarray([index[p] for *_, p in rows], np.int32),
                                                        "length": np.asarray([len(p) for *_, p in rows], np.int32)})
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_build_info(root, "listfn", spec or dict(width=width, num_examples=num_examples, length=list(length), test_length=list(test_length),
                                                  num_train=num_train, num_test=num_test, test_functions=test_functions, seed=seed),
                     extra={"programs": [program_name(p) for p in functions()[0]]})
    return root
