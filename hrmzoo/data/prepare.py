"""From a `data:` config to a dataset directory, plus cheap metadata queries."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from hrmzoo.data import arc, flow, listfn, logic, maze, sudoku, tom, tom_story
from hrmzoo.data.config import ArcData, DataConfig, FlowData, ListfnData, LogicData, MazeData, MixData, PathData, SudokuData, TomData, TomStoryData
from hrmzoo.data.errors import DataError
from hrmzoo.data.format import FORMAT_VERSION, SPLITS, read_build_info
from hrmzoo.data.mix import is_mix, mix_metadata, read_mix, write_mix
from hrmzoo.data.reader import read_metadata, validate_dataset

_ADAPTER: TypeAdapter = TypeAdapter(DataConfig)


def parse_config(cfg: Any) -> Any:
    """Validate a dict (or pass through a model) as `DataConfig`."""
    if isinstance(cfg, (PathData, SudokuData, MazeData, TomData, TomStoryData, ArcData, LogicData, ListfnData, FlowData, MixData)):
        return cfg
    try:
        return _ADAPTER.validate_python(cfg)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "data"
        raise DataError(f"data config: {loc}: {first['msg']} ({e.error_count()} error(s)); fix the recipe's data section") from None


def spec_hash(cfg: Any) -> str:
    """Stable hash of a spec (and the format version), used as the cache key."""
    payload = json.dumps({"v": FORMAT_VERSION, "spec": cfg.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_into(cfg: Any, out: str | os.PathLike[str], *, progress: bool = False) -> Path:
    """Run the generator of a leaf spec into directory `out` (no caching)."""
    spec = cfg.model_dump(mode="json")
    if isinstance(cfg, SudokuData):
        return sudoku.build_sudoku(out, size=cfg.size, num_train=cfg.num_train, num_test=cfg.num_test, num_aug=cfg.num_aug,
                                   givens=cfg.givens, min_backtracks=cfg.min_backtracks, seed=cfg.seed, progress=progress, spec=spec)
    if isinstance(cfg, MazeData):
        return maze.build_maze(out, size=cfg.size, num_train=cfg.num_train, num_test=cfg.num_test, min_path_len=cfg.min_path_len,
                               augment=cfg.augment, seed=cfg.seed, progress=progress, spec=spec)
    if isinstance(cfg, TomData):
        return tom.build_tom(out, kind=cfg.kind, size=cfg.size, num_agents=cfg.num_agents, wall_density=cfg.wall_density,
                             view_radius=cfg.view_radius, max_goal_dist=cfg.max_goal_dist, num_train=cfg.num_train, num_test=cfg.num_test, seed=cfg.seed, progress=progress, spec=spec)
    if isinstance(cfg, TomStoryData):
        return tom_story.build_tom_story(out, size=cfg.size, num_agents=cfg.num_agents, num_objects=cfg.num_objects, num_events=cfg.num_events,
                                         wall_density=cfg.wall_density, view_radius=cfg.view_radius, second_order=cfg.second_order,
                                         controls=cfg.controls, test_num_agents=cfg.test_num_agents, test_num_events=cfg.test_num_events,
                                         held_out=cfg.held_out, event_slots=cfg.event_slots, cell_tokens=cfg.cell_tokens, num_train=cfg.num_train, num_test=cfg.num_test, seed=cfg.seed,
                                         progress=progress, spec=spec)
    if isinstance(cfg, ArcData):
        source = cfg.source if isinstance(cfg.source, str) else [s if isinstance(s, str) else {"dir": s.dir} for s in cfg.source]
        return arc.build_arc(out, source=source, directory=cfg.dir, evaluation=cfg.evaluation, num_aug=cfg.num_aug,
                             eval_demos_in_train=cfg.eval_demos_in_train, translate=cfg.translate, max_tasks=cfg.max_tasks,
                             seed=cfg.seed, progress=progress, spec=spec)
    if isinstance(cfg, LogicData):
        return logic.build_logic(out, num_atoms=cfg.num_atoms, num_rules=cfg.num_rules, facts=cfg.facts, depth=cfg.depth, test_depth=cfg.test_depth,
                                 distractors=cfg.distractors, num_train=cfg.num_train, num_test=cfg.num_test, num_aug=cfg.num_aug,
                                 label_mentions=cfg.label_mentions,
                                 deep_distractors=cfg.deep_distractors, train_keep_depth=cfg.train_keep_depth,
                                 train_label_rounds=cfg.train_label_rounds, seed=cfg.seed,
                                 progress=progress, spec=spec)
    if isinstance(cfg, ListfnData):
        return listfn.build_listfn(out, width=cfg.width, num_examples=cfg.num_examples, length=cfg.length, test_length=cfg.test_length,
                                   num_train=cfg.num_train, num_test=cfg.num_test, test_functions=cfg.test_functions, seed=cfg.seed,
                                   progress=progress, spec=spec)
    if isinstance(cfg, FlowData):
        return flow.build_flow(out, nodes=cfg.nodes, test_nodes=cfg.test_nodes, max_nodes=cfg.max_nodes, max_capacity=cfg.max_capacity, max_cost=cfg.max_cost,
                               max_supply=cfg.max_supply, num_train=cfg.num_train, num_test=cfg.num_test, seed=cfg.seed, progress=progress, spec=spec)
    raise TypeError(f"not a generator spec: {type(cfg).__name__}")


def atomic_build(final: Path, build) -> Path:
    """Run `build(tmp_dir)` then rename into place, so an interrupted build leaves no half dataset."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    try:
        build(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():  # another process may have won the race; theirs is equivalent
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def prepare_data(cfg: Any, cache_dir: str | Path = "data_cache", *, progress: bool = False) -> Path:
    """Return the dataset root a config describes, building it if needed.

    Generator specs build into `cache_dir/<type>-<hash>` (hash of the spec), in
    a temporary directory renamed into place on success; an existing cache entry
    is validated and reused. `path` specs are validated and returned. Mixtures
    prepare each task, then write a `mix-<hash>` directory with `mix.json`.

    Args:
        cfg: A `DataConfig` model or an equivalent dict.
        cache_dir: Where generated datasets live.
        progress: Progress lines on stderr while building.

    Returns:
        The dataset root (with `train/` and `test/`) or mixture directory.

    Raises:
        DataError: Invalid config, or a malformed dataset directory.
    """
    cfg = parse_config(cfg)
    cache = Path(cache_dir)
    if isinstance(cfg, PathData):
        root = Path(cfg.path)
        if is_mix(root):
            for t in read_mix(root):
                validate_dataset(t.root)
        else:
            validate_dataset(root)
        return root
    if isinstance(cfg, MixData):
        roots = [(t.name, prepare_data(t.data, cache, progress=progress)) for t in cfg.tasks]
        final = cache / f"mix-{spec_hash(cfg)}"
        if not final.exists():
            atomic_build(final, lambda tmp: write_mix(tmp, roots))
        return final
    final = cache / f"{cfg.type}-{spec_hash(cfg)}"
    if final.exists():
        validate_dataset(final)
        return final
    return atomic_build(final, lambda tmp: build_into(cfg, tmp, progress=progress))


def dataset_metadata(root: str | os.PathLike[str], split: str = "train") -> dict[str, Any]:
    """What the model needs (vocab_size, seq_len, num_puzzle_identifiers, ...), read from `dataset.json` only.

    Works for datasets and mixtures (which add `num_tasks` and `tasks`).
    """
    if is_mix(root):
        return mix_metadata(root, split)
    meta = read_metadata(Path(root) / split)
    out = {k: meta[k] for k in ("vocab_size", "seq_len", "num_puzzle_identifiers", "pad_id", "ignore_label_id", "blank_identifier_id")}
    out["num_tasks"] = 1
    info = read_build_info(root)
    out["generator"] = info.get("generator") if info else None
    return out


def config_metadata(cfg: Any) -> dict[str, Any]:
    """`vocab_size`/`seq_len` of a config without building (reads `dataset.json` for `path`).

    `num_puzzle_identifiers` is `None` where only a build can tell (ARC).
    """
    cfg = parse_config(cfg)
    if isinstance(cfg, PathData):
        return dataset_metadata(cfg.path)
    if isinstance(cfg, SudokuData):
        return {"vocab_size": sudoku.vocab_size(cfg.size), "seq_len": cfg.size ** 2, "num_puzzle_identifiers": 1, "num_tasks": 1}
    if isinstance(cfg, MazeData):
        return {"vocab_size": maze.VOCAB_SIZE, "seq_len": cfg.size ** 2, "num_puzzle_identifiers": 1, "num_tasks": 1}
    if isinstance(cfg, TomData):
        return {"vocab_size": tom.VOCAB_SIZE, "seq_len": tom.seq_len(cfg.size), "num_puzzle_identifiers": 1, "num_tasks": 1}
    if isinstance(cfg, TomStoryData):
        max_events = tom_story.layout_events(cfg.num_events, cfg.test_num_events, cfg.event_slots)
        return {"vocab_size": tom_story.vocab_size(cfg.size, cfg.cell_tokens), "seq_len": tom_story.seq_len(cfg.size, max_events), "num_puzzle_identifiers": 1, "num_tasks": 1}
    if isinstance(cfg, LogicData):
        return {"vocab_size": logic.vocab_size(cfg.num_atoms), "seq_len": logic.seq_len(cfg.num_atoms, cfg.num_rules), "num_puzzle_identifiers": 1, "num_tasks": 1}
    if isinstance(cfg, ListfnData):
        return {"vocab_size": listfn.VOCAB_SIZE, "seq_len": listfn.seq_len(cfg.width, cfg.num_examples), "num_puzzle_identifiers": 1, "num_tasks": 1}
    if isinstance(cfg, FlowData):
        return {"vocab_size": flow.VOCAB_SIZE, "seq_len": flow.seq_len(flow.layout_nodes(cfg.nodes, cfg.test_nodes, cfg.max_nodes)), "num_puzzle_identifiers": 1, "num_tasks": 1}
    if isinstance(cfg, ArcData):
        return {"vocab_size": arc.VOCAB_SIZE, "seq_len": arc.SEQ_LEN, "num_puzzle_identifiers": None, "num_tasks": 1}
    metas = [config_metadata(t.data) for t in cfg.tasks]
    ids = [m["num_puzzle_identifiers"] for m in metas]
    return {
        "vocab_size": max(m["vocab_size"] for m in metas),
        "seq_len": max(m["seq_len"] for m in metas),
        "num_puzzle_identifiers": None if None in ids else 1 + sum(i - 1 for i in ids),
        "num_tasks": len(metas),
        "tasks": [t.name for t in cfg.tasks],
    }


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts per split: examples, puzzles, groups, vocab_size, seq_len (mixtures: per task too)."""
    if is_mix(path):
        tasks = read_mix(path)
        per_task = {t.name: describe(t.root) for t in tasks}
        out: dict[str, Any] = {"tasks": per_task}
        for split in SPLITS:
            out[split] = {k: sum(per_task[t.name][split][k] for t in tasks) for k in ("examples", "puzzles", "groups")}
        out.update({k: v for k, v in mix_metadata(path).items() if k in ("vocab_size", "seq_len", "num_puzzle_identifiers", "num_tasks")})
        return out
    splits = validate_dataset(path)
    out = {}
    for split, d in splits.items():
        out[split] = {"examples": d.num_examples, "puzzles": d.num_puzzles, "groups": d.num_groups,
                      "vocab_size": d.vocab_size, "seq_len": d.seq_len,
                      "num_puzzle_identifiers": d.metadata["num_puzzle_identifiers"]}
    return out
