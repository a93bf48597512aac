"""An exported per-frame network run by ONNX Runtime, in place of a model's own `network`.

`OnnxNetwork` is a callable with the signature of `FrameSegmenter.network` ((images [N, 3, H, W], sizes [N, 2])
-> named tensors), so `FrameSegmenter.predict_with_features(..., network=...)` runs it and then the model's own
post-processing. `RuntimeModel` wraps a model that way: it has the model's ``predict`` and nothing else a
runtime cannot give (no training, no features to train on).
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
from .export import METADATA_KEY, network_signature

__all__ = ["BACKENDS", "OnnxNetwork", "RuntimeModel"]


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("--backend onnxruntime needs ONNX Runtime: pip install -e '.[onnx]'") from None
    return onnxruntime


class OnnxNetwork:
    """An ONNX file of `vis.runtime.export.export_onnx`, run on the CPU by ONNX Runtime with ``threads`` threads
    (None: its default, one per core) and every graph optimisation on.

    ``segmenter``: the model whose post-processing runs beside it; the file's metadata must name the same model,
    number of classes and queries and outputs (else a one-line CheckpointError)."""

    def __init__(self, path: str, segmenter: Optional[nn.Module] = None, threads: Optional[int] = None):
        ort = _import_onnxruntime()
        if not os.path.isfile(path):
            raise CheckpointError(f"ONNX file not found: {path}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        # Its threads would spin after each run, waiting for the next one, while PyTorch predicts the masks of
        # the kept detections on the same cores: measured on 2 cores, the mask head took 10% longer.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # not ONNX, truncated, unsupported operator ...
            reason = str(exc).strip().splitlines()
            raise CheckpointError(f"cannot load ONNX file {path}: {reason[0] if reason else type(exc).__name__}") \
                from None
        self.path = path
        meta = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if meta is None:
            raise CheckpointError(f"{path} was not written by tools/export_onnx.py (no '{METADATA_KEY}' metadata)")
        self.signature: Dict[str, Any] = json.loads(meta)
        self.output_names: List[str] = [o.name for o in self.session.get_outputs()]
        if segmenter is not None:
            expected = network_signature(segmenter)
            for key, value in expected.items():
                if self.signature.get(key) != value:
                    raise CheckpointError(
                        f"ONNX file {os.path.basename(path)} does not fit the model: its {key} is "
                        f"{self.signature.get(key)!r}, the config's model has {value!r} (export it again from this "
                        f"config and checkpoint)")

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
                defer_masks: bool = False, score_thr: Optional[float] = None):
        return self.model.predict(images, orig_sizes, defer_masks, score_thr, network=self.network)
