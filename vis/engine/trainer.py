"""Iteration-based training loop: DDP under torchrun, AMP on CUDA, clipping, checkpoints, evaluation.

`Trainer` takes built objects (model, `TrainData`, optimizer, scheduler, evaluator) and runs them; building them
from a config is `vis.engine.builder.build_trainer`. The loop knows nothing about a specific model (detectron2's
``SimpleTrainer`` spirit): a batch holds the model's forward keyword arguments (`vis.data.collate`: ``images``,
``targets`` and, for video pairs, ``ref_images`` / ``ref_targets``), and the model returns a dict of
already-weighted losses; keys containing ``'loss'`` are summed (mmdet's rule) and every entry is logged.

Exact resume. Stopping after iteration k and resuming gives bit-identical weights to an uninterrupted
run because nothing the loop consumes depends on hidden history:
- data order: `TrainSampler` is a pure function of (seed, epoch, rank); the DataLoader starts at
  iteration k, and each sample carries its epoch so the dataset's ``set_epoch`` happens in the worker
  that loads it (augmentation must draw from a per-sample RNG seeded by (seed, epoch, index));
- model, optimizer, LR schedule and AMP scaler state are restored from the checkpoint;
- the global python / numpy / torch / CUDA RNG states of every rank are saved and restored, the
  DataLoader draws its worker seeds from its own generator, and evaluation runs with the RNG state
  saved and restored around it, so dropout and other in-model randomness continue unchanged.

AMP: ``--amp`` (or ``runtime.amp``) uses ``torch.autocast(float16)`` + ``GradScaler`` on CUDA. On CPU it
is ignored with a warning: CPU bf16 autocast is slow on most CPUs and some ops lack bf16 kernels,
so a CPU run is better in float32.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.samplers import TrainBatchSampler, TrainSampler
from ..data.serialized import fix_mmap_threshold, frozen_heap
from ..errors import VisError
from . import dist
from .checkpoint import (
    capture_rng_state,
    checkpoint_name,
    find_latest_checkpoint,
    restore_rng_state,
    resume as resume_checkpoint,
    save_checkpoint,
)
from .loading import load_checkpoint
from .logger import TrainLogger
from .optim import clip_grad_norm, unwrap_model

class NonFiniteLossError(VisError):
    """The loss became nan or inf: training cannot continue from this state."""


Evaluator = Callable[[nn.Module], Mapping[str, Any]]


class _EpochIndexedDataset(Dataset):
    """Takes ``(epoch, index)`` keys and calls ``dataset.set_epoch(epoch)`` where the item is loaded.

    DataLoader workers hold their own copy of the dataset, so setting the epoch from the main
    process would not reach them; carrying it with every index does, in any worker.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._epoch: Optional[int] = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        if epoch != self._epoch:
            set_epoch = getattr(self.dataset, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(epoch)
            self._epoch = epoch
        return self.dataset[index]


def move_to_device(obj: Any, device: torch.device) -> Any:
    """Tensors, ``ImageBatch``-like objects with ``.to`` and nested dicts / lists / tuples -> ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: move_to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [move_to_device(v, device) for v in obj]
    if isinstance(obj, tuple):
        return tuple(move_to_device(v, device) for v in obj)
    if hasattr(obj, "to") and callable(obj.to):
        return obj.to(device, non_blocking=True)
    return obj


@contextlib.contextmanager
def preserved_rng():
    """Run a block (evaluation) without changing the global RNG streams the training loop uses."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


def _init_worker(worker_id: int) -> None:
    """Each loader worker keeps glibc's mmap threshold fixed, so its memory does not creep up with the samples'
    sizes (`vis.data.serialized.fix_mmap_threshold`)."""
    fix_mmap_threshold()


class TrainData:
    """The training set with its sampler: what the loop draws its batches from.

    `TrainSampler` makes the data order a pure function of (seed, epoch, rank), and `loader` starts it at any
    iteration, so a resumed run sees exactly the batches it would have seen.
    """

    def __init__(self, dataset: Dataset, collate_fn: Callable, batch_size: int = 2, num_workers: int = 2,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.rank = int(rank)
        self.sampler = TrainSampler(len(dataset), shuffle=True, seed=seed, rank=rank, world_size=world_size,
                                    batch_size=self.batch_size)
        self.iters_per_epoch = self.sampler.iters_per_epoch

    def loader(self, start_iter: int, max_iters: int, pin_memory: bool = False) -> DataLoader:
        """A DataLoader over iterations ``start_iter .. max_iters-1``."""
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.rank)  # worker seeds; not the global RNG
        return DataLoader(
            _EpochIndexedDataset(self.dataset),
            batch_sampler=TrainBatchSampler(self.sampler, start_iter, max_iters),
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            pin_memory=pin_memory,
            generator=generator,
            worker_init_fn=_init_worker if self.num_workers > 0 else None,
        )


@dataclass
class LoopSettings:
    """How `Trainer` runs its loop, apart from the objects it runs and the process it runs in.

    Args:
        work_dir: where checkpoints, logs, ``metrics.jsonl`` and ``tf_logs/`` go (already created).
        runtime: the checked ``runtime`` section (`vis.engine.builder.RUNTIME_DEFAULTS` filled in).
        amp: float16 autocast + GradScaler (CUDA only).
        clip_grad_norm: max gradient norm, or None.
        config: the plain config saved into every checkpoint.
    """

    work_dir: str
    runtime: Mapping[str, Any]
    amp: bool = False
    clip_grad_norm: Optional[float] = None
    config: Optional[Mapping[str, Any]] = None


class Trainer:
    """Runs built objects: the loop, checkpoints, resume, logging, periodic evaluation.

    Args:
        model: the model on ``device`` (wrapped in DDP here when ``world_size > 1``; `unwrapped_model` is it).
        data: the training set and its sampler (`TrainData`).
        optimizer, scheduler: built for ``model`` (`vis.engine.optim`); ``scheduler.max_iters`` ends the run.
        settings: how the loop runs (`LoopSettings`: work dir, ``runtime`` section, AMP, clipping, config).
        device, rank, world_size, local_rank: this process (`vis.engine.dist.init_distributed`).
        evaluator: ``evaluator(model) -> dict of metrics``, called on every rank every ``runtime.eval_interval``
            iterations with the unwrapped model in eval mode; rank 0's result is logged.
    """

    def __init__(self, model: nn.Module, data: TrainData, optimizer: torch.optim.Optimizer, scheduler: Any,
                 settings: LoopSettings, device: torch.device, rank: int = 0, world_size: int = 1,
                 local_rank: int = 0, evaluator: Optional[Evaluator] = None):
        self.model = model
        self.data = data
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.work_dir = settings.work_dir
        self.runtime = dict(settings.runtime)
        self.device = device
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.is_main = rank == 0
        self.amp = bool(settings.amp)
        self.clip_grad_norm = settings.clip_grad_norm
        self.cfg = dict(settings.config or {})
        self.evaluator = evaluator
        self.log = logging.getLogger("vis.train")
        self.sampler = data.sampler
        self.iters_per_epoch = data.iters_per_epoch
        self.batch_size = data.batch_size
        self.max_iters = int(scheduler.max_iters)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.start_iter = 0
        self.iteration = 0
        self.last_checkpoint: Optional[str] = None
        self.last_metrics: Dict[str, Any] = {}
        self.logger: Optional[TrainLogger] = None
        if world_size > 1:
            self.model = nn.parallel.DistributedDataParallel(
                model, device_ids=[local_rank] if device.type == "cuda" else None,
                find_unused_parameters=bool(self.runtime["find_unused_parameters"]),
            )

    def restore(self, resume: Any = False, load_from: Optional[str] = None) -> None:
        """Where the run starts: a resume checkpoint (``resume``: True = newest in the work dir, or a path:
        weights, optimizer, schedule, scaler, RNG and iteration), else ``load_from`` weights (fine-tuning), else
        the model's ``init_weights`` (ImageNet backbone named by the config). Call it last before `train`:
        restoring the RNG states must be the final thing that touches them."""
        resume_path = self._resume_path(resume)
        if resume_path is not None:
            if load_from:
                self.log.info(f"resuming from {resume_path}; load_from {load_from} is ignored")
            self.start_iter = resume_checkpoint(
                resume_path, self.unwrapped_model, self.optimizer, self.scheduler, self.scaler,
                rank=self.rank, world_size=self.world_size, logger=self.log,
            )
            self.last_checkpoint = resume_path
        elif load_from:
            load_checkpoint(self.unwrapped_model, load_from, logger=self.log)
        elif hasattr(self.unwrapped_model, "init_weights"):
            self.unwrapped_model.init_weights()
        self.iteration = self.start_iter

    # ----------------------------------------------------------------------------------------------
    @property
    def unwrapped_model(self) -> nn.Module:
        return unwrap_model(self.model)

    def _resume_path(self, resume: Any) -> Optional[str]:
        if not resume:
            return None
        if isinstance(resume, str):
            return resume  # a missing file is reported by read_checkpoint as CheckpointError
        latest = find_latest_checkpoint(self.work_dir)
        if latest is None:
            self.log.info(f"--resume: no checkpoint in {self.work_dir}, starting from scratch")
        return latest

    def _build_loader(self) -> DataLoader:
        return self.data.loader(self.start_iter, self.max_iters, pin_memory=self.device.type == "cuda")

    def _open_logger(self) -> TrainLogger:
        if self.logger is None:
            use_bar = self.runtime["progress_bar"]
            self.logger = TrainLogger(
                self.work_dir, self.max_iters, enabled=self.is_main, tensorboard=bool(self.runtime["tensorboard"]),
                progress_bar=bool(use_bar), start_iter=self.start_iter,
            )
        return self.logger

    def _describe(self) -> str:
        model = self.unwrapped_model
        epochs = self.max_iters / self.iters_per_epoch
        return (
            f"training {type(model).__name__} for {self.max_iters} iterations (~{epochs:.4g} epochs of "
            f"{self.iters_per_epoch}), {self.batch_size} images x {self.world_size} processes per iteration "
            f"on {self.device.type}{' with AMP' if self.amp else ''}; work dir {self.work_dir}"
        )

    # ----------------------------------------------------------------------------------------------
    def train(self) -> Dict[str, Any]:
        """Run iterations ``start_iter .. max_iters-1``; returns the final iteration, checkpoint and metrics."""
        self._open_logger()
        if self.start_iter >= self.max_iters:
            self.log.info(f"nothing to do: already at iteration {self.start_iter} of {self.max_iters}")
            self.logger.close()
            return self._result()
        self.log.info(self._describe() + (f", resuming at iteration {self.start_iter}" if self.start_iter else ""))
        if self.start_iter:
            self.logger.log_event("resume", self.start_iter, checkpoint=self.last_checkpoint)
        loader = self._build_loader()
        self.model.train()
        window = _Window()
        with frozen_heap():  # the workers fork here
            data_iter = iter(loader)
        try:
            for iteration in range(self.start_iter, self.max_iters):
                start = time.perf_counter()
                batch = next(data_iter)
                data_time = time.perf_counter() - start
                values, lr = self.run_step(batch, iteration)
                self.iteration = iteration + 1
                window.add(values, time.perf_counter() - start, data_time)
                self._after_step(window, lr, values)
        finally:
            del data_iter  # stop DataLoader workers promptly, also on errors
            self.logger.close()
        return self._result()

    def run_step(self, batch: Mapping[str, Any], iteration: int):
        """One optimisation step; returns (``{name: value}`` incl. ``'loss'``, lr used)."""
        batch = move_to_device(batch, self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            losses = self.model(**batch)  # the batch is the model's forward arguments (module docstring)
        loss_keys = [k for k in losses if "loss" in k]
        if not loss_keys:
            raise RuntimeError(f"model returned no loss terms (keys: {sorted(losses)})")
        total = sum(losses[k].float() for k in loss_keys)
        names = list(losses) + ["loss"]
        stacked = torch.stack([losses[k].detach().float().reshape(()) for k in losses] + [total.detach()])
        values = dict(zip(names, stacked.cpu().tolist()))
        if not dist.all_ranks_true(math.isfinite(values["loss"])):
            self._diverged(iteration, values)

        lr = max(group["lr"] for group in self.optimizer.param_groups)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            grad_norm = clip_grad_norm(self.model.parameters(), self.clip_grad_norm)
            values["grad_norm"] = grad_norm
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return values, lr

    def _diverged(self, iteration: int, values: Mapping[str, float]) -> None:
        bad = [f"{k}={v:.4g}" for k, v in values.items() if k != "loss" and not math.isfinite(v)]
        detail = ", ".join(bad[:4]) if bad else "another process"
        last = self.last_checkpoint or "none"
        raise NonFiniteLossError(
            f"loss is {values['loss']} at iteration {iteration + 1} ({detail}); training stopped: "
            f"lower the learning rate or check the annotations (last checkpoint: {last})"
        )

    def _after_step(self, window: "_Window", lr: float, values: Mapping[str, float]) -> None:
        it = self.iteration
        final = it == self.max_iters
        self.logger.update_bar(it, values.get("loss"))
        log_interval = int(self.runtime["log_interval"])
        if (log_interval > 0 and it % log_interval == 0) or final:
            means = dist.reduce_scalars(window.means())
            total = means.pop("loss")
            grad_norm = means.pop("grad_norm", None)
            extra = {"grad_norm": grad_norm} if grad_norm is not None else {}
            if self.device.type == "cuda":
                extra["mem_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
            self.logger.log_train(
                it, self.sampler.epoch_of(it - 1), lr, means, total, window.time(), window.data_time(), extra
            )
            window.reset()
        interval = int(self.runtime["checkpoint_interval"])
        if (interval > 0 and it % interval == 0) or final:
            self.save_checkpoint()
        eval_interval = int(self.runtime["eval_interval"])
        if self.evaluator is not None and eval_interval > 0 and (it % eval_interval == 0 or final):
            self.evaluate()

    # ----------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> str:
        """Save ``iter_<N>.pth`` (all ranks must call: RNG states are gathered from every rank)."""
        path = os.path.join(self.work_dir, checkpoint_name(self.iteration))
        rng_states = dist.all_gather_object(capture_rng_state())
        if self.is_main:
            save_checkpoint(
                path, self.model, self.optimizer, self.scheduler, iteration=self.iteration,
                epoch=self.sampler.epoch_of(self.iteration), config=self.cfg,
                meta={"iters_per_epoch": self.iters_per_epoch, "world_size": self.world_size},
                scaler=self.scaler, rng_states=rng_states, max_keep_ckpts=int(self.runtime["max_keep_ckpts"]),
            )
            self.log.info(f"saved checkpoint {path}")
        dist.barrier()
        self.last_checkpoint = path
        return path

    def evaluate(self) -> Dict[str, Any]:
        """Run the evaluator on the unwrapped model (all ranks), log rank 0's metrics; RNG left untouched."""
        if self.evaluator is None:
            return {}
        model = self.unwrapped_model
        model.eval()
        try:
            with preserved_rng(), torch.no_grad():
                metrics = dict(self.evaluator(model) or {})
        finally:
            model.train()
        if self.is_main:
            self._open_logger().log_eval(self.iteration, metrics)
        self.last_metrics = metrics
        return metrics

    def _result(self) -> Dict[str, Any]:
        return {"iteration": self.iteration, "checkpoint": self.last_checkpoint, "metrics": self.last_metrics}


class _Window:
    """Running means of the loss terms and timings since the last log line."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: Dict[str, float] = {}
        self.count = 0
        self.times: List[float] = []
        self.data_times: List[float] = []

    def add(self, values: Mapping[str, float], iter_time: float, data_time: float) -> None:
        for key, value in values.items():
            if value is not None:
                self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1
        self.times.append(iter_time)
        self.data_times.append(data_time)

    def means(self) -> Dict[str, float]:
        return {k: v / max(1, self.count) for k, v in self.sums.items()}

    def time(self) -> float:
        # The first iteration after start includes worker start-up; leave it out when possible.
        times = self.times[1:] if len(self.times) > 1 else self.times
        return sum(times) / max(1, len(times))

    def data_time(self) -> float:
        return sum(self.data_times) / max(1, len(self.data_times))
