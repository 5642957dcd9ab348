"""The component constructor contract: what a component's `__init__` receives.

A registered component class is built as `cls(cfg, **sizes)`: its own
validated config first, then, by keyword, the sizes it declares when it
registers, as plain values (never the whole model config). So a block can be
built alone, as a timm layer can:

    @register("block", "transformer", config=TransformerBlockConfig,
              sizes=("hidden_size", "seq_len", "pos_encoding", "rope_theta"))
    class TransformerBlock(nn.Module): ...

    TransformerBlock(cfg, hidden_size=64, seq_len=20)

The sizes the model provides are the fields of `ComponentSizes` (a coupling
is also given its `levels`). `construct` passes exactly the declared ones, so
`hrmzoo list` / the catalogue and this one decorator line say who receives
what. A component registered without `sizes=` (the contract before issue 26)
still works: its constructor's signature is read instead (the names it takes,
all of them for `**kwargs`, the model config for `model_cfg`).

What a component must expose is per kind (its base class documents it):
a block maps [B, S, D] -> [B, S, D] and the model checks this when it is built
(`check_block_shape`), an injection maps (z, context) -> [B, S, D], a halting
policy has `max_segments` and `halt_logits(z)`, and so on.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

import torch

from hrmzoo import registry
from hrmzoo.errors import RecipeError


@dataclass(frozen=True)
class ComponentSizes:
    """Every size a component constructor may ask for by name.

    Attributes:
        hidden_size: width D of every state vector.
        vocab_size: token ids in inputs and labels.
        seq_len: positions of the recurrent state, prefix included (what a block sees).
        input_len: token positions of an input, before the prefix.
        num_prefix: prefix positions before the tokens (puzzle embedding).
        pos_encoding: `rope`, `learned` or `none`.
        rope_theta: RoPE base.
        num_puzzle_identifiers: rows of the per-puzzle embedding table.
        puzzle_emb_ndim: width of a puzzle embedding (0: none).
        levels: the model's `LevelSpec`s, fastest first (couplings).
        state_keys: the state tensors, slowest level first (controllers).
        output_key: the state tensor the output heads read.
        hook_points: the controller hook points the coupling's updates pass.
    """

    hidden_size: int
    vocab_size: int = 2
    seq_len: int = 1
    input_len: int = 1
    num_prefix: int = 0
    pos_encoding: str = "none"
    rope_theta: float = 10000.0
    num_puzzle_identifiers: int = 0
    puzzle_emb_ndim: int = 0
    levels: tuple = ()
    state_keys: tuple[str, ...] = ()
    output_key: str = ""
    hook_points: tuple[str, ...] = ()

    @classmethod
    def of(cls, model_cfg, **more: Any) -> "ComponentSizes":
        """The sizes of a recipe's model section (plus `more`, e.g. the levels)."""
        return cls(
            hidden_size=model_cfg.hidden_size,
            vocab_size=model_cfg.vocab_size,
            seq_len=model_cfg.total_seq_len,
            input_len=model_cfg.seq_len,
            num_prefix=model_cfg.num_prefix,
            pos_encoding=model_cfg.pos_encoding,
            rope_theta=model_cfg.rope_theta,
            num_puzzle_identifiers=model_cfg.num_puzzle_identifiers,
            puzzle_emb_ndim=model_cfg.puzzle_emb_ndim,
            **more,
        )


SIZE_NAMES = tuple(f.name for f in dataclasses.fields(ComponentSizes))


def construct(kind: str, cfg, sizes: ComponentSizes, *, where: str, model_cfg=None, **extra: Any):
    """Build the component `cfg` names, passing the sizes it declares (`register(..., sizes=...)`).

    Args:
        kind: the component kind (`block`, `halting`...).
        cfg: its validated config (its `type` picks the class).
        sizes: what the model provides.
        where: the recipe key of the config, for error messages (`model.l_block`).
        model_cfg: the whole model config, only for undeclared constructors of the
            old `(cfg, model_cfg)` contract.
        extra: further values offered by name (e.g. `levels` for a coupling).

    Raises:
        RecipeError: the component asks for a value the model does not provide.
    """
    entry = registry.get(kind, cfg.type)
    offered = {name: getattr(sizes, name) for name in SIZE_NAMES}
    offered.update(extra)
    if entry.sizes is not None:
        unknown = [name for name in entry.sizes if name not in offered]
        if unknown:
            raise RecipeError(
                f"{where}: {kind} '{cfg.type}' ({entry.module}.{entry.cls.__name__}) declares sizes={entry.sizes!r}, but the model "
                f"provides no '{unknown[0]}'; declare only names of: {', '.join(offered)}"
            )
        return entry.cls(cfg, **{name: offered[name] for name in entry.sizes})
    return entry.cls(cfg, **_sizes_by_signature(kind, entry, where, offered, model_cfg))


def _sizes_by_signature(kind: str, entry, where: str, offered: dict[str, Any], model_cfg) -> dict[str, Any]:
    """The keyword values an undeclared constructor names in its signature (the contract before issue 26)."""
    params = list(inspect.signature(entry.cls).parameters.values())[1:]  # after cfg
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return offered
    kwargs = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL,):
            continue
        if p.name == "model_cfg":  # the contract before issue 13
            kwargs["model_cfg"] = model_cfg
        elif p.name in offered:
            kwargs[p.name] = offered[p.name]
        elif p.default is p.empty:
            raise RecipeError(
                f"{where}: {kind} '{entry.name}' ({entry.module}.{entry.cls.__name__}) asks for '{p.name}', which the model does not "
                f"provide; a constructor takes (cfg, <any of: {', '.join(offered)}>) by keyword"
            )
    return kwargs


def check_block_shape(block, sizes: ComponentSizes, *, where: str) -> None:
    """Refuse a block whose output shape differs from its input's, at build time.

    One forward of a [1, S, D] zero tensor, without gradient, on the block's
    own device (a meta-device build checks shapes without computing).
    """
    param = next(block.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    shape = (1, sizes.seq_len, sizes.hidden_size)
    try:
        # no gradient, and the global generators untouched (a block with dropout draws from them)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            out = block(torch.zeros(shape, device=device, dtype=dtype))
    except Exception as exc:  # noqa: BLE001 - any failure of a user's block is a recipe error here
        raise RecipeError(f"{where}: block '{type(block).__name__}' fails on a [1, {sizes.seq_len}, {sizes.hidden_size}] input: {type(exc).__name__}: {exc}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise RecipeError(f"{where}: block '{type(block).__name__}' maps [1, {sizes.seq_len}, {sizes.hidden_size}] to {list(got) if isinstance(got, tuple) else got}; a block must keep its input's shape [B, S, D]")
