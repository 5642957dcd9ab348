"""Sane upper bounds checked before anything is allocated.

A recipe of a few bytes can otherwise ask for a terabyte (`hidden_size: 10000000`)
or a billion updates per segment, and crash in the allocator or swap the machine
to death. Each limit sits far above any published HRM/TRM setting; to go beyond
one on purpose, raise it with an environment variable named in the message
(`HRMZOO_LIMIT_<NAME>=<value>`).
"""

from __future__ import annotations

import os

from hrmzoo.errors import HrmzooError

DEFAULTS: dict[str, int] = {
    "hidden_size": 65_536,
    "vocab_size": 1 << 20,
    "seq_len": 1 << 20,
    "num_puzzle_identifiers": 1 << 24,
    "puzzle_emb_ndim": 1 << 16,
    # any other integer of a model component (layers, heads, cycles, segments...)
    "component_int": 1 << 16,
    # hidden_size x (vocab_size + seq_len) and num_puzzle_identifiers x puzzle_emb_ndim
    "table_elements": 1 << 31,
    # product of a coupling's *_cycles fields: updates run per segment
    "updates_per_segment": 100_000,
    "batch_size": 1 << 20,
    "steps": 10**10,
    # parameters + buffers of a model, counted before allocation (2**31 floats = 8 GiB in float32)
    "parameters": 1 << 31,
    # seconds one training step may be estimated to take (hrmzoo.model.parameter_count.check_training_fits)
    "step_seconds": 120,
    # bytes training may need; only read when HRMZOO_LIMIT_MEMORY_BYTES is set (else the memory available)
    "memory_bytes": 1 << 62,
}


class LimitError(HrmzooError):
    """A size above its sane limit."""


def limit(name: str) -> int:
    """The limit `name`, raised by `HRMZOO_LIMIT_<NAME>` when set."""
    env = f"HRMZOO_LIMIT_{name.upper()}"
    text = os.environ.get(env)
    if text is None:
        return DEFAULTS[name]
    try:
        value = int(text)
    except ValueError:
        raise LimitError(f"{env}={text!r} is not an integer") from None
    return value


def check(name: str, value: int, what: str) -> None:
    """Raise a one-line error naming the limit and how to raise it."""
    cap = limit(name)
    if value > cap:
        raise LimitError(f"{what}={value} exceeds the limit {cap}; set HRMZOO_LIMIT_{name.upper()} to raise it if you mean it")
