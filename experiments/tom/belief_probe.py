"""Does the empathy module's SE readout hold X's belief map? Scored per belief group on a run's test split.

    python experiments/tom/belief_probe.py RUN [RUN ...]

For a run of `tom2_perspective*` (with or without `modulate`), SE's readout is trained to give, per
map cell, the object X believes there (`hrmzoo.data.tom_story.perspective_targets`: X's own
first-order belief map). This evaluates it on the test split without the answer head: per group
(first/second order x true/false belief), the share of objects whose most likely cell under the
readout is X's believed cell, and the share of examples whose whole map is right. A readout that
copies the world's map scores ~100% on true belief and 0% of whole maps on first-order false belief
(where X's belief and the world differ). One JSON line per run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablate  # noqa: E402  (the test split's groups, as scored there)

from hrmzoo.controllers.perspective import _targets  # noqa: E402
from hrmzoo.errors import HrmzooError  # noqa: E402

BELIEF_GROUPS = ablate.GROUPS[:4]


def belief_map_scores(model, batches, groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Per belief group: `object cell right %` and `whole map right %` of SE's readout, read from the hidden
    layer SE formed at its last call (H's final state after the full segment budget), over `batches` (in order; `groups` per example)."""
    ctl = getattr(model, "controller", None)
    if ctl is None or "SE" not in getattr(ctl, "heads", {}):
        raise HrmzooError("belief_probe: the run has no perspective controller with an SE head; probe a tom2_perspective run")
    head, cfg, stash = ctl.heads["SE"], ctl.cfg, {}
    formed = head.hidden

    def keep(value, perspective):  # both paths (modulating or not) form the hidden layer here
        stash["hidden"] = formed(value, perspective)
        return stash["hidden"]

    head.hidden = keep
    counts = {g: [0, 0, 0, 0] for g in BELIEF_GROUPS}  # objects right, objects, maps right, maps
    at = 0
    try:
        for b in batches:
            with torch.no_grad():
                state = None
                for _ in range(model.halting.max_segments):  # every segment, as evaluation runs them
                    state = model(b, state).state
                logits = head.readout(stash["hidden"][:, ctl.num_prefix + ctl.header_len:]).float().numpy()
            inputs = b["inputs"].numpy().astype(np.int64)
            for r in range(len(inputs)):
                c = counts.get(groups[at + r])
                if c is None:
                    continue
                target = _targets(np.ascontiguousarray(inputs[r]).tobytes(), cfg.size, cfg.max_events, cfg.view_radius)[2]
                c[2] += int((logits[r].argmax(-1) == target).all())
                c[3] += 1
                for j in np.unique(target[target > 0]):
                    c[0] += int(logits[r][:, j].argmax() == np.flatnonzero(target == j)[0])
                    c[1] += 1
            at += len(inputs)
    finally:
        del head.hidden
    return {g: {"object cell right %": round(100 * c[0] / max(c[1], 1), 1), "whole map right %": round(100 * c[2] / c[3], 1)}
            for g, c in counts.items() if c[3]}


def probe_run(run_dir: Path, batch_size: int = 256) -> dict:
    from hrmzoo.data.dataset import PuzzleDataset
    from hrmzoo.data.splits import prepare_dataset
    from hrmzoo.persistence.checkpoint import load_model
    from hrmzoo.recipe import load_recipe

    if (run_dir / "ladder.json").exists():
        run_dir = run_dir / json.loads((run_dir / "ladder.json").read_text())["final"]
    model = load_model(run_dir).eval()
    recipe = load_recipe(run_dir / "recipe.yaml")
    root = prepare_dataset(recipe, recipe.train.data_cache, progress=False)
    ex = ablate._extras(root / "test")
    groups = ablate.groups_of(ex)
    data = PuzzleDataset(root, "test")
    idx = np.arange(len(groups))
    batches = (data.get_batch(idx[i:i + batch_size]) for i in range(0, len(idx), batch_size))
    return belief_map_scores(model, batches, groups)


def main(argv=None) -> None:
    torch.set_num_threads(1)
    runs = (argv if argv is not None else sys.argv[1:])
    if not runs or runs[0] in ("-h", "--help"):
        print(__doc__)
        return
    for run in runs:
        try:
            print(json.dumps({"run": run, **probe_run(Path(run))}), flush=True)
        except HrmzooError as e:
            sys.exit(f"{run}: {e}")


if __name__ == "__main__":
    main()
