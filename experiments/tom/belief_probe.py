"""Does the empathy module's SE readout hold X's belief map? Scored per belief group on a run's test split.

    python experiments/tom/belief_probe.py RUN [RUN ...]

For a run of `tom2_perspective*` (with or without `modulate`), SE's readout is trained to give, per
map cell, the object X believes there (`hrmzoo.data.tom_story.perspective_targets`: X's own
first-order belief map). This evaluates it on the test split without the answer head: per group
(first/second order x true/false belief), the share of objects whose most likely cell under the
readout is X's believed cell, and the share of examples whose whole map is right. A readout that
copies the world's map scores ~100% on true belief and 0% of whole maps on first-order false belief
(where X's belief and the world differ). One JSON line per run.

With an FE head it also scores perception (`perception_scores`): FE's readout of X's presence after each
event and of whether X saw each move, split into the moves X saw and those it missed (what a pair's
members differ in), and with `view_map` X's and Y's view per open map cell (FE's readout, or its eyes'
with `perception_layers`), split into cells in sight and cells hidden by walls, and whole view maps.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablate  # noqa: E402  (the test split's groups, as scored there)

from hrmzoo.controllers.perspective import _targets, _views  # noqa: E402
from hrmzoo.data import tom_story  # noqa: E402
from hrmzoo.errors import HrmzooError  # noqa: E402

BELIEF_GROUPS = ablate.GROUPS[:4]


def _final_hidden(model, batches, names):
    """Yield (batch, {head: its hidden layer at its last call}) after the full segment budget, as evaluation runs it."""
    ctl = model.controller
    stash = {}
    for name in names:
        formed = ctl.heads[name].hidden

        def keep(value, perspective, _name=name, _formed=formed):  # both paths (modulating or not) form the hidden layer here
            stash[_name] = _formed(value, perspective)
            return stash[_name]

        ctl.heads[name].hidden = keep
    try:
        for b in batches:
            with torch.no_grad():
                state = None
                for _ in range(model.halting.max_segments):
                    state = model(b, state).state
            yield b, dict(stash)
    finally:
        for name in names:
            del ctl.heads[name].hidden


def _need(model, head: str, what: str):
    ctl = getattr(model, "controller", None)
    if ctl is None or head not in getattr(ctl, "heads", {}):
        raise HrmzooError(f"belief_probe: the run has no perspective controller with an {head} head; probe a tom2_perspective run{what}")
    return ctl


def _pct(c: list[int]) -> float:
    return round(100 * c[0] / c[1], 1) if c[1] else float("nan")


def belief_map_scores(model, batches, groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Per belief group: `object cell right %` and `whole map right %` of SE's readout, read from the hidden
    layer SE formed at its last call (H's final state after the full segment budget), over `batches` (in order; `groups` per example)."""
    ctl = _need(model, "SE", "")
    head, cfg = ctl.heads["SE"], ctl.cfg
    counts = {g: [0, 0, 0, 0] for g in BELIEF_GROUPS}  # objects right, objects, maps right, maps
    at = 0
    for b, hidden in _final_hidden(model, batches, ["SE"]):
        with torch.no_grad():
            logits = head.readout(head.features(hidden["SE"][:, ctl.num_prefix + ctl.header_len:])).float().numpy()
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
    return {g: {"object cell right %": round(100 * c[0] / max(c[1], 1), 1), "whole map right %": round(100 * c[2] / c[3], 1)}
            for g, c in counts.items() if c[3]}


def perception_scores(model, batches, groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Per belief group, FE's readouts (its hidden layer at its last call, the last L step of the budget) against
    the replay: X's presence after each event; X's sight of each move, on the moves X saw and on those it
    missed (a readout that says "saw" everywhere scores 100 and 0); with `view_map`, X's and Y's view per open
    map cell, on the cells in sight and on those hidden by walls, and whole view maps (every cell of both rows)."""
    ctl = _need(model, "FE", " with FE")
    head, cfg = ctl.heads["FE"], ctl.cfg
    keys = ("presence", "saw", "missed", "in sight", "hidden", "maps")
    counts = {g: {k: [0, 0] for k in keys} for g in BELIEF_GROUPS}
    starts = tom_story.QUESTION_TOKENS + tom_story.EVENT_TOKENS * np.arange(cfg.max_events)
    at = 0
    for b, hidden in _final_hidden(model, batches, ["FE"]):
        h = head.features(hidden["FE"][:, ctl.num_prefix:])
        with torch.no_grad():
            events = head.readout(h[:, starts]).float().numpy() > 0  # [B, E, 2]: present, saw
            if ctl.eyes is not None:  # FE's own eyes (perception_layers) hold the view
                view = ctl.look(b["inputs"])[1].float().numpy() > 0
            else:
                view = head.map_readout(h[:, ctl.header_len:]).float().numpy().transpose(0, 2, 1) > 0 if head.map_readout is not None else None
        inputs = b["inputs"].numpy().astype(np.int64)
        for r in range(len(inputs)):
            c = counts.get(groups[at + r])
            if c is None:
                continue
            tokens = np.ascontiguousarray(inputs[r]).tobytes()
            presence, witness, _ = _targets(tokens, cfg.size, cfg.max_events, cfg.view_radius)
            seen = _views(tokens, cfg.size, cfg.max_events, cfg.view_radius) if view is not None else None
            for key, target, pred, where in (("presence", presence, events[r, :, 0], presence >= 0), ("saw", witness, events[r, :, 1], witness == 1),
                                             ("missed", witness, events[r, :, 1], witness == 0)):
                c[key][0] += int((pred[where] == (target[where] == 1)).sum())
                c[key][1] += int(where.sum())
            if view is not None:
                for key, where in (("in sight", seen == 1), ("hidden", seen == 0)):
                    c[key][0] += int((view[r][where] == (seen[where] == 1)).sum())
                    c[key][1] += int(where.sum())
                valid = seen >= 0
                c["maps"][0] += int((view[r][valid] == (seen[valid] == 1)).all())
                c["maps"][1] += 1
        at += len(inputs)
    names = {"presence": "presence right %", "saw": "moves seen: right %", "missed": "moves missed: right %",
             "in sight": "view: cells in sight right %", "hidden": "view: hidden cells right %", "maps": "view: whole maps right %"}
    return {g: {names[k]: _pct(v) for k, v in c.items() if v[1]} for g, c in counts.items() if any(v[1] for v in c.values())}


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
    batches = [data.get_batch(idx[i:i + batch_size]) for i in range(0, len(idx), batch_size)]
    heads = getattr(getattr(model, "controller", None), "heads", {})
    out = belief_map_scores(model, batches, groups) if "SE" in heads or "FE" not in heads else {}
    if "FE" in heads:
        for g, scores in perception_scores(model, batches, groups).items():
            out.setdefault(g, {}).update(scores)
    return out


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
