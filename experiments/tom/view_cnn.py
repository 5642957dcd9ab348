"""Can sight be learned at all? A plain CNN trained on X's view map alone, given X's cell.

    python experiments/tom/view_cnn.py [--stories 2000] [--depth 8] [--width 32] [--steps 2000] [--seed 0] [--find-x] [--tied]

Issue 27's recurrent models never learned what an agent sees, even with the view as a dense target
(`model.controller.view_map`). This asks the question without the rest of the task: from the map's
walls and a one-hot channel at X's cell, a stack of 3x3 convolutions predicts, per open cell, whether X
has a line of sight to it (`tom_story.view_targets`). Train stories from the tom2 generator (1-2 events,
cell tokens, seed 0; belief questions only), test stories from the test split of another seed. Prints
one JSON line every 500 steps: loss, and on the test maps the share of whole view maps right, of hidden
cells right and of cells in sight right.

Two options move it toward what the recurrent models face: `--find-x` marks every agent's cell in its
own channel and gives X's identity as four constant channels instead of X's cell (X must be found, as
the models must find it from the question); `--tied` applies one layer `depth` times (the
recurrence's weight sharing) after the input layer, instead of `depth` different layers.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hrmzoo.data import tom_story as T


def view_examples(num_stories: int, seed: int, split: str, size: int = 8, find_x: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """([N, 2, n, n] walls and X's cell, [N, n, n] X's view: 1 in sight, 0 hidden, -1 wall) for every belief question.
    `find_x`: [N, 9, n, n] instead: walls, each agent's cell (4), X's identity as constant planes (4)."""
    d = T.generate_tom_story(num_stories if split == "train" else 0, num_stories if split == "test" else 0, size=size, seed=seed,
                             cell_tokens=True, num_events=(1, 2))[split]
    xs, ys = [], []
    for row in d["inputs"]:
        story, q = T.decode(row.astype(np.int64), size, 2)
        if q[0] != "belief":
            continue
        planes = [story.walls.astype(np.float32)]
        if find_x:
            for a in range(T.MAX_AGENTS):
                at = np.zeros((size, size), dtype=np.float32)
                if a < len(story.agents):
                    at[story.agents[a]] = 1
                planes.append(at)
            planes += [np.full((size, size), float(a == q[1]), dtype=np.float32) for a in range(T.MAX_AGENTS)]
        else:
            me = np.zeros((size, size), dtype=np.float32)
            me[story.agents[q[1]]] = 1
            planes.append(me)
        xs.append(np.stack(planes))
        ys.append(T.view_targets(story, q, None)[0].reshape(size, size))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys).astype(np.int64))


def cnn(depth: int, width: int, channels: int = 2, tied: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.SiLU()]
    shared = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.SiLU()) if tied else None
    for _ in range(depth - 1):
        layers.append(shared if tied else nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.SiLU()))
    return nn.Sequential(*layers, nn.Conv2d(width, 1, 1))


def scores(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        sees = net(x)[:, 0] > 0
    open_ = y >= 0
    maps = ((sees == (y == 1)) | ~open_).flatten(1).all(1)
    return {"whole maps right %": round(100 * maps.float().mean().item(), 1),
            "hidden cells right %": round(100 * (~sees[y == 0]).float().mean().item(), 1),
            "cells in sight right %": round(100 * sees[y == 1].float().mean().item(), 1)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stories", type=int, default=2000)
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--find-x", action="store_true", help="every agent's cell and X's identity instead of X's cell")
    p.add_argument("--tied", action="store_true", help="one layer applied depth - 1 times after the input layer")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    start = time.process_time()
    xtr, ytr = view_examples(args.stories, 0, "train", find_x=args.find_x)
    xte, yte = view_examples(300, 1, "test", find_x=args.find_x)
    net = cnn(args.depth, args.width, xtr.shape[1], args.tied)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    for step in range(1, args.steps + 1):
        i = torch.randint(0, len(xtr), (64,))
        logit, y = net(xtr[i])[:, 0], ytr[i]
        loss = F.binary_cross_entropy_with_logits(logit[y >= 0], (y[y >= 0] == 1).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == args.steps:
            print(json.dumps({"step": step, "loss": round(loss.item(), 4), "train maps": len(xtr), "test maps": len(xte),
                              **scores(net, xte, yte), "cpu_s": round(time.process_time() - start)}), flush=True)


if __name__ == "__main__":
    main()
