"""The `train:` section of a recipe.

Part of the recipe layer (pydantic only, no torch): the trainer reads it, the
recipe schema embeds it. The optimizer names are declared here and
`hrmzoo.recipe.train_config.OPTIMIZER_NAMES` implements exactly these.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hrmzoo.common import limits
from hrmzoo.data.stress import StressConfig

#: `train.optimizer` values; `hrmzoo.recipe.train_config.OPTIMIZER_NAMES` has one factory per name.
OPTIMIZER_NAMES = ("adam_atan2", "adamw")


class TrainConfig(BaseModel):
    """Optimisation and run settings.

    Attributes:
        seed: seeds model init, data order and exploration.
        device: `auto` picks CUDA when present, else CPU; or `cpu`, `cuda`, `cuda:1`.
        dtype: `auto` is bf16 autocast on CUDA; on a CPU it times a few training steps
            of the run's model in both dtypes at the start and takes bf16 only when it is
            at least 5% faster (with AMX `cpu_sudoku9` stepped 1.5-1.6x faster in bf16; with
            AVX-512 BF16 alone the tiny config ran at 0.72-0.74x the fp32 rate,
            `benchmarks/RESULTS.md`), caching the choice per machine and model in
            `~/.cache/hrmzoo/dtype_auto.json` (`hrmzoo.train.precision_probe`); `bfloat16`
            autocasts on any device; `float32` never autocasts.
        threads: CPU threads for torch (None: torch's default).
        batch_size: global batch (all ranks together); divisible by the world size.
        steps: optimizer steps (one per segment); ignored when `epochs` is set.
        epochs: passes over the train split, counted in sampled examples; sets `steps`.
        optimizer: `adam_atan2` (HRM), `adamw` (see `hrmzoo.recipe.train_config.OPTIMIZER_NAMES`).
        lr: peak learning rate of the network.
        betas: Adam betas (HRM/TRM: 0.9, 0.95).
        weight_decay: decoupled weight decay of the network.
        puzzle_emb_lr: learning rate of the per-puzzle embedding (sign-SGD).
        puzzle_emb_weight_decay: its decoupled weight decay (touched rows only).
        warmup_steps: linear warmup from 0 to `lr`.
        schedule: after warmup, `constant` (HRM) or `cosine` decay to `min_lr_ratio * lr`.
        min_lr_ratio: floor of the cosine schedule, as a fraction of `lr`.
        grad_clip: clip the global gradient norm to this value (None: no clipping, as HRM).
        ema_decay: keep an exponential moving average of the weights (TRM: 0.999);
            evaluation and `model.safetensors` then use the averaged weights.
        ema_warmup: ramp the averaging up (timm's schedule: decay at update t is
            `min(ema_decay, 1 - (1 + t)^(-2/3))`: 0.95 at 100 updates, 0.99 at 1,000),
            so a short run's average is not dominated by the random initialisation
            (a constant 0.999 keeps 0.999^1250 = 29% of it after 1,250 steps). TRM
            uses a constant decay from the start: `false`.
        time_budget: minutes of wall clock for the training loop; the run stops at the
            first step past it (or at `steps`, whichever comes first), saves and runs
            its final evaluation. The steps reached are in the summary and
            `metrics.jsonl`. The learning-rate schedule is still laid out over `steps`.
        compile: wrap the model in `torch.compile` (the whole segment). On one CPU core the
            tiny config's training step ran 19% faster compiled, after about 2 minutes of
            compiling per dtype (`benchmarks/RESULTS.md`), so it is off by default; turn it on
            for long runs.
        log_interval: steps between metric lines in `metrics.jsonl`.
        eval_interval: steps between evaluations on the test split (None: only at the end).
        eval_max_examples: cap on test examples for periodic evaluations (the final one uses all).
        eval_batch_size: evaluation batch (default: `batch_size`).
        final_eval: evaluate the whole test split at the end of training.
        checkpoint_interval: steps between checkpoints (always one at the end).
        keep_checkpoints: checkpoint generations kept in `RUN/checkpoints/` (at least 2,
            so a damaged newest one still leaves one to resume from).
        out_dir: run directory (default `runs/<recipe name>-<timestamp>`).
        data_cache: where generated datasets are cached (default: the data module's).
        progress: show the single-line progress on stderr.
        tensorboard: also write the logged scalars as TensorBoard events in the run
            directory (needs `pip install 'hrmzoo[tb]'`).
        init_from: start from trained weights instead of a random initialisation (a warm
            start: fine-tuning, or a curriculum from an easier task): a run directory, a
            `.safetensors` checkpoint or `pretrained:NAME`. Every tensor's name and shape
            must match this recipe's model (a conv network is the same at any grid size, so
            15x15 maze weights start a 30x30 run); the optimizer, schedule and step count
            start fresh, the EMA starts from these weights. A resume ignores it (the run's
            own checkpoint wins). None: random initialisation.
        stress: train under stress (`hrmzoo.data.stress`): shares of corrupted
            (`corrupt`, `corrupt_cells`) and unsolvable (`unsolvable`) training
            examples, e.g. `{corrupt: 0.1, unsolvable: 0.1}`; None: none. The
            dataset files are not changed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, ge=0, lt=2**31)
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    threads: Optional[int] = Field(None, gt=0, le=4096)
    batch_size: int = Field(64, gt=0)
    steps: int = Field(1000, gt=0)
    epochs: Optional[float] = Field(None, gt=0)
    optimizer: str = "adam_atan2"
    lr: float = Field(1e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = Field(0.1, ge=0)
    puzzle_emb_lr: float = Field(1e-2, ge=0)
    puzzle_emb_weight_decay: float = Field(0.1, ge=0)
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["constant", "cosine"] = "constant"
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    grad_clip: Optional[float] = Field(None, gt=0)
    ema_decay: Optional[float] = Field(None, gt=0, lt=1)
    ema_warmup: bool = True
    time_budget: Optional[float] = Field(None, gt=0)
    compile: bool = False
    log_interval: int = Field(50, gt=0)
    eval_interval: Optional[int] = Field(None, gt=0)
    eval_max_examples: Optional[int] = Field(None, gt=0)
    eval_batch_size: Optional[int] = Field(None, gt=0)
    final_eval: bool = True
    checkpoint_interval: Optional[int] = Field(None, gt=0)
    keep_checkpoints: int = Field(2, ge=2)
    out_dir: Optional[str] = None
    data_cache: Optional[str] = None
    progress: bool = True
    tensorboard: bool = False
    init_from: Optional[str] = Field(None, min_length=1)
    stress: Optional[StressConfig] = None

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        if name not in OPTIMIZER_NAMES:
            raise ValueError(f"unknown optimizer '{name}'; choose one of: {', '.join(sorted(OPTIMIZER_NAMES))}")
        return name

    @field_validator("device")
    @classmethod
    def _known_device(cls, name: str) -> str:
        kind, _, index = name.partition(":")
        if kind not in ("auto", "cpu", "cuda", "mps") or (index and (kind not in ("cuda",) or not index.isdigit())):
            raise ValueError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps")
        return name

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(betas)}")
        return betas

    @model_validator(mode="after")
    def _within_limits(self):
        try:
            limits.check("batch_size", self.batch_size, "batch_size")
            limits.check("steps", self.steps, "steps")
        except limits.LimitError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _warmup_fits(self):
        if self.epochs is None and self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} exceeds steps={self.steps}; lower warmup_steps")
        return self
