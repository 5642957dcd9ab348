"""The recipe schema: pydantic models built from the registries.

Each component slot of the model (`l_block`, `coupling`, `gradient`...) is a
discriminated union over every config registered for its kind, keyed on
`type`; so are the `block` and `injection` of each entry of `model.levels`. The union is rebuilt when a component is registered (a plugin, a
test), so the schema always matches the registry.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_serializer, model_validator

from hrmzoo import registry
from hrmzoo.common import limits
from hrmzoo.common.paths import PathError, check_name
from hrmzoo.loading.plugins import load_components

# Model slot -> component kind. The order is the order in the printed tree.
COMPONENT_SLOTS: dict[str, str] = {
    "embedding": "embedding",
    "l_block": "block",
    "h_block": "block",
    "injection": "injection",
    "coupling": "coupling",
    "gradient": "gradient",
    "halting": "halting",
    "controller": "controller",
    "head": "head",
}
DEFAULT_TYPES: dict[str, str | None] = {
    "embedding": "token",
    "l_block": "transformer",
    "h_block": None,  # None: the coupling uses one network (TRM) or H mirrors L
    "injection": "add",
    "coupling": "hierarchical",
    "gradient": "one_step",
    "halting": "fixed",
    "controller": "none",
    "head": "lm",
}


class ModelBase(BaseModel):
    """Sizes shared by every component of the model.

    Attributes:
        hidden_size: width D of every state vector.
        vocab_size: number of token ids (inputs and labels).
        seq_len: tokens per example, before the puzzle prefix.
        num_puzzle_identifiers: rows of the per-puzzle embedding table (0: none).
        puzzle_emb_ndim: width of a puzzle embedding (0: no puzzle embedding).
        prefix_len: prefix tokens prepended to the sequence; default
            ceil(puzzle_emb_ndim / hidden_size). TRM uses 16.
        pos_encoding: `rope` (in attention), `learned` (added to the
            embedding) or `none`.
        rope_theta: RoPE base.
        state_init_std: std of the fixed random initial state vectors.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_size: int = Field(512, gt=0)
    vocab_size: int = Field(11, gt=1)
    seq_len: int = Field(81, gt=0)
    num_puzzle_identifiers: int = Field(1, ge=0)
    puzzle_emb_ndim: int = Field(0, ge=0)
    prefix_len: Optional[int] = Field(None, ge=0)
    pos_encoding: Literal["rope", "learned", "none"] = "rope"
    rope_theta: float = Field(10000.0, gt=0)
    state_init_std: float = Field(1.0, ge=0)

    @property
    def num_prefix(self) -> int:
        """Prefix tokens actually used (explicit or derived from the puzzle embedding width)."""
        if self.prefix_len is not None:
            return self.prefix_len
        return math.ceil(self.puzzle_emb_ndim / self.hidden_size) if self.puzzle_emb_ndim else 0

    @property
    def total_seq_len(self) -> int:
        return self.seq_len + self.num_prefix

    @field_validator("hidden_size", "vocab_size", "seq_len", "num_puzzle_identifiers", "puzzle_emb_ndim")
    @classmethod
    def _size_within_limit(cls, value: int, info):
        try:
            limits.check(info.field_name, value, info.field_name)
        except limits.LimitError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_serializer(mode="wrap")
    def _drop_two_level_keys(self, handler):
        # with model.levels the two-level keys are unused (and refused when given):
        # leave their defaults out so that a dumped recipe validates again
        out = handler(self)
        if getattr(self, "levels", None) is not None:
            out.pop("l_block", None)
            out.pop("h_block", None)
        return out

    @model_validator(mode="after")
    def _check_sizes(self):
        check_levels(self)
        check_model_limits(self)
        if self.puzzle_emb_ndim > self.num_prefix * self.hidden_size:
            raise ValueError(
                f"puzzle_emb_ndim={self.puzzle_emb_ndim} does not fit in prefix_len={self.num_prefix} "
                f"tokens of hidden_size={self.hidden_size}; raise prefix_len"
            )
        return self


class LevelBase(BaseModel):
    """One level of `model.levels` (listed fastest first).

    Attributes:
        name: the level's name, e.g. `L`, `M`, `H`: its state is `z_<name>`,
            its networks `<name lower>_block`/`_injection`, its controller hook
            points `<name lower>_context`/`_message`/`_step`.
        period: updates of the level below per update of this one (leave 1
            for the fastest level).
        block: its network (default: a copy of the fastest level's block
            config, with its own weights).
        shared_with: the name of a level whose block and injection this one
            runs (as TRM's answer y runs the latent's network); no `block` then.
        injection: how what it hears enters its block (default: `model.injection`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$", max_length=16)
    period: int = Field(1, gt=0)
    shared_with: Optional[str] = None


def check_levels(cfg: BaseModel) -> None:
    """`model.levels` against `model.coupling` (raises ValueError naming the key)."""
    levels = getattr(cfg, "levels", None)
    coupling = getattr(cfg, "coupling", None)
    uses_levels = getattr(coupling, "type", None) == "levels"
    if levels is None:
        if uses_levels:
            raise ValueError("model.coupling.type=levels needs model.levels: a list of levels, fastest first, e.g. [{name: L, block: {...}}, {name: H, period: 2}]")
        return
    if not uses_levels:
        raise ValueError(f"model.levels is given but model.coupling.type is '{getattr(coupling, 'type', None)}'; set model.coupling.type=levels (or remove model.levels)")
    for key in ("l_block", "h_block"):
        if key in cfg.model_fields_set and getattr(cfg, key) is not None:
            raise ValueError(f"model.{key}: with model.levels, give each level's network as model.levels[i].block (remove model.{key})")
    if not levels:
        raise ValueError("model.levels is empty; list at least one level")
    names = [lv.name for lv in levels]
    for i, lv in enumerate(levels):
        where = f"model.levels[{i}]"
        if lv.name.lower() in [n.lower() for n in names[:i]]:
            raise ValueError(f"{where}.name={lv.name}: another level has this name (names must differ, case aside)")
        if i == 0 and lv.period != 1:
            raise ValueError(f"{where}.period={lv.period}: the fastest level has no level below it; leave its period at 1")
        if i == 0 and lv.block is None:
            raise ValueError(f"{where}.block: the fastest level needs a block (later levels copy its config)")
        if lv.shared_with is not None:
            if lv.block is not None or lv.injection is not None:
                raise ValueError(f"{where}: give block/injection or shared_with, not both")
            owner = next((o for o in levels if o.name == lv.shared_with), None)
            if owner is None or owner is lv or owner.shared_with is not None:
                raise ValueError(f"{where}.shared_with={lv.shared_with}: name another level that has its own block (levels: {', '.join(names)})")
    steps = coupling.steps
    every = 1
    for i, lv in enumerate(levels):
        every *= lv.period if i else 1
        if every > steps:
            raise ValueError(
                f"model.levels[{i}].period={lv.period}: level {lv.name} would never run: it updates once per {every} "
                f"{levels[0].name} updates, but a segment has model.coupling.steps={steps}; lower the period or raise steps"
            )
    if steps % every:
        raise ValueError(
            f"model.coupling.steps={steps} is not a multiple of {every}, the {levels[0].name} updates per update of "
            f"the slowest level {levels[-1].name}; a segment is whole cycles"
        )
    try:
        updates, every = 0, 1
        for i, lv in enumerate(levels):
            every *= lv.period if i else 1
            updates += steps // every
        limits.check("updates_per_segment", updates, "model.levels: updates per segment")
    except limits.LimitError as exc:
        raise ValueError(str(exc)) from None


class RecipeBase(BaseModel):
    """A whole recipe: model, data and training sections.

    Attributes:
        name: a short identifier (used for run directories).
        description: one line for catalogues.
        schema_version: recipe format version, for migrating old recipes.
        imports: modules (dotted names, or `.py` files relative to the recipe)
            imported before the recipe is validated, so that the components
            they register can be named in it: plugins without packaging.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "unnamed"
    description: str = ""
    schema_version: int = 1
    imports: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _name_is_one_component(cls, name: str) -> str:
        try:
            return check_name(name, "name")
        except PathError as exc:
            raise ValueError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON/YAML-ready dict that validates back to an equal recipe."""
        return self.model_dump(mode="json")


def check_model_limits(cfg: BaseModel) -> None:
    """Sizes against `hrmzoo.common.limits` before anything is allocated (raises ValueError)."""
    try:
        limits.check("table_elements", cfg.hidden_size * (cfg.vocab_size + cfg.seq_len), "hidden_size x (vocab_size + seq_len)")
        limits.check("table_elements", cfg.num_puzzle_identifiers * cfg.puzzle_emb_ndim, "num_puzzle_identifiers x puzzle_emb_ndim")
        for key in ("rope_theta", "state_init_std"):
            if not math.isfinite(getattr(cfg, key)):
                raise limits.LimitError(f"{key}={getattr(cfg, key)} is not a finite number")
        slots = [(slot, getattr(cfg, slot, None)) for slot in COMPONENT_SLOTS]
        for i, level in enumerate(getattr(cfg, "levels", None) or ()):
            slots += [(f"levels[{i}].block", level.block), (f"levels[{i}].injection", level.injection)]
        for slot, comp in slots:
            if not isinstance(comp, BaseModel):
                continue
            cycles = 1
            for field, value in comp:
                if isinstance(value, float) and not math.isfinite(value):
                    raise limits.LimitError(f"{slot}.{field}={value} is not a finite number")
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    limits.check("component_int", value, f"{slot}.{field}")
                    if field.endswith("_cycles"):
                        cycles *= max(1, value)
            limits.check("updates_per_segment", cycles, f"{slot}: the product of its cycle counts")
    except limits.LimitError as exc:
        raise ValueError(str(exc)) from None


def _union(kind: str):
    entries = registry.REGISTRIES[kind].entries()
    configs = tuple(e.config for e in entries)
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[configs], Field(discriminator="type")]  # type: ignore[valid-type]


def _default(kind: str, name: str | None):
    if name is None:
        return None
    return registry.get(kind, name).config()


@functools.cache
def _recipe_class(version: int) -> type[RecipeBase]:
    fields: dict[str, Any] = {}
    for slot, kind in COMPONENT_SLOTS.items():
        typ = _union(kind)
        default_name = DEFAULT_TYPES[slot]
        if default_name is None:
            fields[slot] = (Optional[typ], None)
        else:
            fields[slot] = (typ, Field(default_factory=functools.partial(_default, kind, default_name)))
    level_cls = create_model(
        "Level", __base__=LevelBase, __module__=__name__,
        block=(Optional[_union("block")], None), injection=(Optional[_union("injection")], None),
    )
    level_cls.__doc__ = LevelBase.__doc__
    fields["levels"] = (Optional[tuple[level_cls, ...]], None)
    model_cls = create_model("ModelConfig", __base__=ModelBase, __module__=__name__, **fields)
    model_cls.__doc__ = ModelBase.__doc__

    from hrmzoo.data.config import DataConfig
    from hrmzoo.recipe.train_config import TrainConfig

    recipe_cls = create_model(
        "Recipe",
        __base__=RecipeBase,
        __module__=__name__,
        model=(model_cls, Field(default_factory=model_cls)),
        data=(Optional[DataConfig], None),
        train=(TrainConfig, Field(default_factory=TrainConfig)),
    )
    recipe_cls.__doc__ = RecipeBase.__doc__
    return recipe_cls


def recipe_class() -> type[RecipeBase]:
    """The Recipe model for the components registered now (built-ins and plugins loaded first)."""
    load_components()
    return _recipe_class(registry.registry_version())


def json_schema() -> dict[str, Any]:
    """JSON Schema of recipes (for editor completion of YAML)."""
    schema = recipe_class().model_json_schema()
    schema["title"] = "hrmzoo recipe"
    return schema
