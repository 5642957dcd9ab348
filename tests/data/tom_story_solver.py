"""An independent reader and solver of the version-2 theory-of-mind benchmark, and the shortcut rules.

Written apart from `hrmzoo.data.tom_story`, from its documented rules only:
line of sight by clipping the centre-to-centre segment against each wall square
(the generator walks the grid lines the segment crosses), beliefs as the index
of the last move a mind saw (the generator carries cells forward). It reads an
input sequence and nothing else.

The shortcut rules answer a belief question without the perception the labels
follow; `tests/data/test_tom_story.py` bounds their scores and
`experiments/tom/floors.py` reports them as floors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tests.data import sight_lines
from hrmzoo.data import tom_story as T

# pure in its integer arguments; a build asks the same ones many times
segment_enters_square = functools.lru_cache(maxsize=1 << 20)(sight_lines.segment_enters_square)


@dataclass
class Parsed:
    n: int
    walls: set
    agents: dict  # index -> cell
    objects: dict  # index -> first cell
    events: list  # ("leave"|"enter", agent) or ("move", object, cell)
    kind: str
    x: int
    y: int
    j: int


def parse(inp: np.ndarray, n: int, max_events: int) -> Parsed:
    """Read one input: question slot, event slots of 4 tokens, then the map."""
    t = [int(v) for v in np.asarray(inp).reshape(-1)]
    head_len = len(t) - n * n
    assert head_len % n == 0 and head_len >= 4 + 4 * max_events
    grid = np.asarray(t[head_len:]).reshape(n, n)
    walls = {(r, c) for r in range(n) for c in range(n) if grid[r, c] == T.WALL}
    agents = {int(v) - T.AGENT0: (r, c) for r in range(n) for c in range(n) if T.AGENT0 <= (v := grid[r, c]) < T.AGENT0 + T.MAX_AGENTS}
    objects = {int(v) - T.OBJ0: (r, c) for r in range(n) for c in range(n) if T.OBJ0 <= (v := grid[r, c]) < T.OBJ0 + T.MAX_OBJECTS}
    assert sorted(agents) == list(range(len(agents))) and sorted(objects) == list(range(len(objects)))
    events = []
    ended = False
    for e in range(max_events):
        tok = t[4 + 4 * e: 8 + 4 * e]
        if tok == [T.PAD] * 4:
            ended = True
            continue
        assert not ended, "no event after the log's end"
        if tok[0] == T.MOVE and tok[2] >= T.CELL0:  # cell_tokens: the destination as one token, r * n + c
            assert tok[3] == T.PAD and tok[2] < T.CELL0 + n * n
            events.append(("move", tok[1] - T.THING0, ((tok[2] - T.CELL0) // n, (tok[2] - T.CELL0) % n)))
        elif tok[0] == T.MOVE:
            events.append(("move", tok[1] - T.THING0, (tok[2] - T.COORD0, tok[3] - T.COORD0)))
        else:
            assert tok[0] in (T.LEAVE, T.ENTER) and tok[2:] == [T.PAD, T.PAD]
            events.append(("leave" if tok[0] == T.LEAVE else "enter", tok[1] - T.NAME0))
    assert all(v == T.PAD for v in t[4 + 4 * max_events: head_len])
    kind = {T.Q_BELIEF: "belief", T.Q_REALITY: "reality", T.Q_MEMORY: "memory"}[t[0]]
    x = t[1] - T.NAME0 if t[1] != T.PAD else -1
    y = t[2] - T.NAME0 if t[2] != T.PAD else -1
    return Parsed(n, walls, agents, objects, events, kind, x, y, t[3] - T.THING0)


def can_see(p: Parsed, a, b, radius, walls=None) -> bool:
    walls = p.walls if walls is None else walls
    if radius is not None and (abs(a[0] - b[0]) > radius or abs(a[1] - b[1]) > radius):
        return False
    return not any(segment_enters_square(a, b, r, c) for r, c in walls)


@dataclass
class Solution:
    answer: tuple
    reality: tuple
    history: list  # j's cells in order
    presence: list  # X in the room after each event
    witness: list  # per event: 1/0 for moves X saw / missed, -1 otherwise
    belief_map: dict  # object -> cell X believes (first order)


def solve(p: Parsed, radius=None, walls=None) -> Solution:
    """The answer by the documented rules, counting which moves each mind saw."""
    ids = sorted(p.agents)
    inside = {a: True for a in ids}
    where = dict(p.objects)
    cells_of = {j: [c] for j, c in p.objects.items()}
    seen_last: dict = {}  # (a, j) -> cell after the last move of j a saw
    seen2_last: dict = {}  # (a, b, j) -> cell after the last move of j a saw b see
    presence, witness = [], []
    for ev in p.events:
        w = -1
        if ev[0] == "leave":
            assert inside[ev[1]]
            inside[ev[1]] = False
        elif ev[0] == "enter":
            assert not inside[ev[1]]
            inside[ev[1]] = True
        else:
            _, j, dst = ev
            assert dst not in p.walls or walls is not None
            saw = {a for a in ids if inside[a] and (can_see(p, p.agents[a], where[j], radius, walls) or can_see(p, p.agents[a], dst, radius, walls))}
            for a in saw:
                seen_last[(a, j)] = dst
                for b in saw - {a}:
                    if can_see(p, p.agents[a], p.agents[b], radius, walls):
                        seen2_last[(a, b, j)] = dst
            where[j] = dst
            cells_of[j].append(dst)
            w = int(p.x in saw) if p.x >= 0 else -1
        presence.append(int(inside[p.x]) if p.x >= 0 else -1)
        witness.append(w)
    if p.kind == "reality":
        answer = where[p.j]
    elif p.kind == "memory":
        answer = p.objects[p.j]
    elif p.y < 0:
        answer = seen_last.get((p.x, p.j), p.objects[p.j])
    else:
        answer = seen2_last.get((p.x, p.y, p.j), p.objects[p.j])
    believed = {j: (seen_last.get((p.x, j), p.objects[j]) if p.kind == "belief" else where[j]) for j in p.objects}
    return Solution(answer, where[p.j], cells_of[p.j], presence, witness, believed)


# ---------------------------------------------------------------------------- shortcut rules
def candidates(p: Parsed) -> list:
    """The cells object j occupies in the story (first cell, then each move's cell): every belief answer is one."""
    return [p.objects[p.j]] + [ev[2] for ev in p.events if ev[0] == "move" and ev[1] == p.j]


def rule_reality(p, radius=None):
    """Perspective-blind: the object's cell now (an omniscient observer's answer)."""
    return candidates(p)[-1]


def rule_marked(p, radius=None):
    """The object's cell marked on the map (its first cell)."""
    return candidates(p)[0]


def rule_nearest(p, radius=None):
    """Nearest marked cell: of the object's cells, the one nearest (Chebyshev, then first) to the asked agent."""
    me = p.agents[p.x]
    return min(candidates(p), key=lambda c: max(abs(c[0] - me[0]), abs(c[1] - me[1])))


def rule_no_occlusion(p, radius=None):
    """The full rules with every wall removed: presence and reach, no occlusion."""
    return solve(p, radius, walls=set()).answer


def rule_other_agent(p, radius=None):
    """Perspective-blind: the first-order belief of the lowest-numbered agent that is not the asked one (walls used)."""
    other = min(a for a in p.agents if a != p.x)
    q = Parsed(p.n, p.walls, p.agents, p.objects, p.events, "belief", other, -1, p.j)
    return solve(q, radius).answer


def rule_first_order(p, radius=None):
    """Order-blind: X's own first-order belief, also when the question asks what X thinks Y thinks (walls used)."""
    q = Parsed(p.n, p.walls, p.agents, p.objects, p.events, "belief", p.x, -1, p.j)
    return solve(q, radius).answer


def rule_event_bag(p, radius=None):
    """Order-blind: X present at the end and X never left -> the cell now, else the first cell (the log as a bag of events)."""
    left = any(ev == ("leave", p.x) for ev in p.events)
    return candidates(p)[-1] if not left else candidates(p)[0]


def rule_wall_near_line(p, radius=None):
    """Map cue: a wall on or beside (8-neighbour) X's sight lines to the last move of j -> the stale cell, else the cell now."""
    cand = candidates(p)
    src, dst = cand[-2], cand[-1]
    me = p.agents[p.x]
    near = set()
    for target in (src, dst):
        for r in range(p.n):
            for c in range(p.n):
                if segment_enters_square(me, target, r, c):
                    near |= {(r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)}
    return cand[-2] if near & p.walls else cand[-1]


RULES = {"reality": rule_reality, "marked_cell": rule_marked, "nearest_marked_cell": rule_nearest, "no_occlusion": rule_no_occlusion,
         "other_agent": rule_other_agent, "first_order_only": rule_first_order, "event_bag": rule_event_bag,
         "wall_near_line": rule_wall_near_line}
# rules that read nothing the two members of a pair differ in (where the walls stand): at most one member right
PAIR_BLIND = ("reality", "marked_cell", "nearest_marked_cell", "no_occlusion", "event_bag")


def rule_other_view(p, radius=None):
    """Partial perspective: for a second-order question, Y's own first-order belief (X's view of Y ignored)."""
    who = p.y if p.y >= 0 else p.x
    q = Parsed(p.n, p.walls, p.agents, p.objects, p.events, "belief", who, -1, p.j)
    return solve(q, radius).answer


def rule_both_saw(p, radius=None):
    """Partial perspective: the last move of j that X and Y both saw, whether or not X could see Y."""
    if p.y < 0:
        return solve(p, radius).answer
    cell, where = p.objects[p.j], dict(p.objects)
    inside = {a: True for a in p.agents}
    for ev in p.events:
        if ev[0] in ("leave", "enter"):
            inside[ev[1]] = ev[0] == "enter"
            continue
        _, j, dst = ev
        saw = [inside[a] and (can_see(p, p.agents[a], where[j], radius) or can_see(p, p.agents[a], dst, radius)) for a in (p.x, p.y)]
        if j == p.j and all(saw):
            cell = dst
        where[j] = dst
    return cell


#: not shortcuts: rules that take part of the perspective (floors for second order, not bounded at chance)
PARTIAL = {"other_view_only": rule_other_view, "both_saw_ignoring_contact": rule_both_saw}


def header_features(inputs: np.ndarray, n: int) -> np.ndarray:
    """One-hot of every header token at its position (the whole question and event log, no map): [N, H * vocab]."""
    head = np.asarray(inputs)[:, : inputs.shape[1] - n * n].astype(np.int64)
    out = np.zeros((len(head), head.shape[1] * T.VOCAB_SIZE), dtype=np.float32)
    rows = np.repeat(np.arange(len(head)), head.shape[1])
    cols = (np.arange(head.shape[1]) * T.VOCAB_SIZE)[None, :].repeat(len(head), 0).reshape(-1) + head.reshape(-1)
    out[rows, cols] = 1.0
    return out


def score(pred: list, truth: list, pair: np.ndarray) -> tuple[float, float]:
    """(exact per example, pair score: every example of a pair right)."""
    right = np.asarray([tuple(a) == tuple(b) for a, b in zip(pred, truth)])
    pairs = {}
    for ok, pid in zip(right, pair):
        pairs[pid] = pairs.get(pid, True) and bool(ok)
    return float(right.mean()), float(np.mean(list(pairs.values())))
