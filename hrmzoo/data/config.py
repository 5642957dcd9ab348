"""Recipe `data:` section: pydantic models, discriminated by `type`.

Example recipe snippets::

    data: {type: sudoku, size: 9, num_train: 1000, num_test: 200, num_aug: 1000, seed: 0}
    data: {type: maze, size: 30, min_path_len: 110, augment: true}
    data: {type: arc, source: arc1, num_aug: 300}
    data: {type: arc, source: [arc1, {dir: ConceptARC/corpus}], evaluation: arc1, num_aug: 1000}
    data: {type: tom, kind: belief, size: 8, num_agents: 2, num_train: 2000}
    data: {type: tom2, size: 8, num_agents: [2, 3], num_events: [4, 8], test_num_events: [9, 12]}
    data: {type: logic, num_atoms: 16, depth: [1, 4], test_depth: [5, 8]}
    data: {type: listfn, length: [1, 2], test_length: [3, 3]}
    data: {type: flow, nodes: [5, 7], test_nodes: [8, 10]}
    data: {type: path, path: data/sudoku-extreme-1k-aug-1000}
    data:
      type: mix
      tasks:
        - {name: sudoku4, data: {type: sudoku, size: 4, num_train: 500}}
        - {name: maze8, data: {type: maze, size: 8, num_train: 500}}

`hrmzoo.data.prepare.prepare_data` turns any of them into a dataset directory
(building generator specs into a cache keyed by the spec).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


#: Bounds on generated sizes: far above any published setting, low enough that a
#: typo (an extra zero or nine) fails at once instead of running for days.
MAX_EXAMPLES = 10_000_000
MAX_AUG = 100_000
MAX_TOTAL = 100_000_000
Seed = Annotated[int, Field(ge=0, lt=2**32, description="random seed, 0 <= seed < 2**32")]
Count = Annotated[int, Field(ge=0, le=MAX_EXAMPLES)]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_total(num_train: int, variants: int) -> None:
    if num_train * variants > MAX_TOTAL:
        raise ValueError(f"num_train={num_train} x {variants} variants = {num_train * variants} examples exceeds the limit {MAX_TOTAL}; lower num_train or the augmentation")


class PathData(_Base):
    """An already built dataset (hrmzoo or original HRM builders), or a mixture directory."""

    type: Literal["path"] = "path"
    path: str


class SudokuData(_Base):
    """Generated Sudoku (see `hrmzoo.data.sudoku`)."""

    type: Literal["sudoku"] = "sudoku"
    size: Literal[4, 6, 9] = 9
    num_train: Count = 1000
    num_test: Count = 200
    num_aug: int = Field(0, ge=0, le=MAX_AUG, description="augmented variants per train puzzle")
    givens: Optional[tuple[int, int]] = Field(None, description="(min, max) givens; default depends on size")
    min_backtracks: int = Field(0, ge=0, le=10**9, description="hardness filter (solver dead ends)")
    seed: Seed = 0

    @field_validator("givens")
    @classmethod
    def _givens_order(cls, v: Optional[tuple[int, int]]) -> Optional[tuple[int, int]]:
        if v is not None and not (0 <= v[0] <= v[1]):
            raise ValueError("givens must be (min, max) with 0 <= min <= max")
        return v

    @model_validator(mode="after")
    def _givens_fit(self) -> "SudokuData":
        if self.givens is not None and self.givens[1] > self.size * self.size:
            raise ValueError(f"givens max {self.givens[1]} exceeds {self.size * self.size} cells")
        _check_total(self.num_train, self.num_aug + 1)
        return self


class MazeData(_Base):
    """Generated perfect mazes (see `hrmzoo.data.maze`)."""

    type: Literal["maze"] = "maze"
    size: int = Field(30, ge=3, le=256)
    num_train: Count = 1000
    num_test: Count = 200
    min_path_len: int = Field(0, ge=0, le=65536, description="minimum S->G moves; 110 = original 'hard' on 30x30")
    augment: bool = False
    seed: Seed = 0

    @model_validator(mode="after")
    def _total_fits(self) -> "MazeData":
        _check_total(self.num_train, 8 if self.augment else 1)
        return self


class ArcDirSource(_Base):
    """A folder of ARC task files in a detected layout (see `hrmzoo.data.arc_sources`)."""

    dir: str = Field(min_length=1)


class TomData(_Base):
    """Perspective-taking grid worlds, one question kind (see `hrmzoo.data.tom`)."""

    type: Literal["tom"] = "tom"
    kind: Literal["visibility", "belief", "reality", "path"] = "visibility"
    size: int = Field(8, ge=6, le=16, description="map side; the sequence adds a header row: (size + 1) * size")
    num_agents: int = Field(2, ge=2, le=3, description="3 needs size >= 9 (the event log fits the header row)")
    wall_density: float = Field(0.2, ge=0.0, le=0.5)
    view_radius: Optional[int] = Field(None, ge=1, description="visibility reach in cells (Chebyshev); None: the whole map")
    max_goal_dist: Optional[int] = Field(None, ge=1, description="goal at most this many moves from the asked agent; None: anywhere")
    num_train: int = Field(1000, ge=0)
    num_test: int = Field(200, ge=0)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _agents_fit(self) -> "TomData":
        from hrmzoo.data.tom import max_agents

        if self.num_agents > max_agents(self.size):
            raise ValueError(f"num_agents {self.num_agents} needs a larger map: size {self.size} fits at most {max_agents(self.size)}")
        return self


Range = tuple[int, int]


class TomStoryData(_Base):
    """Theory of mind, version 2: belief follows perception, true/false-belief pairs (see `hrmzoo.data.tom_story`)."""

    type: Literal["tom2"] = "tom2"
    size: int = Field(8, ge=6, le=16, description="map side; the header rows hold the question and the event log")
    num_agents: Range = Field((2, 3), description="(min, max) agents per train story, 2..4")
    num_objects: int = Field(2, ge=1, le=3)
    num_events: Range = Field((4, 8), description="(min, max) events per train story")
    wall_density: float = Field(0.15, ge=0.0, le=0.4)
    view_radius: Optional[int] = Field(None, ge=1, description="sight reach in cells (Chebyshev); None: unlimited")
    second_order: float = Field(0.5, ge=0.0, le=1.0, description="fraction of pairs asking a second-order question")
    controls: bool = Field(True, description="add a reality and a memory question per pair")
    test_num_agents: Optional[Range] = Field(None, description="(min, max) agents per test story; None: num_agents")
    test_num_events: Optional[Range] = Field(None, description="(min, max) events per test story; None: num_events")
    held_out: Optional[Literal["other", "contact"]] = Field(None, description="second-order mechanism seen only in test")
    event_slots: Optional[int] = Field(None, ge=1, le=32, description="event slots of the layout (>= the longest log); None: the longest log")
    cell_tokens: bool = Field(False, description="a move names its destination with one cell token (vocabulary + size*size) instead of row and column tokens")
    num_train: Count = Field(1000, description="train stories (pairs): 2 examples each, 4 with controls")
    num_test: Count = Field(200, description="test stories (pairs)")
    seed: Seed = 0

    @model_validator(mode="after")
    def _fits(self) -> "TomStoryData":
        from hrmzoo.data.errors import DataError
        from hrmzoo.data.tom_story import check_spec

        try:
            check_spec(self.size, self.num_agents, self.num_objects, self.num_events, self.wall_density, self.view_radius,
                       self.second_order, self.test_num_agents, self.test_num_events, self.held_out, self.event_slots)
        except DataError as e:
            raise ValueError(str(e)) from None
        return self


class LogicData(_Base):
    """Propositional Horn-rule closure (see `hrmzoo.data.logic`)."""

    type: Literal["logic"] = "logic"
    num_atoms: int = Field(16, ge=1, le=64, description="atoms per instance (answer positions)")
    num_rules: int = Field(16, ge=1, le=64, description="rule slots per instance (fixed layout)")
    facts: int = Field(3, description="at most this many facts (>= 1)")
    depth: Range = Field((1, 4), description="(min, max) forward-chaining rounds of train instances")
    test_depth: Optional[Range] = Field(None, description="(min, max) rounds of test instances; None: depth")
    distractors: Range = Field((2, 6), description="(min, max) rules that never fire")
    num_train: Count = 1000
    num_test: Count = 1000
    num_aug: int = Field(0, ge=0, le=MAX_AUG, description="atom-renamed variants per train instance")
    label_mentions: bool = Field(False, description="also label every atom-name token (names, rule mentions) with the atom's truth")
    deep_distractors: bool = Field(False, description="make the distractors a dead chain as deep as the derivation (no fixed-step pruning shortcut)")
    train_keep_depth: Optional[Range] = Field(None, description="(min, max): write only the train instances of these depths (a curriculum stage on a subset of the same instances); None: all")
    train_label_rounds: Optional[int] = Field(None, ge=1, description="k: train labels are the truth after k forward-chaining rounds (a curriculum stage: one round taught on every instance); test keeps the closure; None: the closure")
    seed: Seed = 0

    @model_validator(mode="after")
    def _fits(self) -> "LogicData":
        from hrmzoo.data.errors import DataError
        from hrmzoo.data.logic import check_keep_depth, check_params

        try:
            for d in (self.depth, self.test_depth or self.depth):
                check_params(self.num_atoms, self.num_rules, self.facts, d, self.distractors, self.deep_distractors)
            check_keep_depth(self.train_keep_depth, self.depth)
        except DataError as e:
            raise ValueError(str(e)) from None
        _check_total(self.num_train, self.num_aug + 1)
        return self


class ListfnData(_Base):
    """List-program induction from input/output examples (see `hrmzoo.data.listfn`)."""

    type: Literal["listfn"] = "listfn"
    width: int = Field(6, ge=4, le=12, description="slots per list")
    num_examples: int = Field(3, ge=1, le=8, description="input/output pairs shown")
    length: Range = Field((1, 3), description="(min, max) program length of train functions")
    test_length: Optional[Range] = Field(None, description="(min, max) program length of the held-out test functions; None: length")
    num_train: Count = 1000
    num_test: Count = 1000
    test_functions: Literal["heldout", "seen"] = Field("heldout", description="test programs: held-out compositions, or train functions on new lists")
    seed: Seed = 0

    @model_validator(mode="after")
    def _fits(self) -> "ListfnData":
        from hrmzoo.data.errors import DataError
        from hrmzoo.data.listfn import check_params

        try:
            check_params(self.width, self.num_examples, self.length, self.test_length or self.length, self.test_functions)
        except DataError as e:
            raise ValueError(str(e)) from None
        return self


class FlowData(_Base):
    """Min-cost flow on small supply networks, unique optimum (see `hrmzoo.data.flow`)."""

    type: Literal["flow"] = "flow"
    nodes: Range = Field((5, 7), description="(min, max) nodes of train networks")
    test_nodes: Optional[Range] = Field(None, description="(min, max) nodes of test networks; None: nodes")
    max_nodes: Optional[int] = Field(None, description="nodes the layout holds (seq_len); None: the larger range's maximum")
    max_capacity: int = Field(4, ge=1, le=9)
    max_cost: int = Field(9, ge=1, le=9)
    max_supply: int = Field(6, ge=1, le=9)
    num_train: Count = 1000
    num_test: Count = 1000
    seed: Seed = 0

    @model_validator(mode="after")
    def _fits(self) -> "FlowData":
        from hrmzoo.data.errors import DataError
        from hrmzoo.data.flow import check_params

        try:
            check_params(self.nodes, self.test_nodes or self.nodes, self.max_capacity, self.max_cost, self.max_supply, self.max_nodes)
        except DataError as e:
            raise ValueError(str(e)) from None
        return self


class ArcData(_Base):
    """ARC-AGI tasks (see `hrmzoo.data.arc`).

    `source` is `arc1`, `arc2`, `dir` (with `dir`), or a list of
    `arc1`/`arc2`/`{dir: PATH}`, e.g. HRM's ARC-1 setting
    `source: [arc1, {dir: ConceptARC/corpus}]` with `evaluation: arc1`.
    """

    type: Literal["arc"] = "arc"
    source: Union[Literal["arc1", "arc2", "dir"], list[Union[Literal["arc1", "arc2"], ArcDirSource]]] = "arc1"
    dir: Optional[str] = None
    evaluation: Optional[str] = Field(None, description="source whose evaluation tasks form the test split (needed for a list)")
    num_aug: int = Field(100, ge=0, le=MAX_AUG)
    eval_demos_in_train: bool = True
    translate: bool = True
    max_tasks: Optional[int] = Field(None, ge=1, description="first N tasks of each split of each source (quick runs)")
    seed: Seed = 0

    @model_validator(mode="after")
    def _sources_consistent(self) -> "ArcData":
        if isinstance(self.source, str):
            if self.source == "dir" and not self.dir:
                raise ValueError("source 'dir' needs 'dir' (a directory of ARC task JSON files)")
            return self
        if self.dir:
            raise ValueError("with a list of sources, put folders in the list as {dir: PATH} instead of 'dir'")
        names = [s if isinstance(s, str) else s.dir for s in self.source]
        if not names:
            raise ValueError("source list is empty; e.g. source: [arc1, {dir: ConceptARC/corpus}]")
        if self.evaluation is None:
            raise ValueError(f"a list of sources needs 'evaluation' naming the source of the test split, one of {names}")
        if self.evaluation not in names:
            raise ValueError(f"evaluation {self.evaluation!r} is not one of the sources {names}")
        return self


LeafDataConfig = Annotated[Union[PathData, SudokuData, MazeData, TomData, TomStoryData, ArcData, LogicData, ListfnData, FlowData], Field(discriminator="type")]


class MixTaskConfig(_Base):
    """One task of a mixture: a name and its data spec (not itself a mix)."""

    name: str = Field(min_length=1)
    data: LeafDataConfig


class MixData(_Base):
    """Several tasks behind one loader; each sample carries its task's `task_id` (list position)."""

    type: Literal["mix"] = "mix"
    tasks: list[MixTaskConfig] = Field(min_length=1)

    @field_validator("tasks")
    @classmethod
    def _unique_names(cls, v: list[MixTaskConfig]) -> list[MixTaskConfig]:
        names = [t.name for t in v]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        return v


DataConfig = Annotated[Union[PathData, SudokuData, MazeData, TomData, TomStoryData, ArcData, LogicData, ListfnData, FlowData, MixData], Field(discriminator="type")]


__all__ = ["PathData", "SudokuData", "MazeData", "TomData", "TomStoryData", "ArcDirSource", "ArcData", "LogicData", "ListfnData", "FlowData", "MixTaskConfig", "MixData", "DataConfig", "LeafDataConfig"]
