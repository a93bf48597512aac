"""The checkpoint file: its format, atomic saving, the work dir's files, reading one back, and exact resume.

This module owns what a training checkpoint *is*; loading weights into a model with a key report
(`vis.engine.loading`) and writing inference-only files (`vis.engine.export`) build on it.

Format (a dict written with ``torch.save``; every value loads with ``weights_only=True``)::

    format     'vis-checkpoint'          version     1
    model      state dict (DDP 'module.' removed, CPU tensors)
    optimizer  optimizer.state_dict()    scheduler   scheduler.state_dict()
    scaler     GradScaler state or None  iteration   completed iterations (resume starts here)
    epoch      epoch of the next iteration
    rng        list, one entry per rank: {'python', 'numpy', 'torch', 'cuda'} generator states
    config     the config as plain dicts / lists
    meta       {'class_names', 'num_classes', 'model_type', 'vis_version', 'torch_version', 'time', 'world_size'}

Files in a work dir are ``iter_<N>.pth``. The newest one is named in the small text file
``last_checkpoint`` (detectron2's choice) rather than copied to ``latest.pth``: a QueryInst
checkpoint with AdamW moments is ~2 GB and a copy would double the disk use; a symlink would not
survive every file system. `find_latest_checkpoint` reads the pointer and falls back to the highest
``iter_<N>.pth`` when the pointer is missing or stale; `resolve_checkpoint` lets every tool take
``<work dir>/latest.pth`` (mmdet's name) or the work dir itself for that file.

`read_checkpoint` reads any checkpoint file (ours or a foreign one) to a dict; `resume` needs it, and so do
loading and export, which is why it lives here rather than with the foreign layouts in `vis.engine.loading`.
"""
from __future__ import annotations

import logging
import os
import pickle
import random
import re
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..config import to_plain
from ..errors import CheckpointError, VisError
from ..io.files import atomic_open
from .optim import unwrap_model

FORMAT = "vis-checkpoint"
VERSION = 1
POINTER_FILE = "last_checkpoint"
_CKPT_NAME = re.compile(r"^iter_(\d+)\.pth$")


def checkpoint_logger(logger: Optional[logging.Logger]) -> logging.Logger:
    """``logger``, or the ``vis.checkpoint`` logger that checkpoint saving, loading and resume report to."""
    return logger if logger is not None else logging.getLogger("vis.checkpoint")


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------------------
# RNG state
# --------------------------------------------------------------------------------------------------
def capture_rng_state() -> Dict[str, Any]:
    """This process's python / numpy / torch / CUDA generator states, in a weights_only-loadable form."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    python_state = state["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    npy = state["numpy"]
    np.random.set_state(
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


# --------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------
def checkpoint_name(iteration: int) -> str:
    return f"iter_{int(iteration)}.pth"


def _cpu_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in unwrap_model(model).state_dict().items()}


def model_meta(model: nn.Module) -> Dict[str, Any]:
    """What inference tools need to rebuild outputs without the training config."""
    from .. import __version__

    model = unwrap_model(model)
    class_names = getattr(model, "class_names", None)
    return {
        "class_names": list(class_names) if class_names is not None else None,
        "num_classes": getattr(model, "num_classes", None),
        "model_type": type(model).__name__,
        "vis_version": __version__,
        "torch_version": str(torch.__version__),
    }


def save_checkpoint(
    path: str,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Any = None,
    iteration: int = 0,
    epoch: Optional[int] = None,
    config: Any = None,
    meta: Optional[Mapping[str, Any]] = None,
    scaler: Any = None,
    rng_states: Optional[Sequence[Mapping[str, Any]]] = None,
    max_keep_ckpts: Optional[int] = None,
) -> str:
    """Write a checkpoint atomically, point ``last_checkpoint`` at it and prune old ``iter_*.pth``.

    Call on the main process only. ``rng_states``: one entry per rank (the trainer gathers them);
    default is this process's state. ``max_keep_ckpts`` <= 0 or None keeps every file.
    Returns ``path``.
    """
    directory = os.path.dirname(os.path.abspath(path))
    full_meta = model_meta(model)
    full_meta.update({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "world_size": len(rng_states or [0])})
    full_meta.update(dict(meta or {}))
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "model": _cpu_state_dict(model),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "iteration": int(iteration),
        "epoch": None if epoch is None else int(epoch),
        "rng": list(rng_states) if rng_states is not None else [capture_rng_state()],
        "config": to_plain(config) if config is not None else None,
        "meta": to_plain(full_meta),
    }
    try:
        with atomic_open(path, "wb") as f:  # temp file + rename: a crash never leaves a half checkpoint
            torch.save(checkpoint, f)
    except OSError as exc:
        raise VisError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    _write_pointer(directory, os.path.basename(path))
    if max_keep_ckpts is not None and max_keep_ckpts > 0:
        prune_checkpoints(directory, max_keep_ckpts, keep=os.path.basename(path))
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _write_pointer(directory: str, name: str) -> None:
    with atomic_open(os.path.join(directory, POINTER_FILE), "w") as f:
        f.write(name + "\n")


def list_checkpoints(directory: str) -> List[Tuple[int, str]]:
    """``(iteration, path)`` of every ``iter_<N>.pth`` in ``directory``, oldest first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _CKPT_NAME.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    return sorted(found)


def prune_checkpoints(directory: str, max_keep: int, keep: Optional[str] = None) -> List[str]:
    """Delete all but the ``max_keep`` highest-iteration checkpoints (never ``keep``); returns the deleted paths."""
    checkpoints = list_checkpoints(directory)
    removed = []
    for _, path in checkpoints[: max(0, len(checkpoints) - max_keep)]:
        if keep is not None and os.path.basename(path) == keep:
            continue
        _remove_quietly(path)
        removed.append(path)
    return removed


def find_latest_checkpoint(directory: str) -> Optional[str]:
    """Path named by ``<directory>/last_checkpoint``, else the highest ``iter_<N>.pth``, else None."""
    pointer = os.path.join(directory, POINTER_FILE)
    if os.path.isfile(pointer):
        try:
            with open(pointer) as f:
                name = f.read().strip()
        except OSError:
            name = ""
        if name and os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1][1] if checkpoints else None


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or a work dir / ``<work dir>/latest.pth`` standing for its newest checkpoint.

    mmdet users type ``work/coco/latest.pth``; our work dirs name the newest file in ``last_checkpoint``
    instead of keeping a copy, so that name (and the work dir itself) is resolved here. Anything else
    that is not a file is a one-line `CheckpointError`.
    """
    if os.path.isfile(path):
        return path
    directory = path if os.path.isdir(path) else None
    if directory is None and os.path.basename(path) == "latest.pth" and os.path.isdir(os.path.dirname(path) or "."):
        directory = os.path.dirname(path) or "."
    if directory is None:
        raise CheckpointError(f"checkpoint not found: {path}")
    latest = find_latest_checkpoint(directory)
    if latest is None:
        raise CheckpointError(f"checkpoint not found: {path} (no iter_<N>.pth in {directory})")
    return latest


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
def read_checkpoint(path: str, logger: Optional[logging.Logger] = None) -> Dict[str, Any]:
    """Load a checkpoint file to CPU; missing or unreadable files raise `CheckpointError` (one line).

    Our files and plain state dicts load with ``weights_only=True``. Foreign files that pickle other
    objects (mmengine message hubs, argparse Namespaces, detectron2 ``.pkl``) need a full unpickle,
    which can run code: that fallback is logged, so only load files you trust.
    """
    path = resolve_checkpoint(path)
    try:
        if path.endswith(".pkl"):
            with open(path, "rb") as f:
                obj = pickle.load(f, encoding="latin1")
        else:
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc:
                if "weights only load failed" not in str(exc).lower() or "truncated" in str(exc).lower():
                    raise
                obj = torch.load(path, map_location="cpu", weights_only=False)
                checkpoint_logger(logger).warning(
                    f"checkpoint {path} holds non-tensor objects; loaded with full unpickling")
    except Exception as exc:  # truncated, not a torch file, wrong pickle protocol, ...
        raise CheckpointError(
            f"cannot read checkpoint {path} (corrupt or not a checkpoint): {_one_line(exc)}"
        ) from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} is a {type(obj).__name__}, not a dict of weights")
    return dict(obj)


# --------------------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------------------
def resume(
    path: str,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Any = None,
    scaler: Any = None,
    rank: int = 0,
    world_size: int = 1,
    logger: Optional[logging.Logger] = None,
) -> int:
    """Restore model, optimizer, scheduler, AMP scaler and RNG states; returns the iteration to start at.

    Only our own training checkpoints can be resumed (weights from other files: `vis.engine.loading.load_checkpoint`).
    Each rank restores its own RNG state; if the world size changed, rank 0's state is used and a
    warning says that the continuation will not be bit-identical.
    """
    log = checkpoint_logger(logger)
    checkpoint = read_checkpoint(path, logger)
    if checkpoint.get("format") != FORMAT:
        raise CheckpointError(
            f"cannot resume from {path}: not a training checkpoint of this toolkit (use --load-from for weights)"
        )
    target = unwrap_model(model)
    try:
        target.load_state_dict(checkpoint["model"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"cannot resume from {path}: its weights do not fit model {type(target).__name__} ({_one_line(exc)})"
        ) from None
    try:
        if optimizer is not None and checkpoint.get("optimizer") is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None and checkpoint.get("scheduler") is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"cannot resume from {path}: optimizer/scheduler state does not fit ({_one_line(exc)})"
        ) from None
    if scaler is not None and checkpoint.get("scaler") is not None and scaler.is_enabled():
        scaler.load_state_dict(checkpoint["scaler"])
    rng_states = checkpoint.get("rng") or []
    if rng_states:
        if len(rng_states) != world_size:
            log.warning(
                f"checkpoint was saved with {len(rng_states)} processes, resuming with {world_size}: "
                "data order and random state will differ from an uninterrupted run"
            )
        restore_rng_state(rng_states[rank] if rank < len(rng_states) else rng_states[0])
    iteration = int(checkpoint.get("iteration", 0))
    log.info(f"resumed from {path} at iteration {iteration}")
    return iteration

