"""The recipe schema: pydantic models built from the registries.

Each component slot of the model (`l_block`, `coupling`, `gradient`...) is a
discriminated union over every config registered for its kind, keyed on
`type`. The union is rebuilt when a component is registered (a plugin, a
test), so the schema always matches the registry.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from hrmzoo import limits, registry
from hrmzoo.paths import PathError, check_name
from hrmzoo.plugins import load_components

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

    @model_validator(mode="after")
    def _check_sizes(self):
        check_model_limits(self)
        if self.puzzle_emb_ndim > self.num_prefix * self.hidden_size:
            raise ValueError(
                f"puzzle_emb_ndim={self.puzzle_emb_ndim} does not fit in prefix_len={self.num_prefix} "
                f"tokens of hidden_size={self.hidden_size}; raise prefix_len"
            )
        return self


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
    """Sizes against `hrmzoo.limits` before anything is allocated (raises ValueError)."""
    try:
        limits.check("table_elements", cfg.hidden_size * (cfg.vocab_size + cfg.seq_len), "hidden_size x (vocab_size + seq_len)")
        limits.check("table_elements", cfg.num_puzzle_identifiers * cfg.puzzle_emb_ndim, "num_puzzle_identifiers x puzzle_emb_ndim")
        for key in ("rope_theta", "state_init_std"):
            if not math.isfinite(getattr(cfg, key)):
                raise limits.LimitError(f"{key}={getattr(cfg, key)} is not a finite number")
        for slot in COMPONENT_SLOTS:
            comp = getattr(cfg, slot, None)
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
