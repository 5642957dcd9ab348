"""The original's arch config (`all_config.yaml`) and sizes read off the weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml

from hrmzoo.errors import CheckpointError

LOSSES = {"stablemax_cross_entropy": "stablemax", "softmax_cross_entropy": "softmax"}


def read_arch(config: str | Path | dict | None) -> dict[str, Any]:
    """The `arch` section of an original run's `all_config.yaml` (or the arch dict itself)."""
    if config is None:
        return {}
    if isinstance(config, dict):
        data = config
    else:
        path = Path(config)
        if not path.is_file():
            raise CheckpointError(f"{path}: config not found; pass the all_config.yaml saved beside the original checkpoint")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{path}: not readable YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{config}: expected a mapping with an 'arch' section")
    arch = data.get("arch", data)
    if not isinstance(arch, dict):
        raise CheckpointError(f"{config}: 'arch' is not a mapping")
    out = dict(arch)
    # where the original read its dataset (HRM: data_path, TRM: data_paths): its metadata
    # holds the sequence length, which RoPE and mlp_t weights do not
    for key in ("data_path", "data_paths"):
        if key in data and key not in out:
            out[key] = data[key]
    if not isinstance(config, dict):
        folder = Path(config).resolve().parent
        out["data_search"] = [str(d) for d in (folder, *folder.parents)]  # nearest first
    loss = arch.get("loss")
    if isinstance(loss, dict) and "loss_type" in loss:
        out["loss_type"] = loss["loss_type"]
    return out


def needed(arch: dict[str, Any], key: str, origin: Any, hint: str) -> Any:
    if key not in arch or isinstance(arch[key], str) and arch[key].startswith("${"):
        raise CheckpointError(f"{origin}: '{key}' is not in the weights and no config gave it; pass --config all_config.yaml or {key}={hint}")
    return arch[key]


def expansion_of(gate_up: torch.Tensor, width: int) -> float:
    """A SwiGLU expansion that rebuilds the original's inner width (packed gate|up rows / 2).

    The original sizes the inner width as round(expansion * width * 2/3) rounded up to
    a multiple of 256; several expansions give one width, and this one gives it exactly.
    """
    return (gate_up.shape[0] // 2) * 3 / (2 * width)


def dataset_paths(arch: dict[str, Any]) -> list[str]:
    """The dataset folders the original trained on: HRM's `data_path`, TRM's `data_paths` (a list)."""
    paths = []
    for key in ("data_path", "data_paths"):
        value = arch.get(key)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and item and not item.startswith("${"):
                paths.append(item)
    return paths


def dataset_metadata(data_path: str, search: list[str]) -> Path | None:
    """`<data_path>/train/dataset.json` (else `test/`), as the original's PuzzleDataset reads it.

    A relative path is the original's working directory's: it is looked for under the
    current directory, then under the config's folder and each folder above it (the
    original saves all_config.yaml in checkpoints/<project>/<run>/ below that directory).
    """
    path = Path(data_path)
    roots = [Path()] if path.is_absolute() else [Path(), *(Path(r) for r in search)]
    for root in roots:
        for split in ("train", "test"):
            meta = root / path / split / "dataset.json"
            if meta.is_file():
                return meta
    return None


def seq_len_of(arch: dict[str, Any], positions: torch.Tensor | None, prefix: int, origin: Any) -> int:
    """The sequence length: the config (or a `seq_len=` field), learned positions, or the
    `seq_len` of the dataset metadata at the config's `data_path`/`data_paths`."""
    if "seq_len" in arch:
        return int(arch["seq_len"])
    if positions is not None:
        return positions.shape[0] - prefix
    paths = dataset_paths(arch)
    for data_path in paths:
        meta = dataset_metadata(data_path, arch.get("data_search", []))
        if meta is None:
            continue
        try:
            return int(json.loads(meta.read_text(encoding="utf-8"))["seq_len"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{meta}: no readable seq_len ({type(exc).__name__}: {exc}); pass seq_len=N") from None
    if paths:
        raise CheckpointError(
            f"{origin}: the sequence length is not in RoPE or mlp_t weights, and the config's dataset {paths[0]} has no "
            f"train/dataset.json or test/dataset.json here (looked under the current directory and the config's folders); "
            f"run from the original's directory or pass seq_len=N"
        )
    raise CheckpointError(
        f"{origin}: the sequence length is not in RoPE weights or the config; pass seq_len=N "
        f"(the dataset's seq_len: 81 for 9x9 Sudoku, 900 for 30x30 mazes and ARC)"
    )


def loss_of(arch: dict[str, Any], origin: Any) -> str:
    kind = arch.get("loss_type", "stablemax_cross_entropy")
    if kind not in LOSSES:
        raise CheckpointError(f"{origin}: loss_type '{kind}' has no zoo counterpart (known: {', '.join(LOSSES)})")
    return LOSSES[kind]
