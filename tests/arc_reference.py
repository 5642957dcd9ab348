"""The in-memory ARC builder as it was before streaming, kept as the reference the streaming builder must match byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrmzoo.data.arc import SEQ_LEN, TEST_META_FILE, VOCAB_SIZE, _place, _variants, load_source
from hrmzoo.data.format import BLANK_IDENTIFIER, SplitBuilder, write_build_info, write_identifiers, write_json, write_split


def build_arc_in_memory(out, *, source="arc1", directory=None, num_aug=100, eval_demos_in_train=True, translate=True,
                        max_tasks=None, seed=0) -> Path:
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

    train, test = SplitBuilder(SEQ_LEN), SplitBuilder(SEQ_LEN)
    test_examples, answers = [], {}
    for kind, tasks in (("training", train_tasks), ("evaluation", eval_tasks)):
        for task in tasks:
            train_group, test_group = [], []
            for s in _variants(task, num_aug, rng):
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
    root = Path(out)
    for split, builder in (("train", train), ("test", test)):
        write_split(root / split, builder.build(), vocab_size=VOCAB_SIZE, num_puzzle_identifiers=len(names))
    write_identifiers(root, names)
    write_json(root / "test" / TEST_META_FILE, {"examples": test_examples, "test_outputs": answers})
    write_build_info(root, "arc", dict(source=source, dir=str(directory) if directory else None, num_aug=num_aug,
                                       eval_demos_in_train=eval_demos_in_train, translate=translate, max_tasks=max_tasks, seed=seed),
                     extra={"num_training_tasks": len(train_tasks), "num_evaluation_tasks": len(eval_tasks)})
    return root
