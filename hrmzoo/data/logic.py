"""Seeded propositional Horn-logic instances (a theorem-proving fragment).

An instance is a set of *facts* and *rules* `a & b -> c` (or `a -> c`) over
`num_atoms` atoms; the answer is every atom's truth value under the closure
(the least model, reached by forward chaining), so it is unique.

Construction, per instance (`depth` d drawn from the split's range):

- facts: 1..`facts` atoms, level 0;
- levels 1..d: one or two new atoms per level, each the head of one rule whose
  body holds an atom of the level below (and, usually, a second atom of any
  lower level), so the closure needs exactly d rounds of forward chaining;
- distractors: rules with at least one body atom that stays false, so they
  never fire (their head may be any atom, true or false).

The recorded depth (`extra__depth.npy`) is the number of forward-chaining
rounds the closure takes, computed from the finished instance (not from the
construction). Rule order is shuffled.

Layout (`seq_len = 2 * num_atoms + 3 * num_rules`): atom i's name and
status at positions 2i, 2i + 1 (`ATOM0 + i`, then `FACT` when given, `ASK`
otherwise; the label of the status position is `YES`/`NO`, so a model finds
atom i's answer by its name, as the rules name it); then `num_rules` slots of
three tokens `[body1, body2 or NONE, head]` (unused slots PAD; unsupervised).

`deep_distractors` closes a shortcut of the default build: there a
distractor's blocking atom is usually the head of no rule, so "an atom holds
when it is a fact or the head of a rule whose body atoms are each a fact or
some rule's head" needs no chaining and is exact on 79% of depth-1-4 test
instances (two rounds of that pruning: 97%, at every depth; measured on the
`cpu_logic` build, experiments/tiny_data/README.md). Deep, the distractors
form a dead chain as long as the derivation (as far as the atoms allow: its
root and up to `depth` dead atoms, each rule's other body atom true), so
pruning needs as many rounds as forward chaining. (A first attempt, a cycle
of blocking rules, left "atoms on a rule cycle are false" exact on 100%.)

`label_mentions` also labels every token that names an atom (the name at 2i
and each mention in a rule) with that atom's `YES`/`NO`: the same answer,
shown wherever the atom is named. It adds no information to the input, only
denser supervision: a rule's body tokens are told whether their atom holds,
which is the first hop of a derivation (read the status an atom name points
to) that the model otherwise finds only through the status answers, three
attention hops later. An exact answer then needs every mention right too, a
superset of the status answers.

Splits: train and test are drawn from separate seeded streams; a test instance
whose content (facts and the set of rules, order ignored) equals a train
instance or one of its augmented variants is drawn again. `test_depth` sets
the test split's depth range (beyond the training range when higher; the
layout is fixed by `num_rules`, so it must hold the deeper instances too).

Augmentation (`num_aug`, train only): atom renaming (a permutation of the
atom ids applied to facts, rules and answer) with the rules reshuffled; the
closure commutes with renaming, so the labels stay exact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, write_build_info, write_flat_split, write_identifiers
from hrmzoo.data.progress import Progress

PAD, NO, YES, FACT, ASK, NONE = 0, 1, 2, 3, 4, 5
ATOM0 = 6
MAX_ATOMS = 64

Rule = tuple[tuple[int, ...], int]  # (body atoms, head)


def vocab_size(num_atoms: int) -> int:
    return ATOM0 + num_atoms


def seq_len(num_atoms: int, num_rules: int) -> int:
    return 2 * num_atoms + 3 * num_rules


def check_params(num_atoms: int, num_rules: int, facts: int, depth: Sequence[int], distractors: Sequence[int],
                 deep_distractors: bool = False) -> None:
    """Raise a one-line DataError when no instance with these parameters exists."""
    lo, hi = depth
    if not (1 <= lo <= hi):
        raise DataError(f"logic: depth ({lo}, {hi}) must satisfy 1 <= min <= max")
    if not (0 <= distractors[0] <= distractors[1]):
        raise DataError(f"logic: distractors {tuple(distractors)} must satisfy 0 <= min <= max")
    if not (1 <= num_atoms <= MAX_ATOMS):
        raise DataError(f"logic: num_atoms {num_atoms} must be 1..{MAX_ATOMS}")
    if deep_distractors and distractors[0] < 1:
        raise DataError(f"logic: deep_distractors needs at least 1 distractor per instance (got min {distractors[0]}); raise the distractors minimum")
    blockers = (2 if deep_distractors else 1) if distractors[1] > 0 else 0
    need_atoms = 1 + hi + blockers
    if num_atoms < need_atoms:
        raise DataError(f"logic: depth {hi} with a fact{f' and {blockers} false atom(s) for distractors' if blockers else ''} needs num_atoms >= {need_atoms} "
                        f"(got {num_atoms}); raise num_atoms or lower the depth")
    if facts < 1:
        raise DataError(f"logic: facts {facts} must be >= 1 (the closure of no facts is empty)")
    if num_rules < hi + distractors[1]:
        raise DataError(f"logic: depth {hi} + {distractors[1]} distractors needs num_rules >= {hi + distractors[1]} rule slots (got {num_rules}); "
                        "raise num_rules or lower depth/distractors")


def check_keep_depth(keep: Sequence[int] | None, depth: Sequence[int]) -> tuple[int, int]:
    """The train depths a build writes: `keep` within `depth`, or all of `depth`."""
    if keep is None:
        return int(depth[0]), int(depth[1])
    lo, hi = keep
    if not depth[0] <= lo <= hi <= depth[1]:
        raise DataError(f"logic: train_keep_depth ({lo}, {hi}) must lie within depth ({depth[0]}, {depth[1]}) with min <= max; "
                        "it selects a subset of the train instances")
    return int(lo), int(hi)


def check_label_rounds(rounds: int | None) -> None:
    if rounds is not None and (isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1):
        raise DataError(f"logic: train_label_rounds={rounds!r} must be a whole number of forward-chaining rounds >= 1 "
                        "(or null for the full closure)")


def derivation_rounds(num_atoms: int, facts: Sequence[int], rules: Sequence[Rule]) -> np.ndarray:
    """Forward chaining in rounds: per atom, the round that derives it (0: a fact; -1: never true)."""
    level = np.full(num_atoms, -1, dtype=np.int64)
    level[list(facts)] = 0
    rounds = 0
    while True:
        new = [h for body, h in rules if level[h] < 0 and all(level[b] >= 0 for b in body)]
        if not new:
            return level
        rounds += 1
        level[new] = rounds


def closure(num_atoms: int, facts: Sequence[int], rules: Sequence[Rule]) -> tuple[np.ndarray, int]:
    """Forward chaining in rounds: (truth [num_atoms] bool, rounds until nothing new)."""
    level = derivation_rounds(num_atoms, facts, rules)
    return level >= 0, int(level.max(initial=0))


def make_instance(rng: np.random.Generator, num_atoms: int, num_rules: int, max_facts: int, depth: int,
                  distractors: int, deep: bool = False) -> tuple[list[int], list[Rule]]:
    """One instance of exactly `depth` rounds: (facts, rules) in atom ids."""
    order = [int(a) for a in rng.permutation(num_atoms)]
    if deep:  # a dead chain as long as the derivation where the atoms allow: its root and `depth` dead atoms
        distractors = max(distractors, min(depth, num_rules - depth))
        reserve = max(2, min(depth + 1, num_atoms - depth - 1))
    else:
        reserve = 1 if distractors else 0  # false atoms kept for the blockers
    room = num_atoms - depth - reserve  # atoms left for facts and second atoms per level
    n_facts = int(rng.integers(1, min(max_facts, room) + 1))
    levels = [order[:n_facts]]
    used = n_facts
    spare_atoms = room - n_facts
    spare_slots = num_rules - depth - distractors
    rules: list[Rule] = []
    for _ in range(depth):
        width = 2 if (spare_atoms > 0 and spare_slots > 0 and rng.random() < 0.4) else 1
        spare_atoms -= width - 1
        spare_slots -= width - 1
        below = [a for lv in levels for a in lv]
        level = order[used:used + width]
        used += width
        for head in level:
            first = levels[-1][int(rng.integers(len(levels[-1]))) ]
            others = [a for a in below if a != first]
            if others and rng.random() < 0.7:
                body: tuple[int, ...] = (first, others[int(rng.integers(len(others)))])
            else:
                body = (first,)
            rules.append((body, head))
        levels.append(level)
    false_atoms = order[used:]
    # deep: the first k distractors are a chain root -> d1 -> ... -> dk whose root no rule concludes, each
    # rule's second body atom true, so telling the chain dead takes k + 1 rounds of pruning unsupported
    # rules, as many as forward chaining takes to derive the true atoms; the rest hang off the chain
    k = min(len(false_atoms) - 1, distractors, depth) if deep else 0
    chain = false_atoms[:k + 1] if deep else []
    for i in range(distractors):
        if i < k:
            blocker, head = chain[i], chain[i + 1]
            body = (blocker,) if rng.random() < 0.3 else (blocker, order[int(rng.integers(used))])
        else:
            dead = chain if deep else false_atoms
            blocker = dead[int(rng.integers(len(dead)))]
            rest = [a for a in range(num_atoms) if a != blocker]
            body = (blocker,) if rng.random() < 0.3 else (blocker, rest[int(rng.integers(len(rest)))])
            heads = [a for a in range(num_atoms) if a not in body]
            head = heads[int(rng.integers(len(heads)))]
        rules.append((body, head))
    rules = [rules[int(i)] for i in rng.permutation(len(rules))]
    return sorted(levels[0]), rules


def canonical_key(facts: Sequence[int], rules: Sequence[Rule]) -> bytes:
    """Content of an instance with rule order and body order ignored (the split's de-duplication key)."""
    body_rules = sorted((tuple(sorted(b)), h) for b, h in rules)
    return repr((tuple(sorted(facts)), body_rules)).encode()


def encode(num_atoms: int, num_rules: int, facts: Sequence[int], rules: Sequence[Rule],
           label_mentions: bool = False, label_rounds: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(input, label) token rows of one instance; `label_mentions` labels every atom-name token too;
    `label_rounds` k labels the truth after k rounds of forward chaining (facts and what k rounds derive)."""
    x = np.zeros(seq_len(num_atoms, num_rules), dtype=np.uint8)
    y = np.zeros_like(x)
    x[0:2 * num_atoms:2] = ATOM0 + np.arange(num_atoms)
    x[1:2 * num_atoms:2] = ASK
    x[[2 * a + 1 for a in facts]] = FACT
    level = derivation_rounds(num_atoms, facts, rules)
    truth = (level >= 0) if label_rounds is None else (level >= 0) & (level <= label_rounds)
    y[1:2 * num_atoms:2] = np.where(truth, YES, NO)
    for i, (body, head) in enumerate(rules):
        p = 2 * num_atoms + 3 * i
        x[p] = ATOM0 + body[0]
        x[p + 1] = ATOM0 + body[1] if len(body) > 1 else NONE
        x[p + 2] = ATOM0 + head
    if label_mentions:
        named = x >= ATOM0
        y[named] = np.where(truth[x[named].astype(np.int64) - ATOM0], YES, NO)
    return x, y


def decode(x: np.ndarray, num_atoms: int) -> tuple[list[int], list[Rule]]:
    """(facts, rules) of an input row (the inverse of `encode`)."""
    x = np.asarray(x).reshape(-1)
    facts = [i for i in range(num_atoms) if x[2 * i + 1] == FACT]
    rules: list[Rule] = []
    for p in range(2 * num_atoms, len(x), 3):
        if x[p] == PAD:
            continue
        body = (int(x[p]) - ATOM0,) if x[p + 1] == NONE else (int(x[p]) - ATOM0, int(x[p + 1]) - ATOM0)
        rules.append((body, int(x[p + 2]) - ATOM0))
    return facts, rules


def atom_name(i: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[i] if i < 26 else f"x{i}"


def render(x: np.ndarray, y: np.ndarray | None, num_atoms: int) -> str:
    """An instance as a person reads it: facts, rules, and (given labels) the closure."""
    facts, rules = decode(x, num_atoms)
    lines = ["facts: " + ", ".join(atom_name(a) for a in facts), "rules:"]
    lines += [f"  {' & '.join(atom_name(b) for b in body)} -> {atom_name(h)}" for body, h in rules]
    if y is not None:
        y = np.asarray(y).reshape(-1)
        lines.append("true:  " + " ".join(atom_name(i) for i in range(num_atoms) if y[2 * i + 1] == YES))
        lines.append("false: " + " ".join(atom_name(i) for i in range(num_atoms) if y[2 * i + 1] == NO))
    return "\n".join(lines)


def _rename(rng: np.random.Generator, num_atoms: int, facts: Sequence[int], rules: Sequence[Rule]) -> tuple[list[int], list[Rule]]:
    perm = [int(a) for a in rng.permutation(num_atoms)]
    new_rules = [(tuple(perm[b] for b in body), perm[h]) for body, h in rules]
    new_rules = [new_rules[int(i)] for i in rng.permutation(len(new_rules))]
    return sorted(perm[a] for a in facts), new_rules


def generate_split(rng: np.random.Generator, count: int, *, num_atoms: int, num_rules: int, facts: int, depth: Sequence[int],
                   distractors: Sequence[int], exclude: set[bytes], label: str, progress: bool = False,
                   deep_distractors: bool = False) -> list[tuple[list[int], list[Rule], int]]:
    """`count` distinct instances not in `exclude` (whose keys it adds): (facts, rules, depth)."""
    out = []
    bar = Progress(label, count, progress)
    misses = 0
    while len(out) < count:
        d = int(rng.integers(depth[0], depth[1] + 1))
        m = int(rng.integers(distractors[0], distractors[1] + 1))
        f, rules = make_instance(rng, num_atoms, num_rules, facts, d, m, deep_distractors)
        key = canonical_key(f, rules)
        if key in exclude:
            misses += 1
            if misses > 1000 + 10 * count:
                raise DataError(f"logic: could only find {len(out)} distinct instances (asked for {count}); ask for fewer or raise num_atoms")
            continue
        exclude.add(key)
        _, rounds = closure(num_atoms, f, rules)
        if rounds != d:  # the construction promises exactly d rounds; a failure here is a bug, not bad luck
            raise AssertionError(f"logic generator built depth {rounds}, wanted {d}")
        out.append((f, rules, rounds))
        bar.update(len(out))
    bar.close()
    return out


def build_logic(
    out: str | os.PathLike[str],
    *,
    num_atoms: int = 16,
    num_rules: int = 16,
    facts: int = 3,
    depth: Sequence[int] = (1, 4),
    test_depth: Sequence[int] | None = None,
    distractors: Sequence[int] = (2, 6),
    num_train: int = 1000,
    num_test: int = 1000,
    num_aug: int = 0,
    label_mentions: bool = False,
    deep_distractors: bool = False,
    train_keep_depth: Sequence[int] | None = None,
    train_label_rounds: int | None = None,
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Generate a Horn-logic dataset and write it in the HRM layout.

    Args:
        out: Dataset root.
        num_atoms: Atoms per instance (answer positions).
        num_rules: Rule slots per instance (fixed layout; unused slots are PAD).
        facts: At most this many facts (at least 1).
        depth: (min, max) forward-chaining rounds of train instances.
        test_depth: (min, max) rounds of test instances; None: `depth`.
        distractors: (min, max) rules that never fire.
        num_train: Train instances (groups).
        num_test: Test instances.
        num_aug: Atom-renamed variants per train instance.
        label_mentions: Label every atom-name token (names and rule mentions) with the atom's truth too.
        deep_distractors: Make the distractors a dead chain as deep as the derivation (see the module doc).
        train_keep_depth: (min, max): write only the train instances of these depths (with their variants),
            a curriculum stage on a subset of the very instances a full build draws; the test split
            is unchanged. None: all of them.
        train_label_rounds: k: the train labels are the truth after k rounds of forward chaining (facts
            and the atoms k rounds derive; deeper atoms NO), a curriculum stage that teaches one round
            on every training instance; the test split keeps the full closure. None: the closure.
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json`.

    Returns:
        The dataset root.
    """
    test_depth = tuple(test_depth) if test_depth is not None else tuple(depth)
    for d in (depth, test_depth):
        check_params(num_atoms, num_rules, facts, d, distractors, deep_distractors)
    if num_train < 0 or num_test < 0 or num_aug < 0:
        raise DataError("logic: num_train, num_test and num_aug must be >= 0")
    keep = check_keep_depth(train_keep_depth, depth)
    check_label_rounds(train_label_rounds)
    root = Path(out)
    seen: set[bytes] = set()
    common = dict(num_atoms=num_atoms, num_rules=num_rules, facts=facts, distractors=distractors, progress=progress,
                  deep_distractors=deep_distractors)
    train = generate_split(np.random.default_rng([seed, 0]), num_train, depth=depth, exclude=seen, label="logic train", **common)
    aug_rng = np.random.default_rng([seed, 2])
    rows: dict[str, tuple[list, list, list, list]] = {"train": ([], [], [], []), "test": ([], [], [], [])}
    for f, rules, d in train:
        variants = [(f, rules)] + [_rename(aug_rng, num_atoms, f, rules) for _ in range(num_aug)]
        for vf, vr in variants:
            seen.add(canonical_key(vf, vr))  # no test instance equals any train variant
            if not keep[0] <= d <= keep[1]:
                continue
            x, y = encode(num_atoms, num_rules, vf, vr, label_mentions, train_label_rounds)
            rows["train"][0].append(x)
            rows["train"][1].append(y)
        if keep[0] <= d <= keep[1]:
            rows["train"][2].append(len(variants))
            rows["train"][3].append(d)
    test = generate_split(np.random.default_rng([seed, 1]), num_test, depth=test_depth, exclude=seen, label="logic test", **common)
    for f, rules, d in test:
        x, y = encode(num_atoms, num_rules, f, rules, label_mentions)
        rows["test"][0].append(x)
        rows["test"][1].append(y)
        rows["test"][2].append(1)
        rows["test"][3].append(d)
    for split, (xs, ys, sizes, depths) in rows.items():
        write_flat_split(root / split, xs, ys, np.asarray(sizes, np.int64), seq_len=seq_len(num_atoms, num_rules),
                         vocab_size=vocab_size(num_atoms), extras={"depth": np.asarray(depths, np.int32)})
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_build_info(root, "logic", spec or dict(num_atoms=num_atoms, num_rules=num_rules, facts=facts, depth=list(depth),
                                                 test_depth=list(test_depth), distractors=list(distractors), num_train=num_train,
                                                 num_test=num_test, num_aug=num_aug, label_mentions=label_mentions,
                                                 deep_distractors=deep_distractors, seed=seed,
                                                 **({"train_keep_depth": list(keep)} if train_keep_depth is not None else {}),
                                                 **({"train_label_rounds": train_label_rounds} if train_label_rounds is not None else {})))
    return root
