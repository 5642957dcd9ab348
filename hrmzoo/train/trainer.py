"""The training loop: deep supervision with one optimizer step per segment.

Every step runs one segment on every slot of the carry (`hrmzoo.model.segment_loop`); slots
that halted take fresh samples from the step's batch; the loss (LM + halting
terms) is backpropagated through that segment only. The carry, optimizer
moments, RNG states and data position are saved with the weights, so a resumed
run continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from hrmzoo.persistence import generations as gens
from hrmzoo.recipe.build import build_model, resolve_device
from hrmzoo.persistence.checkpoint import load_weights, read_checkpoint, save_model
from hrmzoo.data.splits import check_compatible, open_split, prepare_dataset, split_metadata
from hrmzoo.common.atomic import FileTooLarge, read_small
from hrmzoo.errors import CheckpointError, HrmzooError, describe_os_error, os_error_fix
from hrmzoo.evaluate.core import EvalResult, evaluate, format_metrics
from hrmzoo.model.segment_loop import Carry, new_carry, segment_step
from hrmzoo.common.paths import check_output_dir, check_writable
from hrmzoo.common.precision import autocast_dtype
from hrmzoo.train.halt_data import fit_halt_threshold, training_split
from hrmzoo.recipe import load_recipe
from hrmzoo.model.parameter_count import check_parameters, check_training_fits, meta_model
from hrmzoo.persistence import trainer_state as st
from hrmzoo.train.data import Sampler
from hrmzoo.train.dist import DistContext
from hrmzoo.train.host import tune_cpu_allocator
from hrmzoo.train.lock import LOCK_FILE, RunLock
from hrmzoo.train.optim import build_optimizers
from hrmzoo.train.runlog import MetricsLog, ProgressLine, format_duration, require_tensorboard
from hrmzoo.train.schedule import lr_factor
from hrmzoo.common.user_cache import use_persistent_compile_cache

RECIPE_FILE = "recipe.yaml"
RUN_FILE = "run.json"
EVAL_FILE = "eval.json"
METRICS_FILE = "metrics.jsonl"
#: what `hrmzoo train` (and `hrmzoo eval`'s default report) put in a run directory; anything else is the user's
# `hrmzoo compare` records what a run was asked to be before training starts it
COMPARE_IDENTITY = "compare_identity.json"
RUN_ENTRIES = frozenset({RECIPE_FILE, RUN_FILE, EVAL_FILE, METRICS_FILE, "eval_report.json", gens.CHECKPOINTS, LOCK_FILE,
                         COMPARE_IDENTITY})


class TrainingError(HrmzooError):
    """Training cannot go on (a non-finite loss or weights, a lost process); the message says where the last good checkpoint is."""


def first_non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """Name of the first floating tensor holding a NaN or an infinity (None when all are finite)."""
    for name, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None


@dataclass
class TrainSummary:
    """What a finished run reports.

    Attributes:
        run_dir: where everything was written.
        steps: optimizer steps done in total.
        wall_s: seconds spent in this invocation's training loop.
        train: the last logged training metrics.
        test: the final evaluation of the saved weights (the EMA average when EMA is on;
            None when there is no test split or it was disabled).
        test_live: with EMA on, the final evaluation of the live (not averaged) weights.
    """

    run_dir: Path
    steps: int
    wall_s: float
    train: dict[str, Any]
    test: EvalResult | None
    test_live: EvalResult | None = None


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


class Trainer:
    """One training run.

    Args:
        recipe: a validated Recipe (or anything `load_recipe` takes).
        overrides: `key=value` strings applied to the recipe.
        run_dir: output directory (default: `train.out_dir` or `runs/<name>-<time>`).
        data_root: dataset root; default: the recipe's `data:` section, prepared and cached.
        resume: continue the run saved in `run_dir`.
        dist: process-group context (default: from the `torchrun` environment).
    """

    def __init__(self, recipe: Any, overrides: list[str] | tuple[str, ...] = (), *, run_dir: str | Path | None = None,
                 data_root: str | Path | None = None, resume: bool = False, dist: DistContext | None = None):
        self.recipe = load_recipe(recipe, overrides)
        self.cfg = self.recipe.train
        if not resume:
            self._check_init_from()  # before any data is built or run directory made
        self._setup_device(dist)  # threads, device, process group, autocast dtype
        self._open_data(data_root)  # the train and test splits, checked against the model
        self._build_model()  # checked on the meta device first, then built once; compile, EMA
        self._build_optimizers()
        self._init_loop()  # batch size, sampler, steps, RNG, the empty carry
        self.lock: RunLock | None = None
        self.run_dir = self._pick_run_dir(run_dir, resume)  # created and locked
        try:
            self._open_run(resume)  # identity, resume from the newest generation, the log, recipe.yaml
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ the constructor's steps
    def _setup_device(self, dist: DistContext | None) -> None:
        cfg = self.cfg
        if cfg.tensorboard:
            require_tensorboard()  # before any data is built or a run directory made
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        device = resolve_device(cfg.device)
        self.dist = dist or DistContext.from_env(device)
        if device.type == "cuda" and self.dist.enabled:
            device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self.amp_dtype = autocast_dtype(cfg.dtype, device)
        if device.type == "cpu":
            tune_cpu_allocator()  # keeps freed activation buffers mapped: same values, fewer page faults

    def _open_data(self, data_root: str | Path | None) -> None:
        self.data_root = Path(data_root) if data_root is not None else self._prepare_data()
        check_compatible(self.recipe.model, split_metadata(self.data_root, "train"), self.data_root)
        self.train_data = training_split(self.recipe, open_split(self.data_root, "train"))  # held-out / stressed examples
        self.test_data = None
        if (self.data_root / "test").is_dir():
            check_compatible(self.recipe.model, split_metadata(self.data_root, "test"), self.data_root)
            self.test_data = open_split(self.data_root, "test")

    def _build_model(self) -> None:
        what = f"recipe '{self.recipe.name}'"
        meta = meta_model(self.recipe.model)  # shapes only: the checks below allocate nothing
        check_parameters(self.recipe.model, what, model=meta)
        check_training_fits(self.recipe, self.device, self.dist.world, what, model=meta)
        self.model = build_model(self.recipe, device=self.device)
        if self.cfg.compile:
            use_persistent_compile_cache()  # the cold compile is paid once per machine and model, not per run
        self.forward_model = torch.compile(self.model) if self.cfg.compile else self.model
        self.ema = None
        if self.cfg.ema_decay is not None:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(self.model, decay=self.cfg.ema_decay, use_warmup=self.cfg.ema_warmup)
            self.ema.module.recipe = self.recipe

    def _build_optimizers(self) -> None:
        self.optimizer, self.sparse = build_optimizers(self.model, self.cfg)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        table = getattr(self.model.embedding, "puzzle_emb", None)
        self.net_params = [p for p in self.params if p is not table]  # gradient clipping leaves the sparse table alone

    def _init_loop(self) -> None:
        cfg = self.cfg
        self.local_batch = cfg.batch_size // max(1, self.dist.world)
        self.dtype_choice = None
        if cfg.dtype == "auto" and self.device.type == "cpu":
            self.dtype_choice = self._choose_cpu_dtype()
            self.amp_dtype = self.dtype_choice.autocast
        self.sampler = Sampler(len(self.train_data), cfg.batch_size, cfg.seed, self.dist.rank, self.dist.world)
        self.total_steps = math.ceil(cfg.epochs * len(self.train_data) / cfg.batch_size) if cfg.epochs else cfg.steps
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed * 1000 + self.dist.rank)
        self.carry: Carry | None = None
        self.step = 0
        self.last_saved: int | None = None
        self._acc_state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None

    def _open_run(self, resume: bool) -> None:
        """Under the run's lock: identity, state, log and recipe (a fresh start into a run whose
        first save never finished starts it again from step 0 and drops its log rows)."""
        if resume and self._never_saved(self.run_dir):
            recipe = self.run_dir / RECIPE_FILE
            raise CheckpointError(f"{self.run_dir}: holds no complete generation (its first save did not finish), so there is nothing to resume; "
                                  f"start it again with the command that made it, e.g. hrmzoo train {recipe} train.out_dir={self.run_dir}")
        self.run_id = self._run_identity(resume)
        if resume:
            self.load(self.run_dir)
        elif self.cfg.init_from is not None:
            self._warm_start(self.cfg.init_from)
        self.log = MetricsLog(self.run_dir, enabled=self.dist.is_main, tensorboard=self.cfg.tensorboard)
        try:
            self.log.drop_after(self.step)  # a restart or a resume replays what was logged after its step
            if self.dist.is_main:
                st.atomic_write_text(self.run_dir / RECIPE_FILE, yaml.safe_dump(self.recipe.to_dict(), sort_keys=False))
        except OSError as exc:
            raise TrainingError(f"{describe_os_error(exc)} before training started; nothing was trained, "
                                f"{self._kept()}; {os_error_fix(exc)}, then run the same command again") from None

    def _check_init_from(self) -> None:
        """A warm start from a local path that is not there is a one-line error naming what to train first."""
        source = self.cfg.init_from
        if source is None or source.startswith("pretrained:") or Path(source).exists():
            return
        from hrmzoo.recipe.shipped import list_recipes

        stage = f"{self.recipe.name}_warmup"
        first = f"run 'hrmzoo train {stage}'" if stage in list_recipes() else "train the run it names"
        raise CheckpointError(f"train.init_from={source}: no such run or checkpoint (from {Path.cwd()}); {first} first, "
                              "point train.init_from at another run, or start from scratch with train.init_from=null")

    def _warm_start(self, source: str) -> None:
        """`train.init_from`: copy trained weights into the model (and its EMA) before step 0."""
        from hrmzoo.persistence.checkpoint import read_weights

        where = f"train.init_from={source}"
        try:
            tensors, path = read_weights(source)
            load_weights(self.model, tensors, path)
        except CheckpointError as exc:
            raise CheckpointError(f"{where}: {exc}; a warm start needs a checkpoint of the same network "
                                  f"(same tensor names and shapes), or drop train.init_from") from None
        if self.ema is not None:  # the average starts where training starts
            self.ema.module.load_state_dict(self.model.state_dict())
        if self.dist.is_main:
            print(f"hrmzoo: warm start from {path} ({len(tensors)} tensors)", file=sys.stderr)

    @staticmethod
    def _never_saved(path: Path) -> bool:
        """A run hrmzoo made (run.json) that holds no generation at all, nor a save of the older layout."""
        return (path / RUN_FILE).is_file() and not gens.list_generations(path) and not (path / st.STATE_JSON).exists()

    def close(self) -> None:
        """Release the run directory's lock (the end of the run does; also on any failure)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # ------------------------------------------------------------ set-up
    def _choose_cpu_dtype(self):
        """`train.dtype: auto` on a CPU: float32 or bf16 autocast by a cached measurement (`hrmzoo.train.precision_probe`)."""
        from hrmzoo.train.precision_probe import choose_cpu_dtype

        rows = np.arange(self.local_batch) % len(self.train_data)
        batch = {k: v.to(self.device) for k, v in self.train_data.get_batch(rows).items()}
        choice = choose_cpu_dtype(self.model, batch, self.recipe.model, self.cfg.batch_size)
        if self.dist.enabled:  # every rank trains in rank 0's choice
            holder = [choice]
            torch.distributed.broadcast_object_list(holder, 0)
            choice = holder[0]
        if self.dist.is_main:
            print(choice.describe(), file=sys.stderr)
        return choice

    def _prepare_data(self) -> Path:
        # rank 0 builds (or finds) the cached dataset first; the others then find it
        root = prepare_dataset(self.recipe, self.cfg.data_cache, progress=self.cfg.progress) if self.dist.is_main else None
        self.dist.barrier()
        return root if root is not None else prepare_dataset(self.recipe, self.cfg.data_cache, progress=False)

    def _pick_run_dir(self, run_dir, resume: bool) -> Path:
        if run_dir is None:
            run_dir = self.cfg.out_dir or default_run_dir(self.recipe.name)
            if self.dist.enabled:  # ranks must agree on the timestamped name
                holder = [str(run_dir)]
                torch.distributed.broadcast_object_list(holder, 0)
                run_dir = holder[0]
        if resume:  # continuing a run writes only inside it; any existing directory is fine
            if not str(run_dir).strip() or "\0" in str(run_dir):
                raise HrmzooError(f"resume={str(run_dir)!r}: give the run directory of an earlier 'hrmzoo train'")
            path = Path(run_dir)
            if not path.is_dir():
                raise CheckpointError(f"{path}: run directory not found; pass resume=RUN_DIR of an earlier 'hrmzoo train'")
        else:
            path = check_output_dir(run_dir, "the run directory (train.out_dir)")
        if self.dist.is_main:
            if not resume:
                self._check_fresh(path)  # before anything is written into a folder of the user's
                check_writable(path, "train.out_dir")
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise HrmzooError(f"{path}: cannot create the run directory ({exc.strerror}); choose another train.out_dir") from None
            self.lock = RunLock(path, f"hrmzoo train {'resume' if resume else self.recipe.name}").acquire()
            try:
                if not resume:
                    self._check_fresh(path)  # again under the lock: another run may have started in between
                gens.check_pointer(path)
            except BaseException:
                self.close()
                raise
        self.dist.barrier()
        return path

    def _check_fresh(self, path: Path) -> None:
        """A new run goes into a new or empty directory, or into a run of hrmzoo's that never
        saved a generation (its first save failed or was killed: it is started again)."""
        try:
            entries = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        except OSError as exc:
            raise HrmzooError(f"{path}: cannot read it ({exc.strerror}); choose another train.out_dir") from None
        entries = [e for e in entries if e not in (LOCK_FILE, COMPARE_IDENTITY)]  # written before a run starts
        if not entries:
            return
        if (path / st.STATE_JSON).exists() or gens.list_generations(path):
            raise HrmzooError(f"{path}: already holds a run; pass resume={path} to continue it or choose another train.out_dir")
        foreign = [e for e in entries if e not in RUN_ENTRIES and not e.startswith("events.out.tfevents.") and not e.startswith(f".{METRICS_FILE}.tmp")]
        if foreign or not (path / RUN_FILE).is_file():
            shown = ", ".join((foreign or entries)[:3]) + (" ..." if len(foreign or entries) > 3 else "")
            raise HrmzooError(f"{path}: holds files hrmzoo did not write ({shown}); nothing was changed, "
                              f"give train.out_dir a new or empty directory")

    def _run_identity(self, resume: bool) -> str | None:
        """A random id written once per run (`run.json`) and into every save, so a
        generation copied in from another run of the same recipe is not resumed."""
        path = self.run_dir / RUN_FILE
        if not resume:
            run_id = uuid.uuid4().hex
            if self.dist.enabled:
                holder = [run_id]
                torch.distributed.broadcast_object_list(holder, 0)
                run_id = holder[0]
            if self.dist.is_main:
                st.atomic_write_text(path, json.dumps({"run_id": run_id, "recipe": self.recipe.name}))
            return run_id
        try:
            return str(json.loads(read_small(path, 1 << 16, RUN_FILE).decode("utf-8"))["run_id"])
        except FileNotFoundError:
            return None  # a run of an older hrmzoo
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError, FileTooLarge):
            raise CheckpointError(f"{path}: not a valid run identity file; the run directory is damaged") from None

    # ------------------------------------------------------------ one step
    def _set_lr(self) -> float:
        f = lr_factor(self.step, self.total_steps, self.cfg.warmup_steps, self.cfg.schedule, self.cfg.min_lr_ratio)
        for g in self.optimizer.param_groups:
            g["lr"] = self.cfg.lr * f
        if self.sparse is not None:
            for g in self.sparse.param_groups:
                g["lr"] = self.cfg.puzzle_emb_lr * f
        return self.cfg.lr * f

    def _amp(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def train_step(self):
        """One segment on every slot, one optimizer step. Returns the loop's StepResult."""
        lr = self._set_lr()
        batch = {k: v.to(self.device, non_blocking=True) for k, v in self.train_data.get_batch(self.sampler.next()).items()}
        if self.carry is None:
            self.carry = new_carry(self.model, batch)
        self.model.train()
        with self._amp():
            carry, res = segment_step(self.forward_model, self.carry, batch, training=True, generator=self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        if self.sparse is not None:
            self.sparse.zero_grad(set_to_none=True)
        res.loss.backward()
        # the step's one wait for the device: after the backward is queued, before any weight changes
        loss = float(self.dist.mean(res.loss.detach().float()))
        if not math.isfinite(loss):
            self._forget_suspect_save()
            raise TrainingError(self._diverged_message(loss))
        self.dist.all_reduce_grads(self.params)
        if self.cfg.grad_clip is not None:
            res.metrics["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.net_params, self.cfg.grad_clip).detach()
        self.optimizer.step()
        if self.sparse is not None:
            self.sparse.step(self.dist.gather_cat(carry.batch["puzzle_identifiers"]))
        if self.ema is not None:
            self.ema.update(self.model, step=self.step)
        self.carry = carry
        self.step += 1
        res.metrics["lr"] = lr
        res.metrics["loss"] = loss
        return res

    def _past(self, deadline: float) -> bool:
        # every rank must stop at the same step: rank 0's clock decides
        past = torch.tensor(float(time.perf_counter() >= deadline), device=self.device)
        if self.dist.enabled:
            torch.distributed.broadcast(past, 0)
        return bool(past)

    def _forget_suspect_save(self) -> None:
        """A generation saved at this very step holds the weights that just gave a
        non-finite loss: finite, but not a place to resume from. Uncommit it so the
        newest generation is one whose weights still produced a finite loss."""
        if self.last_saved is None or self.last_saved != self.step:
            return
        newest = gens.drop_newest(self.run_dir) if self.dist.is_main else None
        if self.dist.enabled:
            holder = [newest.step if newest is not None else None]
            torch.distributed.broadcast_object_list(holder, 0)
            self.last_saved = holder[0]
        else:
            self.last_saved = newest.step if newest is not None else None

    def _diverged_message(self, loss: float) -> str:
        return f"loss is {loss} at step {self.step + 1}; training stopped, {self._newest_good()}; lower train.lr or enable train.grad_clip"

    # ------------------------------------------------------------ the run
    def run(self) -> TrainSummary:
        """Train to `total_steps`, evaluating and saving on schedule; returns the summary.

        In a data-parallel job, a collective that fails because another process
        died becomes one line on each surviving rank (not a gloo/NCCL traceback).
        """
        try:
            if not self.dist.enabled:
                return self._run()
            try:
                return self._run()
            except RuntimeError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
                raise TrainingError(f"rank {self.dist.rank}: lost the other processes of the job at step {self.step} ({first}); "
                                    f"{self._newest_good()}") from None
        except OSError as exc:  # disk full, read-only, file-size limit...: say what was kept and how to go on
            then = f"resume={self.run_dir}" if self.dist.is_main and gens.committed(self.run_dir) else "run the same command again"
            raise TrainingError(f"{describe_os_error(exc)} at step {self.step}; training stopped, {self._kept()}; "
                                f"{os_error_fix(exc)}, then {then}") from None
        finally:
            self.close()

    def _kept(self) -> str:
        """What a failure left to continue from (read from disk: the newest committed generation)."""
        saved = gens.committed(self.run_dir) if self.dist.is_main else []
        if not saved:
            return "no generation was saved yet (the same command starts the run again from step 0)"
        return f"kept {saved[0].path} (step {saved[0].step}) intact"

    def _run(self) -> TrainSummary:
        cfg = self.cfg
        bar = ProgressLine(self.total_steps, self.step, enabled=cfg.progress and self.dist.is_main)
        acc = self._acc = _Accumulator(self.model.halting.max_segments)
        if self._acc_state is not None:  # the log window the save interrupted goes on, so every logged mean is one run's
            acc.load_state(*self._acc_state, rank=self.dist.rank, device=self.device)
            self._acc_state = None
        last: dict[str, Any] = {}
        t0 = time.perf_counter()
        if self.dist.is_main:
            bar.message(f"hrmzoo train: {self.recipe.name}, {self.model.num_parameters():,} parameters, {len(self.train_data)} train examples, "
                        f"{self.total_steps} steps of batch {cfg.batch_size} on {self.device}{' x' + str(self.dist.world) if self.dist.enabled else ''}"
                        f"{' (bf16 autocast)' if self.amp_dtype else ''}; run dir {self.run_dir}")
        deadline = t0 + 60.0 * cfg.time_budget if cfg.time_budget else None
        bar_at = -math.inf
        try:
            while self.step < self.total_steps:
                if deadline is not None and self._past(deadline):
                    bar.message(f"time budget of {cfg.time_budget:g} min reached at step {self.step}")
                    break
                res = self.train_step()
                acc.add(res)
                if bar.enabled and bar.tty and time.perf_counter() - bar_at >= bar.min_interval:  # reading on-device sums waits for the device
                    bar_at = time.perf_counter()
                    bar.update(self.step, {"loss": res.metrics["loss"], "exact": acc.running_exact()})
                if self.step % cfg.log_interval == 0 or self.step == self.total_steps:
                    last = acc.flush(self.dist)
                    last["steps_per_s"] = (self.step - bar.start) / max(1e-9, time.perf_counter() - t0)
                    self.log.write(self.step, "train", last)
                    bar.update(self.step, {"loss": last["loss"], "exact": last.get("exact_at_halt", 0.0)}, force=True)
                if cfg.eval_interval and self.step % cfg.eval_interval == 0 and self.step < self.total_steps:
                    result = self.evaluate(limit=cfg.eval_max_examples)
                    if result is not None:
                        bar.message(f"eval @ step {self.step}: {format_metrics(result.metrics)}")
                if cfg.checkpoint_interval and self.step % cfg.checkpoint_interval == 0 and self.step < self.total_steps:
                    self.save()
        finally:
            bar.close()
        wall = time.perf_counter() - t0
        self.save()
        fit_halt_threshold(self)  # eval_halt_threshold: auto, on the held-out training examples
        test = live = None
        if cfg.final_eval:
            test = self.evaluate()
            if self.ema is not None:
                # both weights are reported: a short run's average can trail the live weights
                live = self.evaluate(model=self.model, kind="eval_live")
            if test is not None and self.dist.is_main:
                record = {"step": self.step, **test.to_dict()}
                if live is not None:
                    record["live_weights"] = live.to_dict()
                st.atomic_write_text(self.run_dir / EVAL_FILE, json.dumps(record, indent=1))
        self.log.close()
        summary = TrainSummary(self.run_dir, self.step, wall, last, test, live)
        if self.dist.is_main:
            print(format_summary(summary, self.step - bar.start), flush=True)
        return summary

    # ------------------------------------------------------------ evaluation
    @property
    def eval_model(self):
        """The weights evaluation uses: the EMA copy when EMA is on."""
        return self.ema.module if self.ema is not None else self.model

    def evaluate(self, limit: int | None = None, model=None, kind: str = "eval") -> EvalResult | None:
        """Evaluate on the test split (rank 0; the others wait). None without a test split.

        Args:
            limit: at most this many test examples.
            model: the weights to evaluate (default: `eval_model`, the EMA copy when EMA is on).
            kind: the `metrics.jsonl` row kind.
        """
        if self.test_data is None:
            return None
        result = None
        if self.dist.is_main:
            result = evaluate(model if model is not None else self.eval_model, self.test_data,
                              batch_size=self.cfg.eval_batch_size or self.cfg.batch_size, limit=limit, autocast_dtype=self.amp_dtype)
            self.log.write(self.step, kind, {k: v for k, v in result.metrics.items() if not isinstance(v, list)}
                           | {"exact_by_segment": result.metrics["exact_by_segment"]})
        self.dist.barrier()
        return result

    # ------------------------------------------------------------ checkpoints
    def _carry_tensors(self) -> dict[str, torch.Tensor]:
        c = self.carry
        out = {f"carry.state.{k}": v for k, v in c.state.items()}
        out.update({f"carry.batch.{k}": v for k, v in c.batch.items()})
        out.update({"carry.steps": c.steps, "carry.halted": c.halted, "carry.min_steps": c.min_steps})
        gathered = {}
        for k, v in out.items():
            # gather in a dtype every backend supports, then restore the exact dtype
            wide = v.to(torch.float32) if v.is_floating_point() else v.to(torch.int64)
            gathered[k] = self.dist.gather_cat(wide).to(v.dtype).cpu()
        return gathered

    def _rows(self, state: torch.Tensor) -> torch.Tensor:
        """One row per rank of a per-rank byte state (RNG), in rank order."""
        return self.dist.gather_cat(state.to(self.dist_device()).view(1, -1)).cpu()

    def save(self) -> None:
        """Write one checkpoint generation (rank 0 writes; all ranks take part).

        Weights and optimizer state are checked to be finite first: a diverged
        update is never saved, so the newest generation is always one to resume from.
        """
        tensors: dict[str, torch.Tensor] = {}
        scalars: dict[str, Any] = {}
        opt_t, opt_s = st.optimizer_to_flat(self.optimizer, "opt")
        tensors.update(opt_t)
        scalars.update(opt_s)
        if self.carry is not None:
            tensors.update(self._carry_tensors())
        acc = getattr(self, "_acc", None)
        if acc is not None:
            acc_tensors, acc_scalars = acc.state(lambda t: self.dist.gather_cat(t.to(self.dist_device())).cpu())
            tensors.update(acc_tensors)
            scalars["acc"] = acc_scalars
        tensors["rng.explore"] = self._rows(self.generator.get_state())
        tensors["rng.torch"] = self._rows(torch.get_rng_state())
        if self.device.type == "cuda":
            tensors["rng.cuda"] = self._rows(torch.cuda.get_rng_state(self.device))
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.module.state_dict().items()})
            tensors.update({f"raw.{k}": v for k, v in self.model.state_dict().items()})
        scalars.update(
            data=self.sampler.state_dict(), world=self.dist.world, batch_size=self.cfg.batch_size,
            total_steps=self.total_steps, has_carry=self.carry is not None, recipe=self.recipe.name, run_id=self.run_id,
        )
        bad = first_non_finite({**{f"model.{k}": v for k, v in self.eval_model.state_dict().items()}, **tensors})
        if bad is not None:
            raise TrainingError(f"{bad} is not finite at step {self.step}; not saved, training stopped, {self._newest_good()}; lower train.lr or enable train.grad_clip")
        if self.dist.is_main:
            model_meta = {st.STEP_KEY: str(self.step), "hrmzoo.weights": "ema" if self.ema is not None else "raw"}
            gens.write_generation(self.run_dir, self.step, {
                st.MODEL_FILE: lambda path: save_model(self.eval_model, path, model_meta),
                st.STATE_TENSORS: lambda path: st.save_state_tensors(path, self.step, tensors),
                st.STATE_JSON: lambda path: st.save_state_json(path, self.step, scalars),
            }, keep=self.cfg.keep_checkpoints)
        self.last_saved = self.step
        self.dist.barrier()

    def _newest_good(self) -> str:
        if self.last_saved is None:
            return "no checkpoint was written yet"
        where = gens.checkpoints_dir(self.run_dir) / gens.generation_name(self.last_saved)
        return f"the newest finite checkpoint is {where} (step {self.last_saved}; resume={self.run_dir} continues from it)"

    def dist_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def load(self, run_dir: Path) -> None:
        """Restore everything `save` wrote, from the newest verified generation."""
        source, note = st.find_state(run_dir)
        tensors, scalars = st.load_state(source)
        if scalars.get("world") != self.dist.world:
            raise CheckpointError(f"{source}: saved by {scalars.get('world')} process(es) but resumed with {self.dist.world}; "
                                  f"resume with the same number (torchrun --nproc_per_node={scalars.get('world')}, or no torchrun for 1)")
        if self.run_id and scalars.get("run_id") and scalars["run_id"] != self.run_id:
            raise CheckpointError(f"{source}: was saved by another run (id {scalars['run_id'][:8]}, this directory's run is {self.run_id[:8]}); "
                                  f"it was copied in from elsewhere, so resume that run's own directory instead")
        if scalars.get("batch_size") != self.cfg.batch_size:
            raise CheckpointError(f"{source}: saved with train.batch_size={scalars.get('batch_size')} but resumed with {self.cfg.batch_size}; keep the batch size when resuming")
        try:
            self._restore(source, tensors, scalars)
        except (KeyError, IndexError, ValueError, TypeError, RuntimeError) as exc:
            if isinstance(exc, HrmzooError):
                raise
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise CheckpointError(f"{source}: the trainer state is damaged or from another recipe ({type(exc).__name__}: {first}); resume from an intact generation or start a new run") from None
        if self.dist.is_main:  # which generation, and why any newer one was skipped
            print(f"hrmzoo train: {note}", file=sys.stderr, flush=True)
        self.dist.barrier()

    def _restore(self, source: Path, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
        state_file = source / st.STATE_TENSORS
        raw = st.sub(tensors, "raw")
        if not raw:
            raw, _ = read_checkpoint(source / st.MODEL_FILE)
        load_weights(self.model, raw, source / st.MODEL_FILE)
        if self.ema is not None:
            ema = st.sub(tensors, "ema") or raw
            load_weights(self.ema.module, ema, state_file)
        st.optimizer_from_flat(self.optimizer, "opt", tensors, scalars, state_file)
        self.sampler.load_state_dict(scalars["data"])
        # clone: a row of the saved [world, n] tensor is a view, and Generator.set_state ignores its offset
        self.generator.set_state(self._rank_row(tensors, "rng.explore", state_file))
        torch.set_rng_state(self._rank_row(tensors, "rng.torch", state_file))
        if self.device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(self._rank_row(tensors, "rng.cuda", state_file), self.device)
        if scalars.get("has_carry"):
            self.carry = self._carry_from(tensors, source)
        self.step = int(scalars["step"])
        self.last_saved = self.step
        if isinstance(scalars.get("acc"), dict) and scalars["acc"].get("n"):
            self._acc_state = (st.sub(tensors, "acc"), scalars["acc"])

    def _rank_row(self, tensors: dict[str, torch.Tensor], key: str, origin: Path) -> torch.Tensor:
        if key not in tensors:
            raise CheckpointError(f"{origin}: '{key}' is missing; the trainer state is incomplete")
        value = tensors[key]
        if value.dim() == 1:  # older saves kept one state for all ranks
            return value.clone()
        if value.dim() != 2 or value.shape[0] != self.dist.world or value.dtype != torch.uint8:
            raise CheckpointError(f"{origin}: '{key}' has shape {tuple(value.shape)} ({value.dtype}), not one uint8 row per each of {self.dist.world} rank(s); the trainer state is damaged")
        return value[self.dist.rank].clone()

    def _carry_from(self, tensors: dict[str, torch.Tensor], run_dir: Path) -> Carry:
        """This rank's slice of the saved carry, checked against the shapes a fresh carry has."""
        lo, hi = self.dist.rank * self.local_batch, (self.dist.rank + 1) * self.local_batch
        origin = run_dir / st.STATE_TENSORS
        ref_batch = self.train_data.get_batch(np.arange(min(self.local_batch, len(self.train_data))))
        ref = new_carry(self.model, {k: v[:1].expand(self.local_batch, *v.shape[1:]) for k, v in ref_batch.items()})
        expected = {f"carry.state.{k}": v for k, v in ref.state.items()}
        expected.update({f"carry.batch.{k}": v for k, v in ref.batch.items()})
        expected.update({"carry.steps": ref.steps, "carry.halted": ref.halted, "carry.min_steps": ref.min_steps})
        saved = {k for k in tensors if k.startswith("carry.")}
        if saved != set(expected):
            odd = sorted(saved ^ set(expected))
            raise CheckpointError(f"{origin}: carry entries differ from this model's ({odd[:3]}); the trainer state is damaged or from another recipe")

        def part(name: str) -> torch.Tensor:
            value, want = tensors[name], expected[name]
            shape = (self.local_batch * self.dist.world, *want.shape[1:])
            same_kind = value.dtype == want.dtype or (value.is_floating_point() and want.is_floating_point())  # autocast may save bf16 states
            if tuple(value.shape) != shape or not same_kind:
                raise CheckpointError(f"{origin}: '{name}' is {tuple(value.shape)} {value.dtype}, expected {shape} {want.dtype}; the trainer state is damaged or from another recipe")
            return value[lo:hi].to(self.device)

        state = {k: part(f"carry.state.{k}") for k in self.model.coupling.state_keys}
        batch = {k[len("carry.batch."):]: part(k) for k in expected if k.startswith("carry.batch.")}
        return Carry(state, batch, part("carry.steps"), part("carry.halted"), part("carry.min_steps"))


class _Accumulator:
    """Sums of step metrics between log lines, plus per-segment breakdowns.

    The sums stay on the model's device as tensors and are read once per log line
    (`flush`), so accumulating a step does not wait for the device.
    """

    def __init__(self, max_segments: int):
        self.S = max_segments
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor | float] = {}
        self.n = 0
        self.halt_right: torch.Tensor | float = 0.0
        self.halt_n: torch.Tensor | float = 0.0
        self.seg: torch.Tensor | None = None  # count, exact, lm loss per segment index
        self._run_right: torch.Tensor | float = 0.0
        self._run_n: torch.Tensor | float = 0.0

    @staticmethod
    def _wide(t: torch.Tensor) -> torch.Tensor:
        # float64 sums where the device has float64 (MPS has not)
        return t.detach().to(torch.float32 if t.device.type == "mps" else torch.float64)

    def add(self, res) -> None:
        for k, v in res.metrics.items():
            v = self._wide(v) if torch.is_tensor(v) else float(v)
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.n += 1
        halted = res.halted.detach()
        right = self._wide((res.exact & halted).sum())
        count = self._wide(halted.sum())
        self.halt_right = self.halt_right + right
        self.halt_n = self.halt_n + count
        self._run_right = 0.98 * self._run_right + right
        self._run_n = 0.98 * self._run_n + count
        idx = (res.steps.detach() - 1).clamp(0, self.S - 1)
        if self.seg is None:
            self.seg = self._wide(torch.zeros(3, self.S, device=idx.device))
        self.seg[0] += torch.bincount(idx, minlength=self.S).to(self.seg.dtype)
        self.seg[1] += torch.bincount(idx, weights=res.exact.detach().to(self.seg.dtype), minlength=self.S)
        self.seg[2] += torch.bincount(idx, weights=res.terms["lm"].detach().to(self.seg.dtype), minlength=self.S)

    def state(self, gather) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The sums of the log window in progress, to save with a checkpoint (`gather` stacks
        one row per rank): a resume then logs the same means as a run that never stopped."""
        if self.n == 0:
            return {}, {"n": 0}
        keys = sorted(self.sums)

        def host(v) -> torch.Tensor:
            return v.detach().cpu().double().reshape(()) if torch.is_tensor(v) else torch.tensor(float(v), dtype=torch.float64)

        vec = torch.stack([host(self.sums[k]) for k in keys] + [host(v) for v in (self.halt_right, self.halt_n, self._run_right, self._run_n)])
        seg = self.seg.cpu().double() if self.seg is not None else torch.zeros(3, self.S, dtype=torch.float64)
        return {"acc.sums": gather(vec.view(1, -1)), "acc.seg": gather(seg.reshape(1, -1))}, {"n": self.n, "keys": keys}

    def load_state(self, tensors: dict[str, torch.Tensor], scalars: dict[str, Any], rank: int, device: torch.device) -> None:
        """Continue the window `state` saved (this rank's row)."""
        keys = list(scalars.get("keys", []))
        sums, seg = tensors.get("sums"), tensors.get("seg")
        if sums is None or seg is None or sums.dim() != 2 or sums.shape[1] != len(keys) + 4 or seg.shape[-1] != 3 * self.S:
            return  # an older or foreign save: the window starts afresh
        row = sums[rank].to(device)
        self.sums = {k: row[i] for i, k in enumerate(keys)}
        self.halt_right, self.halt_n, self._run_right, self._run_n = (row[len(keys) + i] for i in range(4))
        self.seg = seg[rank].view(3, self.S).to(device)
        self.n = int(scalars["n"])

    def running_exact(self) -> float:
        n = float(self._run_n)
        return float(self._run_right) / n if n else 0.0

    def flush(self, dist: DistContext) -> dict[str, Any]:
        """Means since the last flush, averaged over ranks."""
        keys = sorted(self.sums)
        def host(v) -> torch.Tensor:  # the one read of the device per log line
            return v.detach().cpu().double() if torch.is_tensor(v) else torch.tensor(float(v), dtype=torch.float64)

        values = [host(self.sums[k]) for k in keys] + [host(self.halt_right), host(self.halt_n)]
        packed = dist.mean(torch.stack(values))
        seg = dist.sum(self.seg.cpu().double() if self.seg is not None else torch.zeros(3, self.S, dtype=torch.float64))
        out: dict[str, Any] = {k: float(packed[i]) / max(1, self.n) for i, k in enumerate(keys)}
        halt_right, halt_n = float(packed[-2]), float(packed[-1])
        out["exact_at_halt"] = halt_right / halt_n if halt_n else 0.0
        out["by_segment"] = {
            str(s + 1): {"n": int(seg[0, s]), "exact": float(seg[1, s] / seg[0, s]), "lm": float(seg[2, s] / seg[0, s])}
            for s in range(self.S) if seg[0, s] > 0
        }
        self.reset()
        return out


def format_summary(s: TrainSummary, steps_run: int) -> str:
    """The end-of-run report."""
    rate = steps_run / s.wall_s if s.wall_s > 0 else float("nan")
    lines = [f"done: {s.steps} steps ({steps_run} in this run, {format_duration(s.wall_s)}, {rate:.1f} it/s); run dir {s.run_dir}"]
    if s.train:
        lines.append(f"train (last log interval): loss {s.train.get('loss', float('nan')):.4f}, exact at halt {100 * s.train.get('exact_at_halt', 0):.1f}%")
    if s.test is not None:
        lines.append(f"test: {format_metrics(s.test.metrics)}")
        if s.test_live is not None:
            ema, live = s.test.metrics["exact_accuracy"], s.test_live.metrics["exact_accuracy"]
            mark = {True: " (better)", False: ""}
            lines.append(f"test exact accuracy, EMA weights (saved): {100 * ema:.2f}%{mark[ema > live]}; "
                         f"live weights: {100 * live:.2f}%{mark[live > ema]}")
        lines.append(f"test exact accuracy: {100 * s.test.metrics['exact_accuracy']:.2f}%")
    lines.append(f"evaluate again: hrmzoo eval ckpt={s.run_dir}")
    return "\n".join(lines)
