"""A segmenter's per-frame network -> ONNX, and the check of an exported file against PyTorch.

What is exported is `FrameSegmenter.network` for one image: inputs ``image`` float [1, 3, H, W] (normalised and
zero-padded by the model's `FrameTransform`, H and W dynamic) and ``image_size`` float [1, 2] (its unpadded h, w);
outputs the model's `network_outputs` in that order. torch's exporter (``torch.onnx.export(dynamo=True)``, opset
18) traces the model's own code, so PyTorch and ONNX Runtime run the same network; the file's metadata names the
model it was made from, which `vis.runtime.onnx_network.OnnxNetwork` checks before running it beside a model.

A convolutional mask head (QueryInst's) may be exported as a second graph (`export_mask_head`), for int8: the
network file's metadata then names it, and the runtime runs it in place of the PyTorch head.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import VisError

OPSET = 18
METADATA_KEY = "vis.network"  # JSON: model, num_classes, num_queries, outputs, size_divisibility[, mask_head]
MASK_HEAD_METADATA_KEY = "vis.mask_head"  # JSON: model, num_classes, module, inputs
MASK_HEAD_INPUTS = ("roi_feats", "attn_feats")


class NetworkGraph(nn.Module):
    """``segmenter.network`` as a module with positional tensor outputs (what an exporter traces)."""

    def __init__(self, segmenter: nn.Module):
        super().__init__()
        self.segmenter = segmenter

    def forward(self, image: torch.Tensor, image_size: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outputs = self.segmenter.network(image, image_size)
        return tuple(outputs[name] for name in self.segmenter.network_outputs)


def network_signature(segmenter: nn.Module) -> Dict[str, object]:
    """What an ONNX file must agree on with the model whose post-processing runs beside it."""
    logits_rows = getattr(segmenter, "num_proposals", None) or getattr(segmenter, "num_queries", None)
    return {"model": type(segmenter).__name__, "num_classes": int(segmenter.num_classes),
            "num_queries": int(logits_rows) if logits_rows else None,
            "outputs": list(segmenter.network_outputs), "size_divisibility": int(segmenter.size_divisibility)}


@contextmanager
def _plain_attention() -> Iterator[None]:
    """nn.MultiheadAttention's fused eval fast path is one op no ONNX exporter knows; export the plain ops."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def example_input(segmenter: nn.Module, size: Tuple[int, int], seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """A random 0..255 image of ``size`` (h, w) prepared by the model itself -> (image [1, 3, H, W], image_size
    [1, 2])."""
    generator = torch.Generator().manual_seed(seed)
    raw = torch.rand(3, int(size[0]), int(size[1]), generator=generator) * 255
    batch = segmenter.transform([raw.to(segmenter.device)])
    return batch.tensor.contiguous(), batch.size_tensor()


def _write_onnx(path: str, export: Callable[[str], None], metadata: Dict[str, str]) -> str:
    """``export(tmp)`` writes an ONNX file to ``tmp`` (in ``path``'s folder); ``metadata`` is added, then the file
    is renamed to ``path``: a killed export leaves no file that looks complete."""
    import onnx

    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(suffix=".onnx.tmp", dir=folder)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of a file written plainly, not mkstemp's private 0600
    try:
        export(tmp)
        model = onnx.load(tmp)
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _on_cpu(segmenter: nn.Module) -> nn.Module:
    """The model to trace: ``segmenter`` when it is on the CPU, else a CPU copy of it (the graph is traced on the
    CPU; a model on a GPU stays where it is, in use)."""
    if segmenter.device.type == "cpu":
        return segmenter
    return copy.deepcopy(segmenter).cpu()


def export_onnx(segmenter: nn.Module, path: str, example_size: Tuple[int, int] = (320, 480),
                mask_head_file: Optional[str] = None) -> str:
    """Write ``segmenter``'s network (in eval mode, on the CPU) to ``path`` (via a temporary file in its folder,
    renamed when complete). ``example_size`` is the traced image's (h, w); the graph takes any size.
    ``mask_head_file``: the name, in the same folder, of the mask head's file (`export_mask_head`) that runs
    beside this one; the metadata says so and the runtime loads both."""
    segmenter = _on_cpu(segmenter.eval())
    image, image_size = example_input(segmenter, example_size)
    height = torch.export.Dim("height", min=32, max=8192)
    width = torch.export.Dim("width", min=32, max=8192)

    def export(tmp: str) -> None:
        with torch.no_grad(), _plain_attention():
            program = torch.onnx.export(
                NetworkGraph(segmenter).eval(), (image, image_size), dynamo=True, opset_version=OPSET,
                input_names=["image", "image_size"], output_names=list(segmenter.network_outputs),
                dynamic_shapes={"image": {2: height, 3: width}, "image_size": None}, optimize=True,
                verbose=False)
        program.save(tmp)

    signature = network_signature(segmenter)
    if mask_head_file is not None:
        signature["mask_head"] = os.path.basename(mask_head_file)
    return _write_onnx(path, export, {METADATA_KEY: json.dumps(signature)})


def mask_head_signature(segmenter: nn.Module) -> Dict[str, object]:
    """What a mask head file must agree on with the model it runs in."""
    return {"model": type(segmenter).__name__, "num_classes": int(segmenter.num_classes),
            "module": segmenter.mask_head_module, "inputs": list(MASK_HEAD_INPUTS)}


def export_mask_head(segmenter: nn.Module, path: str, example_rois: int = 8) -> str:
    """Write ``segmenter``'s convolutional mask head (`FrameSegmenter.mask_head_module`, in eval mode) to ``path``:
    inputs ``roi_feats`` [R, C, S, S] and ``attn_feats`` [R, C], output ``mask_logits`` [R, K, 2S, 2S], R dynamic.
    Post-processing runs it on the RoIs of the kept detections, so it is a graph of its own."""
    if segmenter.mask_head_module is None:
        raise VisError(f"{type(segmenter).__name__} has no convolutional mask head (it decodes masks from vectors)")
    segmenter = _on_cpu(segmenter.eval())
    head = segmenter.get_submodule(segmenter.mask_head_module)
    generator = torch.Generator().manual_seed(0)
    roi_feats = torch.randn(example_rois, head.in_channels, head.roi_size, head.roi_size, generator=generator)
    attn_feats = torch.randn(example_rois, head.in_channels, generator=generator)
    rois = torch.export.Dim("rois", min=1, max=65536)

    def export(tmp: str) -> None:
        with torch.no_grad():
            program = torch.onnx.export(
                head, (roi_feats, attn_feats), dynamo=True, opset_version=OPSET, input_names=list(MASK_HEAD_INPUTS),
                output_names=["mask_logits"], dynamic_shapes=({0: rois}, {0: rois}), optimize=True, verbose=False)
        program.save(tmp)

    return _write_onnx(path, export, {MASK_HEAD_METADATA_KEY: json.dumps(mask_head_signature(segmenter))})


def compare_with_pytorch(segmenter: nn.Module, network, sizes: Sequence[Tuple[int, int]], seed: int = 1
                         ) -> List[Dict[str, object]]:
    """Run PyTorch's and another ``network`` (e.g. an `OnnxNetwork`) on random images of ``sizes`` -> per size
    ``{'height', 'width', 'max_abs_diff': {output: float}}``."""
    rows = []
    for index, size in enumerate(sizes):
        image, image_size = example_input(segmenter, size, seed + index)
        with torch.no_grad():
            expected = segmenter.network(image, image_size)
        actual = network(image, image_size)
        diffs = {name: float((expected[name].float() - actual[name].float()).abs().max())
                 if expected[name].numel() else 0.0 for name in segmenter.network_outputs}
        rows.append({"height": int(size[0]), "width": int(size[1]), "max_abs_diff": diffs})
    return rows
