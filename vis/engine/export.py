"""Exporting weights: an inference-only checkpoint (float32 / float16 / int8 trunk) or a bare ResNet trunk.

Deployment and the bundled demo model (models/demo/) are made this way. It stands apart from saving and
resuming (`vis.engine.checkpoint`) and from loading into a model (`vis.engine.loading`): it reads one file and
writes another, and no training or inference code needs it. Where each model keeps its ResNet trunk is the
models' knowledge (``backbone_prefix``, ``wrapped_prefix``); `load_checkpoint` turns every export back into
float32 weights.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import torch

from ..errors import CheckpointError, VisError
from ..io.files import atomic_open
from ..models import SEGMENTERS
from .checkpoint import FORMAT, VERSION, read_checkpoint
from .loading import extract_state_dict

EXPORT_DTYPES = ("float32", "float16", "int8")
_RESNET_TOP_LEVEL = frozenset({"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"})


def _backbone_prefixes() -> List[str]:
    """Where the registered models keep a ResNet trunk (torchvision names below the prefix), most common first.

    Each segmenter names its own (``backbone_prefix``: QueryInst and ISTR ``backbone.``, SOLQ
    ``backbone.0.body.``); a model that wraps a segmenter (``wrapped_prefix``, the video model's
    ``segmenter.``) holds the same trunks below its prefix.
    """
    bare: List[str] = []
    wrappers: List[str] = []
    for model_class in SEGMENTERS.values():
        wrapped = getattr(model_class, "wrapped_prefix", None)
        prefix = getattr(model_class, "backbone_prefix", None)
        if wrapped:
            wrappers.append(wrapped)
        elif prefix and prefix not in bare:
            bare.append(prefix)
    return bare + [wrapped + prefix for wrapped in wrappers for prefix in bare]


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
    (SOLQ), which compounds rounding: int8 heads cost the bundled demo model several YouTube-VIS AP, an int8
    trunk with float16 heads next to none (docs/learning_runs.md has the figures). `load_checkpoint` turns both
    back into the float32 model's weights, so inference code does not change; the rounding is the only
    difference, so measure the exported file's AP rather than the float32 model's.
    Returns ``{"path", "bytes", "tensors", "int8_tensors"}``.
    """
    if dtype not in EXPORT_DTYPES:
        raise VisError(f"unknown export dtype '{dtype}' (choose from {', '.join(EXPORT_DTYPES)})")
    checkpoint = read_checkpoint(src)
    state = extract_state_dict(checkpoint, src)
    scales: Dict[str, torch.Tensor] = {}
    trunk_prefixes = tuple(_backbone_prefixes())  # int8: the ResNet trunk of any segmenter or of its video model
    if dtype != "float32":
        for key, value in list(state.items()):
            if not value.is_floating_point():
                continue
            if (dtype == "int8" and key.startswith(trunk_prefixes) and value.dim() >= 2
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


def export_backbone(src: str, dst: str) -> Dict[str, Any]:
    """Write the ResNet trunk of a trained segmenter as a torchvision ``resnet*`` state dict (float32).

    The file is what a config's ``backbone.pretrained`` expects, so one trained model's backbone can start
    another's training, as ImageNet weights do on real data (where none can be downloaded, the synthetic
    images stand in for ImageNet). Works for QueryInst, ISTR and SOLQ checkpoints and their video models.
    Returns ``{"path", "bytes", "tensors", "prefix"}``.
    """
    checkpoint = read_checkpoint(src)
    state = extract_state_dict(checkpoint, src)
    for prefix in _backbone_prefixes():
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
