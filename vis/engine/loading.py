"""Loading weights into a model: foreign layouts unwrapped, keys matched, one clear report.

Fine-tuning (``--load-from``) and every inference tool take weights this way; it stands apart from the
checkpoint file itself (`vis.engine.checkpoint`: format, saving, resume) because it knows other toolkits'
layouts and the model's hooks, which saving and resuming never need.

Foreign layouts are accepted: mmdet 2.x / 3.x (``{'state_dict': ...}``), detectron2 / DETR / SOLQ
(``{'model': ...}``, detectron2 ``.pkl`` with numpy arrays), or a bare state dict. The model renames official
keys itself (``convert_state_dict``), and names the architecture a file holds through its class attributes
(``checkpoint_signature``, ``wrapped_prefix``; `describe_architecture`), so the engine knows no model's keys.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ..models import SEGMENTERS
from .checkpoint import FORMAT, checkpoint_logger, read_checkpoint
from .optim import unwrap_model

# A checkpoint "fits" only if fewer than this fraction of the model's keys are missing.
MAX_MISSING_FRACTION = 0.5


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
def describe_architecture(state: Mapping[str, Any]) -> Optional[str]:
    """'QueryInst', 'ISTR', 'SOLQ', 'VideoSegmenter(QueryInst)' (segmenter + track head), or None (unknown).

    Each registered model names the key prefix only its checkpoints have (``checkpoint_signature``); a model
    that wraps a segmenter also names the prefix of the wrapped segmenter's keys (``wrapped_prefix``).
    """
    keys = list(state)
    for name, model_class in SEGMENTERS.items():
        signature = getattr(model_class, "checkpoint_signature", None)
        if not signature or not any(k.startswith(signature) for k in keys):
            continue
        wrapped = getattr(model_class, "wrapped_prefix", None)
        if not wrapped:
            return name
        inner = describe_architecture({k[len(wrapped):]: None for k in keys if k.startswith(wrapped)})
        return f"{name}({inner or 'unknown segmenter'})"
    return None


def _architecture_of(model: nn.Module) -> str:
    """'ISTR', or 'VideoSegmenter(ISTR)' for a model that keeps a segmenter under its ``wrapped_prefix``."""
    wrapped = getattr(model, "wrapped_prefix", None)
    if wrapped:
        inner = model.get_submodule(wrapped.rstrip("."))
        return f"{type(model).__name__}({type(inner).__name__})"
    return type(model).__name__


def _is_wrapper(architecture: str) -> bool:
    return architecture.endswith(")") and "(" in architecture


def _segmenter_of(architecture: str) -> str:
    """'VideoSegmenter(ISTR)' -> 'ISTR' (an image checkpoint of a video model's segmenter fits it)."""
    if _is_wrapper(architecture):
        return architecture[architecture.index("(") + 1:-1]
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


def _match_keys(model_state: Dict[str, torch.Tensor], state: Dict[str, torch.Tensor],
                report: LoadReport) -> Dict[str, torch.Tensor]:
    """The checkpoint's tensors the model can take (same name, same shape); the rest go to ``report`` as missing,
    shape-mismatched or unexpected keys."""
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
    return usable


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
      those keys are skipped, the classifier keeps its fresh initialisation and the summary says
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

    usable = _match_keys(model_state, state, report)
    where = f"checkpoint {path} does not fit model {model_type}"
    wanted = _architecture_of(target)
    other_segmenter = held is not None and _segmenter_of(held) != _segmenter_of(wanted)
    too_few = not usable or (not allow_partial and len(report.missing) > MAX_MISSING_FRACTION * len(model_state))
    if too_few or (same_architecture and other_segmenter):
        missing = len(model_state) - len(usable)
        if held is not None and held != wanted:
            hint = f"it holds a {held} model, the config builds {wanted}"
            if _is_wrapper(held) and not _is_wrapper(wanted):  # a video model's file, an image config
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
        report.classifier_message = _classifier_message(target, checkpoint, report.mismatched)
    checkpoint_logger(logger).info(report.summary())
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
