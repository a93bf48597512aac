"""An exported per-frame network run by ONNX Runtime, in place of a model's own `network`.

`OnnxNetwork` is a callable with the signature of `FrameSegmenter.network` ((images [N, 3, H, W], sizes [N, 2])
-> named tensors), so `FrameSegmenter.detect(..., network=...)` runs it and then the model's own
post-processing. `RuntimeModel` wraps a model that way: it has the model's ``predict`` and nothing else a
runtime cannot give (no training, no features to train on). `OnnxMaskHead` runs an exported mask head (QueryInst's,
e.g. in int8) in place of the model's own, inside that post-processing (`attach_mask_head`).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..timing import inference_part
from . import BACKENDS
from .export import (MASK_HEAD_INPUTS, MASK_HEAD_METADATA_KEY, METADATA_KEY, mask_head_signature,
                     network_signature)

__all__ = ["BACKENDS", "OnnxMaskHead", "OnnxNetwork", "RuntimeModel", "attach_mask_head"]


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("--backend onnxruntime needs ONNX Runtime: pip install -e '.[onnx]'") from None
    return onnxruntime


def _session(path: str, threads: Optional[int]):
    """An ONNX Runtime CPU session of ``path`` with ``threads`` threads and every graph optimisation on; a missing
    or unreadable file is a one-line CheckpointError."""
    ort = _import_onnxruntime()
    if not os.path.isfile(path):
        raise CheckpointError(f"ONNX file not found: {path}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    # Its threads would spin after each run, waiting for the next one, while PyTorch predicts the masks of
    # the kept detections on the same cores, and slow that mask head down (docs/performance.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # not ONNX, truncated, unsupported operator ...
        reason = str(exc).strip().splitlines()
        raise CheckpointError(f"cannot load ONNX file {path}: {reason[0] if reason else type(exc).__name__}") \
            from None


def _signature(session, path: str, key: str, expected: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The file's JSON metadata under ``key``, checked against ``expected`` (each of its keys must agree)."""
    meta = session.get_modelmeta().custom_metadata_map.get(key)
    if meta is None:
        raise CheckpointError(f"{path} was not written by tools/export_onnx.py (no '{key}' metadata)")
    signature: Dict[str, Any] = json.loads(meta)
    for name, value in (expected or {}).items():
        if signature.get(name) != value:
            raise CheckpointError(
                f"ONNX file {os.path.basename(path)} does not fit the model: its {name} is {signature.get(name)!r}, "
                f"the config's model has {value!r} (export it again from this config and checkpoint)")
    return signature


class OnnxNetwork:
    """An ONNX file of `vis.runtime.export.export_onnx`, run on the CPU by ONNX Runtime with ``threads`` threads
    (None: its default, one per core) and every graph optimisation on.

    ``segmenter``: the model whose post-processing runs beside it; the file's metadata must name the same model,
    number of classes and queries and outputs (else a one-line CheckpointError). ``mask_head_path``: the mask
    head file the metadata names (beside this one), or None."""

    def __init__(self, path: str, segmenter: Optional[nn.Module] = None, threads: Optional[int] = None):
        self.session = _session(path, threads)
        self.path = path
        self.threads = threads
        expected = network_signature(segmenter) if segmenter is not None else None
        self.signature = _signature(self.session, path, METADATA_KEY, expected)
        self.output_names: List[str] = [o.name for o in self.session.get_outputs()]
        mask_head = self.signature.get("mask_head")
        self.mask_head_path = os.path.join(os.path.dirname(path), mask_head) if mask_head else None

    def __call__(self, tensor: torch.Tensor, image_sizes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """images [N, 3, H, W], sizes [N, 2] -> outputs by name, torch tensors on the images' device. The graph
        takes one image: a batch runs image by image and is concatenated."""
        per_image = []
        with inference_part("network"):
            for i in range(tensor.shape[0]):
                feeds = {"image": tensor[i:i + 1].detach().float().cpu().contiguous().numpy(),
                         "image_size": image_sizes[i:i + 1].detach().float().cpu().numpy()}
                per_image.append(self.session.run(self.output_names, feeds))
        outputs = {}
        for index, name in enumerate(self.output_names):
            arrays = [item[index] for item in per_image]
            array = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
            outputs[name] = torch.from_numpy(array).to(tensor.device)
        return outputs


class OnnxMaskHead(nn.Module):
    """A mask head file of `vis.runtime.export.export_mask_head` (e.g. int8), in place of the segmenter's
    PyTorch mask head: the same call, (roi_feats [R, C, S, S], attn_feats [R, C]) -> mask logits [R, K, 2S, 2S]."""

    def __init__(self, path: str, segmenter: nn.Module, threads: Optional[int] = None):
        super().__init__()
        self.session = _session(path, threads)
        self.path = path
        _signature(self.session, path, MASK_HEAD_METADATA_KEY, mask_head_signature(segmenter))

    def forward(self, roi_feats: torch.Tensor, attn_feats: torch.Tensor) -> torch.Tensor:
        feeds = {name: value.detach().float().cpu().contiguous().numpy()
                 for name, value in zip(MASK_HEAD_INPUTS, (roi_feats, attn_feats))}
        return torch.from_numpy(self.session.run(None, feeds)[0]).to(roi_feats.device)


def attach_mask_head(segmenter: nn.Module, network: OnnxNetwork) -> Optional[OnnxMaskHead]:
    """When ``network``'s file names a mask head file, run it in place of ``segmenter``'s mask head (the module
    at `FrameSegmenter.mask_head_module` is replaced) -> the runtime head, or None. A named file that is missing
    or does not fit is a one-line CheckpointError."""
    if network.mask_head_path is None:
        return None
    if not os.path.isfile(network.mask_head_path):
        raise CheckpointError(f"{network.path} runs with the mask head file {network.mask_head_path}, which is not "
                              f"there (tools/export_onnx.py writes both; keep them together)")
    if segmenter.mask_head_module is None:
        raise CheckpointError(f"{network.path} has a mask head file, and {type(segmenter).__name__} has no "
                              f"convolutional mask head")
    head = OnnxMaskHead(network.mask_head_path, segmenter, network.threads)
    parent_name, _, child_name = segmenter.mask_head_module.rpartition(".")
    setattr(segmenter.get_submodule(parent_name), child_name, head)
    return head


class RuntimeModel(nn.Module):
    """``model`` (a `FrameSegmenter` or a `VideoSegmenter`) with its per-frame network run by ``network`` (an
    `OnnxNetwork`, or any callable with `FrameSegmenter.network`'s signature, e.g. a compiled one).

    ``predict`` is the model's own, post-processing and track head included; only the network differs."""

    def __init__(self, model: nn.Module, network: Any, backend: str):
        super().__init__()
        self.model = model
        self.network = network
        self.backend = backend

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    @property
    def class_names(self):
        return self.model.class_names

    def predict(self, images: Any, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                defer_masks: bool = False, score_thr: Optional[float] = None, clip_boxes: bool = False):
        return self.model.predict(images, orig_sizes, defer_masks, score_thr, network=self.network,
                                  clip_boxes=clip_boxes)
