"""The ``train:`` section of a recipe."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """Optimisation and run settings.

    Attributes:
        seed: seeds model init, data order and exploration.
        device: ``auto`` picks CUDA when present, else CPU.
        dtype: ``auto`` is bf16 autocast on CUDA and float32 on CPU.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    batch_size: int = Field(64, gt=0)
    steps: int = Field(1000, gt=0)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    out_dir: Optional[str] = None
