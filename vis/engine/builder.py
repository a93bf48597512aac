"""From a config to a ready `Trainer`: the one place that knows which config section builds which object.

`build_trainer` checks the ``runtime`` section, starts the process group, seeds every rank alike, builds the
model (``cfg.model``), the training set (``cfg.data.train``), the optimizer and the LR schedule, and restores the
start point (resume / ``load_from`` / ``init_weights``). Objects given as arguments (a notebook's own model or
dataset) are used as they are instead of being built.
"""
from __future__ import annotations

import logging
import sys
from typing import Any, Callable, Dict, Mapping, Optional

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import to_plain
from ..data import build_dataset, collate
from ..errors import ConfigError, DataError
from ..io.files import make_writable_dir
from ..models import build_model
from . import dist
from .logger import setup_logging
from .optim import build_optimizer, build_scheduler
from .trainer import Evaluator, LoopSettings, TrainData, Trainer

# runtime section: key -> default. Unknown keys are config typos and are rejected.
RUNTIME_DEFAULTS: Dict[str, Any] = {
    "seed": 0,
    "log_interval": 50,  # iterations between log lines (also tensorboard / metrics.jsonl)
    "checkpoint_interval": 5000,  # iterations between checkpoints; the final iteration is always saved
    "eval_interval": 0,  # iterations between evaluations (0 = never during training)
    "max_keep_ckpts": 3,  # newest iter_*.pth files kept (<= 0 keeps all)
    "amp": False,
    "find_unused_parameters": False,  # DDP: set True for models that skip parameters in some steps
    "progress_bar": None,  # None = when stderr is a terminal
    "tensorboard": True,
}


def section(cfg: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """A config section as a plain dict ({} when absent or empty)."""
    value = cfg.get(name)
    return dict(value) if value else {}


def check_runtime(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``runtime`` section with its defaults; an unknown key (a typo) is a one-line ConfigError."""
    runtime = section(cfg, "runtime")
    for key in runtime:
        if key not in RUNTIME_DEFAULTS:
            accepted = ", ".join(sorted(RUNTIME_DEFAULTS))
            raise ConfigError(f"unknown config key '{key}' in runtime (accepted: {accepted})")
    runtime = {**RUNTIME_DEFAULTS, **runtime}
    if runtime["progress_bar"] is None:
        runtime["progress_bar"] = sys.stderr.isatty()
    return runtime


def name_classes(model: nn.Module, dataset: Dataset) -> None:
    """Give the model the training set's class names (they travel in checkpoint meta, so inference tools can
    label results); a class count that differs from the model's is a one-line ConfigError."""
    dataset_names = getattr(dataset, "class_names", None)
    if getattr(model, "class_names", "absent") is None and dataset_names is not None:
        if len(dataset_names) != getattr(model, "num_classes", -1):
            raise ConfigError(f"model.num_classes is {model.num_classes} but the training data has "
                              f"{len(dataset_names)} classes")
        model.class_names = list(dataset_names)


def build_trainer(cfg: Any, work_dir: str, resume: Any = False, load_from: Optional[str] = None,
                  amp: bool = False, evaluator: Optional[Evaluator] = None, model: Optional[nn.Module] = None,
                  train_dataset: Optional[Dataset] = None, collate_fn: Optional[Callable] = None) -> Trainer:
    """The config's ``model``, ``data`` (``train``, ``samples_per_gpu``, ``workers_per_gpu``), ``optimizer``,
    ``schedule`` and ``runtime`` sections -> a `Trainer`, restored to its start point (`Trainer.restore`).

    ``resume``: False; True = newest checkpoint in ``work_dir`` (from scratch if there is none); or a path.
    ``load_from``: weights to start from, ignored when a resume checkpoint is found. ``amp``: float16 on CUDA
    (also ``runtime.amp``; on the CPU a warning and float32). ``model`` / ``train_dataset`` / ``collate_fn``:
    used instead of building them from the config (default collation: `vis.data.collate`).
    """
    cfg = to_plain(cfg)
    runtime = check_runtime(cfg)
    rank, world_size, local_rank = dist.init_distributed()
    device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    make_writable_dir(work_dir, "work dir")
    setup_logging(work_dir, main_process=rank == 0, use_tqdm=bool(runtime["progress_bar"]) and rank == 0)
    log = logging.getLogger("vis.train")
    amp = bool(amp or runtime["amp"])
    if amp and device.type != "cuda":
        log.warning("--amp needs CUDA; training in float32 on CPU")
        amp = False

    seed = int(runtime["seed"])
    dist.seed_all(seed)  # the same on every rank: identical model initialisation
    model = (model if model is not None else build_model(cfg.get("model"))).to(device)
    data_cfg = section(cfg, "data")
    if train_dataset is None:
        if not data_cfg.get("train"):
            raise ConfigError("config has no data.train section")
        train_dataset = build_dataset(data_cfg["train"])
    name_classes(model, train_dataset)
    if len(train_dataset) == 0:
        raise DataError("the training dataset is empty")
    data = TrainData(train_dataset, collate_fn or collate, batch_size=int(data_cfg.get("samples_per_gpu", 2)),
                     num_workers=int(data_cfg.get("workers_per_gpu", 2)), seed=seed, rank=rank,
                     world_size=world_size)
    optimizer_cfg = section(cfg, "optimizer")
    optimizer = build_optimizer(model, optimizer_cfg)
    scheduler = build_scheduler(optimizer, section(cfg, "schedule"), data.iters_per_epoch)
    settings = LoopSettings(work_dir, runtime, amp=amp, clip_grad_norm=optimizer_cfg.get("clip_grad_norm"), config=cfg)
    trainer = Trainer(model, data, optimizer, scheduler, settings, device, rank=rank, world_size=world_size,
                      local_rank=local_rank, evaluator=evaluator)
    trainer.restore(resume, load_from)
    return trainer
