"""Theory-of-mind benchmark, version 2: belief follows perception, and no one-token shortcut.

Version 1 (`hrmzoo.data.tom`) decided false belief by one header cue (agent k's
`leaves` before `move`). Here an agent's belief changes only through what it
*sees*, and every pair of stories that separates true from false belief has the
same header, so no rule that reads the event log alone, or the map without its
walls, can do better than one of the two.

A *story* is an `n x n` map (walls; agents `A..D` at their cells; objects
`a..c` at their first cells) and an event log of up to `max_events` events:

- `leave X` / `enter X`: agent X leaves the room / comes back to its cell;
- `move j r c`: object j is moved from where it is to cell (r, c). With
  `cell_tokens`, the destination is one token naming the cell, `CELL0 + r*n + c`
  (the map position it points to), instead of a row and a column token: a model
  can then bind a move to its cell in one step (an attention query from the cell
  meets the token that names it) rather than join two tokens first.

Perception (the rule every label follows): agent X *witnesses* a move when X is
in the room and has a line of sight, within `view_radius` cells (Chebyshev;
None: any distance), to the object's cell before the move or after it. A line
of sight is the segment between two cell centres crossing the interior of no
wall cell (`hrmzoo.data.tom.sight_cells`; agents and objects never block).

- first-order belief of X about j: j's cell after the last move of j that X
  witnessed (its first cell if none);
- second-order belief of X about Y about j ("where does X think Y thinks j
  is"): j's cell after the last move of j that X witnessed *and* saw Y witness,
  i.e. Y witnessed it too and X had a line of sight to Y (Y in the room) at
  that moment (its first cell if none).

Questions, one per example (header slot 0..3: `[Q, X, Y or PAD, j]`):
`belief` (first order: Y is PAD; second order: Y names the other agent),
`reality` (where j is now) and `memory` (where j was first); the label marks
the answer cell `YES` and every other map cell `NO` (header unsupervised).

Pairs. Every story yields a *pair* of belief examples whose inputs differ only
in where one or two walls stand: the false-belief member has walls on the
sight lines that carried the last move of j to the asked mind (mechanism
`self`, first order: X's lines to the move; second order, `other` and `contact`
in turn: Y's lines to the move, or X's line to Y, while X sees the move in both
members, so X's own first-order belief cannot tell them apart), so the answer
is the stale cell; the true-belief member has the same
number of walls beside those lines, blocking none of them, so the answer is j's
cell now. Header, agents, objects and wall count are identical within a pair:
any rule that ignores where walls stand answers both members alike and scores
at most 50% per example and 0% on pairs. With `controls`, two control questions
are asked on the same pair of maps (`reality` on the true-belief map, `memory`
on the false-belief map).

Layout: header rows (question, then 4 tokens per event, PAD-filled, rounded up
to whole rows) above the `n` map rows: `seq_len = (header_rows + n) * n`.

Splits and determinism: story `i` of a split is drawn from
`default_rng([seed, split, i])` (split 0 train, 1 test) with that split's
ranges of agents and events (`test_num_agents`, `test_num_events`: longer logs
and more agents at test) and kept only when its *story key* (agents, objects,
event log and question, walls excluded) hashes into that split's bucket (first
SHA-256 byte < `TEST_BUCKET` for test): no story is in both splits, for any
seed or size of build. `held_out` names a second-order mechanism used only in
the test split (held-out combinations). Same arguments -> the same bytes.

Per example (`extra__*.npy`): `kind` (0 belief, 1 reality, 2 memory), `order`
(1, 2; 0 for controls), `false_belief` (1, 0; -1 for controls), `pair` (the
story's id, shared by its examples), `agent` (X, the perspective; -1 for
controls), `other` (Y or -1), `thing` (j), `mechanism` (0 self: first order,
1 other, 2 contact), `answer_kind` (0 first cell, 1 an intermediate cell, 2 cell
now), `num_agents`, `num_events`, and the perspective targets that are not in
the input: `presence` [max_events] (X in the room after each event; -1 past
the log or for controls), `witness` [max_events] (X witnessed the move; -1 for
other events) and `belief_map` [n*n] (object j+1 on the cell where X believes j
is, first order, for every object; controls: where the objects are).
`perspective_targets` recomputes those three from an input alone.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrmzoo.data.errors import DataError
from hrmzoo.data.format import BLANK_IDENTIFIER, write_build_info, write_flat_split, write_identifiers
from hrmzoo.data.progress import Progress
from hrmzoo.data.tom import _components, sight_cells

MAX_AGENTS, MAX_OBJECTS, MAX_SIZE = 4, 3, 16
PAD, WALL, OPEN = 0, 1, 2
AGENT0 = 3  # map: agents A..D at 3..6
OBJ0 = AGENT0 + MAX_AGENTS  # map: objects' first cells, 7..9
Q_BELIEF, Q_REALITY, Q_MEMORY = OBJ0 + MAX_OBJECTS, OBJ0 + MAX_OBJECTS + 1, OBJ0 + MAX_OBJECTS + 2  # 10, 11, 12
NAME0 = Q_MEMORY + 1  # header: agent names 13..16
THING0 = NAME0 + MAX_AGENTS  # header: object names 17..19
LEAVE, ENTER, MOVE = THING0 + MAX_OBJECTS, THING0 + MAX_OBJECTS + 1, THING0 + MAX_OBJECTS + 2  # 20, 21, 22
COORD0 = MOVE + 1  # header: row / column numbers 0..15 at 23..38
NO, YES = COORD0 + MAX_SIZE, COORD0 + MAX_SIZE + 1  # 39, 40
VOCAB_SIZE = YES + 1
CELL0 = VOCAB_SIZE  # with cell_tokens: a move's destination (r, c) as the one token CELL0 + r*n + c
EVENT_TOKENS = 4
QUESTION_TOKENS = 4
TEST_BUCKET = 32  # first SHA-256 byte of the story key < 32: 1/8 of stories are test stories

KINDS = ("belief", "reality", "memory")
MECHANISMS = ("self", "other", "contact")
SECOND_ORDER = ("other", "contact")  # not "self": X's own first-order belief would then tell the pair apart
ANSWER_KINDS = ("first", "intermediate", "now")
CHARSET = "?#." + "ABCD" + "abc"


# ---------------------------------------------------------------------------- layout
def header_rows(size: int, max_events: int) -> int:
    return math.ceil((QUESTION_TOKENS + EVENT_TOKENS * max_events) / size)


def layout_events(num_events: tuple[int, int], test_num_events: tuple[int, int] | None, event_slots: int | None) -> int:
    """Event slots of the layout: `event_slots`, or the longest log either split can have."""
    return event_slots if event_slots is not None else max(num_events[1], (test_num_events or num_events)[1])


def seq_len(size: int, max_events: int) -> int:
    return (header_rows(size, max_events) + size) * size


def vocab_size(size: int, cell_tokens: bool = False) -> int:
    """Tokens of a build: the shared vocabulary, plus one per map cell with `cell_tokens`."""
    return CELL0 + size * size if cell_tokens else VOCAB_SIZE


def to_text(tokens: np.ndarray, size: int, max_events: int) -> str:
    """One input as words (question, events) and the map as characters, for debugging and failing tests."""
    t = np.asarray(tokens).reshape(-1)
    hl = header_rows(size, max_events) * size
    head, grid = t[:hl], t[hl:].reshape(size, size)

    def name(v: int) -> str:
        if NAME0 <= v < NAME0 + MAX_AGENTS:
            return "ABCD"[v - NAME0]
        if THING0 <= v < THING0 + MAX_OBJECTS:
            return "abc"[v - THING0]
        if COORD0 <= v < COORD0 + MAX_SIZE:
            return str(v - COORD0)
        if CELL0 <= v < CELL0 + size * size:
            return f"{(v - CELL0) // size},{(v - CELL0) % size}"
        return "_" if v == PAD else f"<{v}>"

    q = {Q_BELIEF: "belief", Q_REALITY: "reality", Q_MEMORY: "memory"}.get(int(head[0]), "?")
    words = [f"Q:{q}(" + ",".join(name(int(v)) for v in head[1:4]) + ")"]
    for e in range(max_events):
        ev = [int(v) for v in head[QUESTION_TOKENS + EVENT_TOKENS * e: QUESTION_TOKENS + EVENT_TOKENS * (e + 1)]]
        if ev[0] == LEAVE:
            words.append(f"{name(ev[1])}-leaves")
        elif ev[0] == ENTER:
            words.append(f"{name(ev[1])}-enters")
        elif ev[0] == MOVE:
            words.append(f"move-{name(ev[1])}-to-{name(ev[2])}" + ("" if ev[3] == PAD else f",{name(ev[3])}"))
    rows = ["".join(CHARSET[int(v)] if int(v) < len(CHARSET) else "?" for v in row) for row in grid]
    return " ".join(words) + "\n" + "\n".join(rows)


# ---------------------------------------------------------------------------- stories
@dataclass
class Story:
    """What the header and map say: walls [n, n] bool, agent and object cells, events."""

    walls: np.ndarray
    agents: list[tuple[int, int]]
    objects: list[tuple[int, int]]
    events: list[tuple]  # ("leave", a) | ("enter", a) | ("move", j, (r, c))

    def key(self, question: tuple) -> bytes:
        """The story key for the split: everything but the walls."""
        return repr((self.walls.shape[0], self.agents, self.objects, self.events, question)).encode()


def sees(walls: np.ndarray, a: tuple[int, int], b: tuple[int, int], radius: int | None) -> bool:
    """Line of sight from cell a to cell b: within `radius` (Chebyshev) and no wall interior crossed."""
    if radius is not None and max(abs(a[0] - b[0]), abs(a[1] - b[1])) > radius:
        return False
    return not any(walls[c] for c in sight_cells(a, b))


@dataclass
class Replay:
    """A story replayed: presence after each event, who witnessed each move, beliefs after the log."""

    present: np.ndarray  # [E, A] bool, after each event
    witness: np.ndarray  # [E, A] bool (False for leave/enter)
    reality: list[tuple[int, int]]
    belief1: list[list[tuple[int, int]]]  # [A][O]
    belief2: list[list[list[tuple[int, int]]]]  # [A][A][O]
    history: list[list[tuple[int, int]]]  # cells each object occupied, in order


def replay(story: Story, radius: int | None) -> Replay:
    A, O, E = len(story.agents), len(story.objects), len(story.events)
    present = [True] * A
    loc = list(story.objects)
    b1 = [list(story.objects) for _ in range(A)]
    b2 = [[list(story.objects) for _ in range(A)] for _ in range(A)]
    pres = np.zeros((E, A), dtype=bool)
    wit = np.zeros((E, A), dtype=bool)
    history = [[c] for c in story.objects]
    for e, ev in enumerate(story.events):
        if ev[0] == "leave":
            present[ev[1]] = False
        elif ev[0] == "enter":
            present[ev[1]] = True
        else:
            _, j, dst = ev
            src = loc[j]
            w = [present[a] and (sees(story.walls, story.agents[a], src, radius) or sees(story.walls, story.agents[a], dst, radius)) for a in range(A)]
            for a in range(A):
                if not w[a]:
                    continue
                b1[a][j] = dst
                for b in range(A):
                    if b != a and w[b] and sees(story.walls, story.agents[a], story.agents[b], radius):
                        b2[a][b][j] = dst
            wit[e] = w
            loc[j] = dst
            history[j].append(dst)
        pres[e] = present
    return Replay(pres, wit, loc, b1, b2, history)


def _draw_story(size: int, num_agents: int, num_objects: int, num_events: int, wall_density: float, rng: np.random.Generator) -> Story | None:
    """A random map and event log (None when the draw leaves too little room)."""
    walls = rng.random((size, size)) < wall_density
    comp = _components(~walls)
    if comp.max() == 0:
        return None
    sizes = np.bincount(comp.reshape(-1))[1:]
    cells = [tuple(int(v) for v in c) for c in np.argwhere(comp == 1 + int(np.argmax(sizes)))]
    if len(cells) < num_agents + num_objects + num_events + 6:
        return None
    picks = rng.choice(len(cells), num_agents + num_objects, replace=False)
    agents = [cells[i] for i in picks[:num_agents]]
    objects = [cells[i] for i in picks[num_agents:]]
    occupied = set(agents) | set(objects)
    present = [True] * num_agents
    loc = list(objects)
    visited: list[set] = [{c} for c in objects]
    events: list[tuple] = []
    for _ in range(num_events):
        kind = rng.choice(3, p=(0.25, 0.25, 0.5))
        away = [a for a in range(num_agents) if not present[a]]
        here = [a for a in range(num_agents) if present[a]]
        if kind == 1 and away:
            a = int(rng.choice(away))
            present[a] = True
            events.append(("enter", a))
        elif kind == 0 and len(here) > 1:
            a = int(rng.choice(here))
            present[a] = False
            events.append(("leave", a))
        else:
            j = int(rng.integers(num_objects))
            # a cell the object never occupied and no one stands on or holds: every answer cell is unambiguous
            free = [c for c in cells if c not in occupied and c not in set(loc) and all(c not in v for v in visited)]
            dst = free[int(rng.integers(len(free)))]
            visited[j].add(dst)
            loc[j] = dst
            events.append(("move", j, dst))
    return Story(walls, agents, objects, events)


def _question_lines(story: Story, order: int, x: int, y: int, j: int, last: int, mechanism: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The sight lines the false-belief member blocks (see the module docstring)."""
    _, _, dst = story.events[last]
    src = _where_before(story, j, last)
    if mechanism == "self":
        return [(story.agents[x], src), (story.agents[x], dst)]
    if mechanism == "other":
        return [(story.agents[y], src), (story.agents[y], dst)]
    return [(story.agents[x], story.agents[y])]


def _where_before(story: Story, j: int, e: int) -> tuple[int, int]:
    cell = story.objects[j]
    for ev in story.events[:e]:
        if ev[0] == "move" and ev[1] == j:
            cell = ev[2]
    return cell


def _believed(rep: Replay, order: int, x: int, y: int, j: int) -> tuple[int, int]:
    return rep.belief1[x][j] if order == 1 else rep.belief2[x][y][j]


def _make_pair(story: Story, order: int, x: int, y: int, j: int, mechanism: str, radius: int | None,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """(true-belief walls, false-belief walls) for the question, or None when this story cannot give a pair."""
    moves = [e for e, ev in enumerate(story.events) if ev[0] == "move" and ev[1] == j]
    if not moves:
        return None
    last = moves[-1]
    base = replay(story, radius)
    now = base.reality[j]
    if _believed(base, order, x, y, j) != now:
        return None  # the base story must carry the last move to the asked mind
    special = set(story.agents) | {c for h in base.history for c in h}
    lines = _question_lines(story, order, x, y, j, last, mechanism)
    inner = [[c for c in sight_cells(a, b)[1:-1] if c not in special and not story.walls[c]] for a, b in lines]
    if any(not cs for cs in inner):
        return None
    blockers: list[tuple[int, int]] = []
    for a_b, cs in zip(lines, inner):
        if any(c in sight_cells(*a_b) for c in blockers):
            continue  # an earlier blocker already cuts this line
        blockers.append(cs[int(rng.integers(len(cs)))])
    fb = story.walls.copy()
    for c in blockers:
        fb[c] = True
    def holds(walls: np.ndarray, want: bool) -> bool:
        # the asked belief is (not) the cell now, and for second order X still sees the move itself
        rep = replay(Story(walls, story.agents, story.objects, story.events), radius)
        carried = _believed(rep, order, x, y, j) == now
        return carried == want and (order == 1 or rep.belief1[x][j] == now)

    if not holds(fb, False):
        return None
    on_lines = {c for a, b in lines for c in sight_cells(a, b)}
    near = sorted({(r + dr, c + dc) for r, c in on_lines for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                   if 0 <= r + dr < story.walls.shape[0] and 0 <= c + dc < story.walls.shape[1]})
    decoys = [c for c in near if c not in on_lines and c not in special and not story.walls[c]]
    if len(decoys) < len(blockers):
        return None
    for _ in range(8):
        picks = rng.choice(len(decoys), len(blockers), replace=False)
        tb = story.walls.copy()
        for i in picks:
            tb[decoys[int(i)]] = True
        if holds(tb, True):
            return tb, fb
    return None


# ---------------------------------------------------------------------------- encoding
def encode(story: Story, walls: np.ndarray, question: tuple, max_events: int, cell_tokens: bool = False) -> np.ndarray:
    """Input tokens [seq_len]: question and events in the header rows, then the map."""
    n = walls.shape[0]
    head = np.full(header_rows(n, max_events) * n, PAD, dtype=np.uint16 if cell_tokens else np.uint8)
    kind, x, y, j = question
    head[0] = {"belief": Q_BELIEF, "reality": Q_REALITY, "memory": Q_MEMORY}[kind]
    head[1] = PAD if x < 0 else NAME0 + x
    head[2] = PAD if y < 0 else NAME0 + y
    head[3] = THING0 + j
    for e, ev in enumerate(story.events):
        at = QUESTION_TOKENS + EVENT_TOKENS * e
        if ev[0] == "move" and cell_tokens:
            head[at: at + 3] = (MOVE, THING0 + ev[1], CELL0 + ev[2][0] * n + ev[2][1])
        elif ev[0] == "move":
            head[at: at + 4] = (MOVE, THING0 + ev[1], COORD0 + ev[2][0], COORD0 + ev[2][1])
        else:
            head[at: at + 2] = (LEAVE if ev[0] == "leave" else ENTER, NAME0 + ev[1])
    grid = np.where(walls, WALL, OPEN).astype(np.uint8)
    for a, c in enumerate(story.agents):
        grid[c] = AGENT0 + a
    for j, c in enumerate(story.objects):
        grid[c] = OBJ0 + j
    return np.concatenate([head, grid.reshape(-1).astype(head.dtype)])


def decode(tokens: np.ndarray, size: int, max_events: int) -> tuple[Story, tuple]:
    """The story and question an input encodes (the inverse of `encode`)."""
    t = np.asarray(tokens).reshape(-1).astype(np.int64)
    hl = header_rows(size, max_events) * size
    head, grid = t[:hl], t[hl:].reshape(size, size)
    cell = lambda token: tuple(int(v) for v in np.argwhere(grid == token)[0])  # noqa: E731
    agents = [cell(AGENT0 + a) for a in range(MAX_AGENTS) if (grid == AGENT0 + a).any()]
    objects = [cell(OBJ0 + j) for j in range(MAX_OBJECTS) if (grid == OBJ0 + j).any()]
    events: list[tuple] = []
    for e in range(max_events):
        ev = head[QUESTION_TOKENS + EVENT_TOKENS * e: QUESTION_TOKENS + EVENT_TOKENS * (e + 1)]
        if ev[0] == MOVE and ev[2] >= CELL0:  # cell_tokens: one token names the cell
            events.append(("move", int(ev[1] - THING0), divmod(int(ev[2] - CELL0), size)))
        elif ev[0] == MOVE:
            events.append(("move", int(ev[1] - THING0), (int(ev[2] - COORD0), int(ev[3] - COORD0))))
        elif ev[0] in (LEAVE, ENTER):
            events.append(("leave" if ev[0] == LEAVE else "enter", int(ev[1] - NAME0)))
    kind = {Q_BELIEF: "belief", Q_REALITY: "reality", Q_MEMORY: "memory"}[int(head[0])]
    x = int(head[1] - NAME0) if head[1] != PAD else -1
    y = int(head[2] - NAME0) if head[2] != PAD else -1
    return Story(grid == WALL, agents, objects, events), (kind, x, y, int(head[3] - THING0))


def perspective_targets(story: Story, question: tuple, max_events: int, radius: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(presence [max_events], witness [max_events], belief_map [n*n]) of the question's agent X (see the module docstring)."""
    n = story.walls.shape[0]
    rep = replay(story, radius)
    presence = np.full(max_events, -1, dtype=np.int8)
    witness = np.full(max_events, -1, dtype=np.int8)
    belief = np.zeros((n, n), dtype=np.int8)
    x = question[1]
    if question[0] != "belief":
        for j, c in enumerate(rep.reality):
            belief[c] = j + 1
        return presence, witness, belief.reshape(-1)
    for e, ev in enumerate(story.events):
        presence[e] = rep.present[e, x]
        if ev[0] == "move":
            witness[e] = rep.witness[e, x]
    for j, c in enumerate(rep.belief1[x]):
        belief[c] = j + 1
    return presence, witness, belief.reshape(-1)


def view_targets(story: Story, question: tuple, radius: int | None) -> np.ndarray:
    """[2, n*n] int8: the question's minds' views of the map, the perception every belief rests on.

    Row 0 is agent X's view, row 1 Y's (second order): 1 where the agent has a line of sight to the
    cell from its own cell (`sees`: within `radius`, no wall interior crossed), 0 where not; -1 on wall
    cells (no one looks into a wall) and for a mind the question does not name (Y on first order,
    both on the controls). Agents never move, so a view is one map for the whole log; with presence
    per event it decides which moves a mind witnessed (`replay`).
    """
    n = story.walls.shape[0]
    out = np.full((2, n, n), -1, dtype=np.int8)
    if question[0] != "belief":
        return out.reshape(2, -1)
    for row, agent in enumerate(question[1:3]):
        if agent < 0:
            continue
        a = story.agents[agent]
        for r in range(n):
            for c in range(n):
                if not story.walls[r, c]:
                    out[row, r, c] = sees(story.walls, a, (r, c), radius)
    return out.reshape(2, -1)


# ---------------------------------------------------------------------------- dataset
def check_spec(size: int, num_agents: tuple[int, int], num_objects: int, num_events: tuple[int, int], wall_density: float,
               view_radius: int | None, second_order: float, test_num_agents: tuple[int, int] | None = None,
               test_num_events: tuple[int, int] | None = None, held_out: str | None = None, event_slots: int | None = None) -> None:
    """One-line `DataError` for a spec no story can satisfy."""
    if not 6 <= size <= MAX_SIZE:
        raise DataError(f"tom2 size {size} is outside 6..{MAX_SIZE}")
    for name, (lo, hi) in (("num_agents", num_agents), ("test_num_agents", test_num_agents or num_agents)):
        if not 2 <= lo <= hi <= MAX_AGENTS:
            raise DataError(f"tom2 {name} ({lo}, {hi}) must satisfy 2 <= min <= max <= {MAX_AGENTS}")
    if not 1 <= num_objects <= MAX_OBJECTS:
        raise DataError(f"tom2 num_objects {num_objects} is outside 1..{MAX_OBJECTS}")
    for name, (lo, hi) in (("num_events", num_events), ("test_num_events", test_num_events or num_events)):
        if not 1 <= lo <= hi <= 32:
            raise DataError(f"tom2 {name} ({lo}, {hi}) must satisfy 1 <= min <= max <= 32")
    if not 0.0 <= wall_density <= 0.4:
        raise DataError(f"tom2 wall_density {wall_density} is outside 0..0.4 (denser maps leave no room for the sight lines a pair needs)")
    if view_radius is not None and view_radius < 1:
        raise DataError(f"tom2 view_radius {view_radius} must be >= 1 (or unset: unlimited)")
    if not 0.0 <= second_order <= 1.0:
        raise DataError(f"tom2 second_order {second_order} is a fraction of the pairs, 0..1")
    if held_out is not None and held_out not in SECOND_ORDER:
        raise DataError(f"tom2 held_out {held_out!r} is not one of the second-order mechanisms {', '.join(SECOND_ORDER)}")
    longest = max(num_events[1], (test_num_events or num_events)[1])
    if event_slots is not None and event_slots < longest:
        raise DataError(f"tom2 event_slots {event_slots} is fewer than the longest log ({longest} events); raise it or leave it unset")
    if held_out is not None and second_order == 0.0:
        raise DataError(f"tom2 held_out {held_out!r} needs second-order questions; set second_order > 0")


def _examples(story: Story, tb: np.ndarray, fb: np.ndarray, question: tuple, order: int, mechanism: str,
              controls: bool, max_events: int, radius: int | None, cell_tokens: bool = False) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """The pair's examples: (input, label, per-example record)."""
    _, x, y, j = question
    rows = []
    asks = [(tb, question, 0), (fb, question, 1)]
    if controls:
        asks += [(tb, ("reality", -1, -1, j), -1), (fb, ("memory", -1, -1, j), -1)]
    n = story.walls.shape[0]
    for walls, q, false_belief in asks:
        s = Story(walls, story.agents, story.objects, story.events)
        rep = replay(s, radius)
        if q[0] == "belief":
            cell = _believed(rep, order, x, y, j)
        elif q[0] == "reality":
            cell = rep.reality[j]
        else:
            cell = story.objects[j]
        hist = rep.history[j]
        answer_kind = 2 if cell == hist[-1] else (0 if cell == hist[0] else 1)
        label = np.full((n, n), NO, dtype=np.uint8)
        label[cell] = YES
        inp = encode(s, walls, q, max_events, cell_tokens)
        head = np.zeros(len(inp) - n * n, dtype=inp.dtype)
        presence, witness, belief = perspective_targets(s, q, max_events, radius)
        belief_q = q[0] == "belief"
        rows.append((inp, np.concatenate([head, label.reshape(-1)]), {
            "kind": KINDS.index(q[0]), "order": order if belief_q else 0, "false_belief": false_belief,
            "agent": q[1], "other": q[2], "thing": j, "mechanism": MECHANISMS.index(mechanism) if belief_q else -1,
            "answer_kind": answer_kind, "num_agents": len(story.agents), "num_events": len(story.events),
            "presence": presence, "witness": witness, "belief_map": belief}))
    return rows


def generate_tom_story(num_train: int, num_test: int, *, size: int = 8, num_agents: tuple[int, int] = (2, 3), num_objects: int = 2,
                       num_events: tuple[int, int] = (4, 8), wall_density: float = 0.15, view_radius: int | None = None,
                       second_order: float = 0.5, controls: bool = True, test_num_agents: tuple[int, int] | None = None,
                       test_num_events: tuple[int, int] | None = None, held_out: str | None = None, event_slots: int | None = None,
                       cell_tokens: bool = False, seed: int = 0, progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Examples per split (`num_train` / `num_test` stories, 2 examples each, 4 with `controls`).

    Returns:
        split -> `inputs`, `labels` [N, seq_len] and the per-example records (module docstring).
    """
    check_spec(size, num_agents, num_objects, num_events, wall_density, view_radius, second_order, test_num_agents, test_num_events, held_out,
               event_slots)
    max_events = layout_events(num_events, test_num_events, event_slots)
    ranges = {"train": (num_agents, num_events), "test": (test_num_agents or num_agents, test_num_events or num_events)}
    want = {"train": num_train, "test": num_test}
    out: dict[str, dict[str, np.ndarray]] = {}
    bar = Progress(f"tom2 {size}x{size}", num_train + num_test, progress)
    done = 0
    pair_id = 0
    for code, split in enumerate(("train", "test")):
        (a_lo, a_hi), (e_lo, e_hi) = ranges[split]
        rows: list = []
        seen: set[bytes] = set()
        per_story = 4 if controls else 2
        n_second = 0
        i = 0
        limit = 400 * want[split] + 2000
        while len(rows) < want[split] * (4 if controls else 2):
            if i > limit:
                raise DataError(f"tom2: only {len(rows) // (4 if controls else 2)} of {want[split]} {split} stories in {i} draws; "
                                f"lower wall_density or ask for fewer")
            rng = np.random.default_rng([seed, code, i])
            i += 1
            story = _draw_story(size, int(rng.integers(a_lo, a_hi + 1)), num_objects, int(rng.integers(e_lo, e_hi + 1)), wall_density, rng)
            if story is None:
                continue
            A = len(story.agents)
            # quotas, not coin flips: pairs of some kinds are rejected more often, and a coin would let them thin out
            kept = len(rows) // per_story
            order = 2 if n_second < second_order * (kept + 1) else 1
            x = int(rng.integers(A))
            y = -1
            mechanism = "self"
            if order == 2:
                y = int((x + 1 + rng.integers(A - 1)) % A)
                allowed = [m for m in SECOND_ORDER if (m == held_out) == (split == "test")] if held_out else list(SECOND_ORDER)
                mechanism = allowed[n_second % len(allowed)]
            # the object moved most often (ties at random): more of its false beliefs sit on a cell from the log
            moves = np.bincount([ev[1] for ev in story.events if ev[0] == "move"], minlength=num_objects)
            top = np.flatnonzero(moves == moves.max())
            j = int(top[rng.integers(len(top))])
            question = ("belief", x, y, j)
            key = story.key(question)
            in_test = hashlib.sha256(key).digest()[0] < TEST_BUCKET
            if in_test != (split == "test") or key in seen:
                continue
            pair = _make_pair(story, order, x, y, j, mechanism, view_radius, rng)
            if pair is None:
                continue
            examples = _examples(story, *pair, question, order, mechanism, controls, max_events, view_radius, cell_tokens)
            n_second += order == 2
            seen.add(key)
            for inp, lab, rec in examples:
                rows.append((inp, lab, {**rec, "pair": pair_id}))
            pair_id += 1
            done += 1
            bar.update(done)
        L = seq_len(size, max_events)
        d = {"inputs": np.stack([r[0] for r in rows]) if rows else np.zeros((0, L), np.uint8),
             "labels": np.stack([r[1] for r in rows]) if rows else np.zeros((0, L), np.uint8)}
        for name in ("kind", "order", "false_belief", "pair", "agent", "other", "thing", "mechanism", "answer_kind", "num_agents", "num_events"):
            d[name] = np.asarray([r[2][name] for r in rows], np.int32)
        d["presence"] = np.stack([r[2]["presence"] for r in rows]) if rows else np.zeros((0, max_events), np.int8)
        d["witness"] = np.stack([r[2]["witness"] for r in rows]) if rows else np.zeros((0, max_events), np.int8)
        d["belief_map"] = np.stack([r[2]["belief_map"] for r in rows]) if rows else np.zeros((0, size * size), np.int8)
        out[split] = d
    bar.close()
    return out


EXTRAS = ("kind", "order", "false_belief", "pair", "agent", "other", "thing", "mechanism", "answer_kind", "num_agents", "num_events",
          "presence", "witness", "belief_map")


def build_tom_story(out: str | os.PathLike[str], *, size: int = 8, num_agents: tuple[int, int] = (2, 3), num_objects: int = 2,
                    num_events: tuple[int, int] = (4, 8), wall_density: float = 0.15, view_radius: int | None = None,
                    second_order: float = 0.5, controls: bool = True, test_num_agents: tuple[int, int] | None = None,
                    test_num_events: tuple[int, int] | None = None, held_out: str | None = None, event_slots: int | None = None,
                    cell_tokens: bool = False, num_train: int = 1000, num_test: int = 200, seed: int = 0, progress: bool = False,
                    spec: dict | None = None) -> Path:
    """Generate the benchmark and write it in the HRM layout (one example per group; extras per example).

    Args:
        out: Dataset root.
        size: Map side.
        num_agents: (min, max) agents per train story (2..4).
        num_objects: Objects per story (1..3).
        num_events: (min, max) events per train story.
        wall_density: Probability that a cell is a wall before the pair's walls are added.
        view_radius: Sight reaches this many cells (Chebyshev); None: unlimited.
        second_order: Fraction of pairs asking a second-order question.
        controls: Add a reality and a memory question per pair.
        test_num_agents: (min, max) agents per test story; None: `num_agents`.
        test_num_events: (min, max) events per test story; None: `num_events`.
        held_out: A second-order mechanism (`other`, `contact`) seen only in test.
        event_slots: Event slots of the layout (>= the longest log); None: the longest log. Fix it to give
            builds with different logs one sequence length (a model trained on one evaluates on the other).
        cell_tokens: Write a move's destination as one token naming the cell (`CELL0 + r*n + c`; the
            vocabulary grows by n*n) instead of a row and a column token. Stories, labels and splits are
            the same as without it: only how a move is written changes.
        num_train: Train stories (pairs).
        num_test: Test stories (pairs).
        seed: Seed; same arguments -> byte-identical files.
        progress: Progress line on stderr.
        spec: Recorded in `build.json`.

    Returns:
        The dataset root.
    """
    if num_train < 0 or num_test < 0:
        raise DataError("tom2 counts must be >= 0")
    root = Path(out)
    max_events = layout_events(num_events, test_num_events, event_slots)
    data = generate_tom_story(num_train, num_test, size=size, num_agents=num_agents, num_objects=num_objects, num_events=num_events,
                              wall_density=wall_density, view_radius=view_radius, second_order=second_order, controls=controls,
                              test_num_agents=test_num_agents, test_num_events=test_num_events, held_out=held_out, event_slots=event_slots,
                              cell_tokens=cell_tokens, seed=seed, progress=progress)
    for split, d in data.items():
        write_flat_split(root / split, d["inputs"], d["labels"], np.ones(len(d["inputs"]), np.int64), seq_len=seq_len(size, max_events),
                         vocab_size=vocab_size(size, cell_tokens), extras={name: d[name] for name in EXTRAS})
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_build_info(root, "tom2", spec or dict(size=size, num_agents=list(num_agents), num_objects=num_objects, num_events=list(num_events),
                                                wall_density=wall_density, view_radius=view_radius, second_order=second_order, controls=controls,
                                                test_num_agents=test_num_agents, test_num_events=test_num_events, held_out=held_out,
                                                event_slots=event_slots, cell_tokens=cell_tokens, num_train=num_train, num_test=num_test,
                                                seed=seed),
                     extra={"max_events": max_events})
    return root
