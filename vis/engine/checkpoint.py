"""Checkpoints: atomic saving, loading with one clear key-matching report, and exact resume.

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

Foreign layouts are accepted by `load_checkpoint`: mmdet (``{'state_dict': ...}``), detectron2 / DETR
(``{'model': ...}``, detectron2 ``.pkl`` with numpy arrays), or a bare state dict.
"""
from __future__ import annotations

import logging
import os
import pickle
import random
import re
import time
from dataclasses import dataclass, field
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

# A checkpoint "fits" only if fewer than this fraction of the model's keys are missing.
MAX_MISSING_FRACTION = 0.5


def _logger(logger: Optional[logging.Logger]) -> logging.Logger:
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
                _logger(logger).warning(f"checkpoint {path} holds non-tensor objects; loaded with full unpickling")
    except Exception as exc:  # truncated, not a torch file, wrong pickle protocol, ...
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt or not a checkpoint): {_one_line(exc)}") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} is a {type(obj).__name__}, not a dict of weights")
    return dict(obj)


def extract_state_dict(checkpoint: Mapping[str, Any], path: str = "checkpoint") -> Dict[str, torch.Tensor]:
    """The model weights of any supported layout, with DDP ``module.`` prefixes removed."""
    if checkpoint.get("format") == FORMAT:
        state = dict(checkpoint["model"])
        for key, scale in (checkpoint.get("quant_scales") or {}).items():  # int8 export: back to float
            state[key] = state[key].float() * scale
    elif isinstance(checkpoint.get("state_dict"), Mapping):  # mmdet / mmengine
        state = checkpoint["state_dict"]
    elif isinstance(checkpoint.get("model"), Mapping):  # detectron2, DETR, SOLQ
        state = checkpoint["model"]
    else:
        state = checkpoint
    tensors: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):  # detectron2 model-zoo .pkl files
            value = torch.from_numpy(np.ascontiguousarray(value))
        if not isinstance(value, torch.Tensor):
            continue
        while key.startswith("module."):
            key = key[len("module.") :]
        tensors[key] = value
    if not tensors:
        raise CheckpointError(f"checkpoint {path} has no model weights (keys: {', '.join(list(checkpoint)[:5])})")
    return tensors


# --------------------------------------------------------------------------------------------------
# What a checkpoint holds (for error messages and class names)
# --------------------------------------------------------------------------------------------------
# A key prefix only one architecture's checkpoints have, in this project's layout and the official ones alike.
_ARCHITECTURE_KEYS = (
    ("SOLQ", "vector_embed."),
    ("ISTR", "head.head_series."),
    ("QueryInst", "roi_head.mask_head."),
)


def describe_architecture(state: Mapping[str, Any]) -> Optional[str]:
    """'QueryInst', 'ISTR', 'SOLQ', 'VideoSegmenter(QueryInst)' (segmenter + track head), or None (unknown)."""
    keys = list(state)
    if any(k.startswith("track_head.") for k in keys):
        inner = describe_architecture({k[len("segmenter."):]: None for k in keys if k.startswith("segmenter.")})
        return f"VideoSegmenter({inner or 'unknown segmenter'})"
    for name, prefix in _ARCHITECTURE_KEYS:
        if any(k.startswith(prefix) for k in keys):
            return name
    return None


def _architecture_of(model: nn.Module) -> str:
    inner = getattr(model, "segmenter", None)
    if inner is not None and hasattr(model, "track_head"):
        return f"VideoSegmenter({type(inner).__name__})"
    return type(model).__name__


def _segmenter_of(architecture: str) -> str:
    """'VideoSegmenter(ISTR)' -> 'ISTR' (an image checkpoint of a video model's segmenter fits it)."""
    if architecture.startswith("VideoSegmenter(") and architecture.endswith(")"):
        return architecture[len("VideoSegmenter("):-1]
    return architecture


def checkpoint_class_names(checkpoint: Mapping[str, Any]) -> Optional[List[str]]:
    """Class names stored in a checkpoint's meta: this project's ``class_names``, mmdet 2.x ``CLASSES``,
    mmdet 3.x ``dataset_meta['classes']``; None when the file has none (detectron2, DETR / SOLQ releases)."""
    meta = checkpoint.get("meta")
    if not isinstance(meta, Mapping):
        return None
    dataset_meta = meta.get("dataset_meta")
    for names in (meta.get("class_names"), meta.get("CLASSES"),
                  dataset_meta.get("classes") if isinstance(dataset_meta, Mapping) else None):
        if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
            return list(names)
    return None


# --------------------------------------------------------------------------------------------------
# Loading weights (fine-tuning, inference)
# --------------------------------------------------------------------------------------------------
def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _names(names: Sequence[str], first: int = 3) -> str:
    shown = ", ".join(names[:first])
    return shown + (", ..." if len(names) > first else "")


@dataclass
class LoadReport:
    """What `load_checkpoint` did: key counts and names, for one summary line."""

    path: str
    model_type: str
    num_model_keys: int
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    classifier_reinitialised: bool = False
    classifier_message: str = ""
    notes: List[str] = field(default_factory=list)  # what the model's convert_state_dict changed
    class_names: Optional[List[str]] = None  # from the checkpoint's meta, in any supported layout

    def summary(self) -> str:
        parts = [f"loaded {self.path}: {len(self.loaded)} of {self.num_model_keys} model keys"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({_names(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected ({_names(self.unexpected)})")
        if self.mismatched and not self.classifier_reinitialised:
            parts.append(f"{len(self.mismatched)} shape-mismatched ({_names([m[0] for m in self.mismatched])})")
        if self.classifier_message:
            parts.append(self.classifier_message)
        parts.extend(self.notes)
        return "; ".join(parts)


def _classifier_names(model: nn.Module) -> List[str]:
    getter = getattr(model, "classifier_param_names", None)
    return list(getter()) if callable(getter) else []


def load_checkpoint(
    model: nn.Module,
    path: str,
    strict: bool = False,
    logger: Optional[logging.Logger] = None,
    allow_partial: bool = False,
    same_architecture: bool = False,
) -> LoadReport:
    """Load model weights from ``path`` (any supported layout) and log one summary line.

    - Missing, unexpected and shape-mismatched keys are counted and the first few named.
    - When the only shape mismatches are the model's ``classifier_param_names()`` (another label set),
      those keys are skipped, the classifier keeps its fresh initialisation (``model.reset_classifier()``
      is called if the model has one) and the summary says
      ``classifier re-initialised: checkpoint has 80 classes, model has 40``.
    - `CheckpointError` (one line) when the file does not fit: no key matches, more than half of the
      model's keys are missing (unless ``allow_partial``), shapes differ outside the classifier,
      or, with ``strict``, any key is missing, unexpected or mismatched.
    - With ``same_architecture`` (inference), also when the file holds another segmenter than the model's (e.g. a
      QueryInst file into ISTR: backbone and FPN would fit, the head would stay random). Training's ``--load-from``
      leaves it off, so a backbone + FPN can be taken from another segmenter on purpose.
    """
    checkpoint = read_checkpoint(path, logger)
    state = extract_state_dict(checkpoint, path)
    target = unwrap_model(model)
    held = describe_architecture(state)
    # Official checkpoints (mmdet, detectron2, DETR layouts) are renamed by the model that knows them.
    describe = getattr(target, "describe_conversion", None)
    notes = [note for note in [describe(state) if callable(describe) else None] if note]
    convert = getattr(target, "convert_state_dict", None)
    if callable(convert):
        state = convert(state)
    model_type = type(target).__name__
    model_state = target.state_dict()
    report = LoadReport(path=path, model_type=model_type, num_model_keys=len(model_state),
                        notes=notes, class_names=checkpoint_class_names(checkpoint))

    usable: Dict[str, torch.Tensor] = {}
    for key, value in model_state.items():
        if key not in state:
            report.missing.append(key)
        elif tuple(state[key].shape) != tuple(value.shape):
            report.mismatched.append((key, tuple(state[key].shape), tuple(value.shape)))
        else:
            usable[key] = state[key]
    report.unexpected = [k for k in state if k not in model_state]
    report.loaded = list(usable)

    where = f"checkpoint {path} does not fit model {model_type}"
    wanted = _architecture_of(target)
    other_segmenter = held is not None and _segmenter_of(held) != _segmenter_of(wanted)
    too_few = not usable or (not allow_partial and len(report.missing) > MAX_MISSING_FRACTION * len(model_state))
    if too_few or (same_architecture and other_segmenter):
        missing = len(model_state) - len(usable)
        if held is not None and held != wanted:
            hint = f"it holds a {held} model, the config builds {wanted}"
            if held.startswith("VideoSegmenter(") and not wanted.startswith("VideoSegmenter("):
                hint += ": pass the video config it was trained with"
            raise CheckpointError(f"{where}: {hint} ({missing} of {len(model_state)} keys missing)")
        raise CheckpointError(f"{where}: {missing} of {len(model_state)} keys missing (is it another architecture?)")

    classifier = set(_classifier_names(target))
    outside = [m for m in report.mismatched if m[0] not in classifier]
    if outside:
        name, ckpt_shape, model_shape = outside[0]
        raise CheckpointError(
            f"{where}: {len(outside)} keys differ in shape outside the classifier, "
            f"e.g. {name}: checkpoint {ckpt_shape} vs model {model_shape}"
        )
    if strict and (report.missing or report.unexpected or report.mismatched):
        raise CheckpointError(
            f"{where} exactly (strict): {len(report.missing)} missing, {len(report.unexpected)} unexpected, "
            f"{len(report.mismatched)} shape-mismatched keys, e.g. "
            f"{(report.missing + report.unexpected + [m[0] for m in report.mismatched])[0]}"
        )

    target.load_state_dict(usable, strict=False)
    if report.mismatched:  # only classifier keys are left here
        report.classifier_reinitialised = True
        reset = getattr(target, "reset_classifier", None)
        if callable(reset):
            reset()
        report.classifier_message = _classifier_message(target, checkpoint, report.mismatched)
    _logger(logger).info(report.summary())
    return report


def _classifier_message(model: nn.Module, checkpoint: Mapping[str, Any], mismatched) -> str:
    """'classifier re-initialised: checkpoint has 80 classes, model has 40'."""
    model_classes = getattr(model, "num_classes", None)
    _, ckpt_shape, model_shape = sorted(mismatched)[0]
    meta = checkpoint.get("meta") if isinstance(checkpoint.get("meta"), Mapping) else {}
    ckpt_classes = meta.get("num_classes") if checkpoint.get("format") == FORMAT else None
    if ckpt_classes is None and ckpt_shape and model_shape:
        # A softmax head has K+1 rows (background); the same offset applies to the checkpoint's head.
        offset = model_shape[0] - model_classes if isinstance(model_classes, int) else 0
        ckpt_classes = ckpt_shape[0] - offset
    if model_classes is None and model_shape:
        model_classes = model_shape[0]
    return f"classifier re-initialised: checkpoint has {ckpt_classes} classes, model has {model_classes}"


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

    Only our own training checkpoints can be resumed (weights from other files: `load_checkpoint`).
    Each rank restores its own RNG state; if the world size changed, rank 0's state is used and a
    warning says that the continuation will not be bit-identical.
    """
    log = _logger(logger)
    checkpoint = read_checkpoint(path, logger)
    if checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"cannot resume from {path}: not a training checkpoint of this toolkit (use --load-from for weights)")
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


# --------------------------------------------------------------------------------------------------
# Exporting weights (deployment, the bundled demo model)
# --------------------------------------------------------------------------------------------------
EXPORT_DTYPES = ("float32", "float16", "int8")
# int8 export: the ResNet trunk of any segmenter (see _BACKBONE_PREFIXES below) or of its video model.
_INT8_PREFIXES = ("backbone.", "segmenter.backbone.")


def quantize_int8(weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: ``weight ~= q * scale``; q int8 [O, ...], scale float32 [O, 1, ...]."""
    w = weight.detach().float()
    absmax = w.abs().reshape(w.shape[0], -1).amax(dim=1).clamp_min(1e-12)  # [O]
    scale = (absmax / 127.0).reshape(-1, *([1] * (w.dim() - 1)))
    return torch.round(w / scale).clamp_(-127, 127).to(torch.int8), scale


def export_checkpoint(src: str, dst: str, dtype: str = "float32", int8_min_numel: int = 4096) -> Dict[str, Any]:
    """Write ``dst`` with only what inference needs from ``src``: weights, config, meta, iteration.

    Optimizer, scheduler and RNG states are dropped (they are most of a training checkpoint's size).
    ``dtype``: "float16" stores floating-point weights as float16 (half the size); "int8" stores every
    conv weight of the ResNet trunk with at least ``int8_min_numel`` elements as int8 with one float32 scale
    per output channel (``quant_scales``), and the rest as float16. The heads stay float16 because their
    linear layers *generate* weights (QueryInst's DynamicConv, ISTR's dynamic attention) or sampling offsets
    (SOLQ), which compounds rounding: on the bundled demo model, int8 heads cost 5 YouTube-VIS AP (58.1 ->
    53.1), int8 trunk + float16 heads 0.1 (58.0, 17 MB). `load_checkpoint` turns both back into the
    float32 model's weights, so inference code does not change; the rounding is the only difference
    (measure it: the bundled demo model's AP is measured on the exported file).
    Returns ``{"path", "bytes", "tensors", "int8_tensors"}``.
    """
    if dtype not in EXPORT_DTYPES:
        raise VisError(f"unknown export dtype '{dtype}' (choose from {', '.join(EXPORT_DTYPES)})")
    checkpoint = read_checkpoint(src)
    state = extract_state_dict(checkpoint, src)
    scales: Dict[str, torch.Tensor] = {}
    if dtype != "float32":
        for key, value in list(state.items()):
            if not value.is_floating_point():
                continue
            if (dtype == "int8" and key.startswith(_INT8_PREFIXES) and value.dim() >= 2
                    and value.numel() >= int8_min_numel):
                state[key], scales[key] = quantize_int8(value)
            else:
                state[key] = value.half()
    meta = dict(checkpoint.get("meta") or {})
    meta.update(exported_from=os.path.basename(src), weights_dtype=dtype)
    exported = {
        "format": FORMAT,
        "version": VERSION,
        "model": state,
        "quant_scales": scales or None,
        "optimizer": None,
        "scheduler": None,
        "scaler": None,
        "iteration": int(checkpoint.get("iteration") or 0),
        "epoch": checkpoint.get("epoch"),
        "rng": [],
        "config": checkpoint.get("config"),
        "meta": meta,
    }
    directory = os.path.dirname(os.path.abspath(dst))
    try:
        os.makedirs(directory, exist_ok=True)
        with atomic_open(dst, "wb") as f:
            torch.save(exported, f)
    except OSError as exc:
        raise VisError(f"cannot write checkpoint {dst}: {exc.strerror or exc}") from None
    return {"path": dst, "bytes": os.path.getsize(dst), "tensors": len(state), "int8_tensors": len(scales)}


# Where each segmenter keeps its ResNet trunk (torchvision names below the prefix): QueryInst and ISTR under
# "backbone.", SOLQ under "backbone.0.body."; video models add "segmenter.".
_BACKBONE_PREFIXES = ("backbone.", "backbone.0.body.", "segmenter.backbone.", "segmenter.backbone.0.body.")
_RESNET_TOP_LEVEL = frozenset({"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"})


def export_backbone(src: str, dst: str) -> Dict[str, Any]:
    """Write the ResNet trunk of a trained segmenter as a torchvision ``resnet*`` state dict (float32).

    The file is what a config's ``backbone.pretrained`` expects, so one trained model's backbone can start
    another's training, as ImageNet weights do on real data (where none can be downloaded, the synthetic
    images stand in for ImageNet). Works for QueryInst, ISTR and SOLQ checkpoints and their video models.
    Returns ``{"path", "bytes", "tensors", "prefix"}``.
    """
    checkpoint = read_checkpoint(src)
    state = extract_state_dict(checkpoint, src)
    for prefix in _BACKBONE_PREFIXES:
        if prefix + "conv1.weight" in state and prefix + "layer4.0.conv1.weight" in state:
            break
    else:
        raise CheckpointError(f"{src} holds no ResNet backbone (no 'backbone.conv1.weight' or similar key)")
    trunk = {k[len(prefix):]: v.float() if v.is_floating_point() else v
             for k, v in state.items() if k.startswith(prefix)}
    trunk = {k: v for k, v in trunk.items() if k.split(".")[0] in _RESNET_TOP_LEVEL}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        with atomic_open(dst, "wb") as f:
            torch.save({"state_dict": trunk, "meta": {"exported_from": os.path.basename(src),
                                                      "iteration": int(checkpoint.get("iteration") or 0)}}, f)
    except OSError as exc:
        raise VisError(f"cannot write weights file {dst}: {exc.strerror or exc}") from None
    return {"path": dst, "bytes": os.path.getsize(dst), "tensors": len(trunk), "prefix": prefix}

