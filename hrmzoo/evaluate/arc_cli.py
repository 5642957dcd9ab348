"""The ARC part of `hrmzoo eval`: resumable evaluation, both scoring rules, export for the original notebook.

Options it reads: `scoring=task|output` (which rule is printed first; both are
always reported), `export=DIR` (write predictions for the original
`arc_eval.ipynb`, see `hrmzoo.evaluate.arc_export`), `state=DIR`
(where finished chunks are kept until the evaluation completes; default
`RUN_DIR/eval_state_<split>_<hash of the settings>`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hrmzoo.errors import HrmzooError
from hrmzoo.evaluate.arc import SCORING_RULES, arc_pass_at_k, format_arc_scores
from hrmzoo.evaluate.arc_meta import load_test_meta
from hrmzoo.evaluate.core import EvalResult

ARC_KEYS = ("scoring", "export", "state")


def _files_fingerprint(ckpt: Path) -> list:
    files = sorted(ckpt.glob("*.safetensors")) if ckpt.is_dir() else [ckpt]
    return [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in files if f.is_file()]


def evaluate_arc(ctx: dict[str, Any], named: dict[str, str], overrides: list[str], max_segments: int | None) -> tuple[EvalResult, dict[str, Any], Path]:
    """Check the test metadata first (one-line error when it cannot be had), then evaluate resumably.

    Returns:
        The evaluation result, the test metadata, and the state folder (removed by `finish_arc`).
    """
    from hrmzoo.evaluate.resume import evaluate_resumable

    scoring = named.get("scoring", "task")
    if scoring not in SCORING_RULES:
        raise HrmzooError(f"scoring={scoring}: use task (all test outputs of a task right, as the original) or output (each test output, as the ARC Prize)")
    root, split = Path(ctx["root"]), ctx["split"]
    meta = load_test_meta(root, split)
    if not meta["examples"]:
        raise HrmzooError(f"{root / split}: the ARC test split has no examples; rebuild it with evaluation tasks that have test pairs")
    if ctx["limit"] is not None and ctx["limit"] < len(meta["examples"]):
        raise HrmzooError(f"limit={ctx['limit']}: ARC voting needs every augmented variant of the {len(meta['examples'])} test examples; drop limit "
                          "(an interrupted evaluation resumes, so a long one can be split over several runs)")
    ckpt = Path(ctx["ckpt"])
    fingerprint = {"checkpoint": str(ckpt.resolve()), "weights": _files_fingerprint(ckpt),
                   "data": str(root.resolve()), "split": split, "limit": ctx["limit"], "max_segments": max_segments,
                   "dtype": str(ctx["autocast_dtype"]), "overrides": list(overrides), "batch_size": ctx["batch_size"]}
    # The default folder is named by the settings, so a rerun of the same command finds it and another one does not.
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:10]
    state = Path(named["state"]) if "state" in named else (ckpt if ckpt.is_dir() else ckpt.parent) / f"eval_state_{split}_{key}"
    done_before = len(list(state.glob("chunk_*.safetensors"))) if state.is_dir() else 0
    if done_before:
        print(f"resuming: {done_before} finished chunks in {state}")
    result = evaluate_resumable(ctx["model"], root, split, state, fingerprint=fingerprint, batch_size=ctx["batch_size"],
                                limit=ctx["limit"], max_segments=max_segments, autocast_dtype=ctx["autocast_dtype"])
    return result, meta, state


def finish_arc(ctx: dict[str, Any], named: dict[str, str], result: EvalResult, meta: dict[str, Any], state: Path) -> dict[str, Any]:
    """Score under both rules, print them, export if asked, drop the finished state; returns the report part."""
    from hrmzoo.evaluate.resume import clear_state

    root, split = Path(ctx["root"]), ctx["split"]
    scores = arc_pass_at_k(root, result.samples["predictions"], result.samples["halt_confidence"], split=split, meta=meta)
    if meta.get("origin") == "reconstructed":
        print(f"ARC test metadata reconstructed from identifiers and labels ({len(meta['test_outputs'])} tasks; no arc_test_meta.json)")
    print(format_arc_scores(scores, named.get("scoring", "task")))
    if "export" in named:
        from hrmzoo.evaluate.arc_export import export_original

        out = export_original(root, split, result.samples["predictions"], result.samples["halt_confidence"], named["export"])
        print(f"export for the original arc_eval.ipynb: {out} (DATASET_PATH={out}, CHECKPOINT_PATH={out / 'step_0'})")
    clear_state(state)
    scores["headline"] = named.get("scoring", "task")
    return scores
