"""A segmenter's per-frame network -> ONNX, and the check of an exported file against PyTorch.

What is exported is `FrameSegmenter.network` for one image: inputs ``image`` float [1, 3, H, W] (normalised and
zero-padded by `FrameSegmenter.preprocess`, H and W dynamic) and ``image_size`` float [1, 2] (its unpadded h, w);
outputs the model's `network_outputs` in that order. torch's exporter (``torch.onnx.export(dynamo=True)``, opset
18) traces the model's own code, so PyTorch and ONNX Runtime run the same network; the file's metadata names the
model it was made from, which `vis.runtime.onnx_network.OnnxNetwork` checks before running it beside a model.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Sequence, Tuple

import torch
from torch import nn

from ..errors import VisError

OPSET = 18
METADATA_KEY = "vis.network"  # JSON: model, num_classes, num_queries, outputs, size_divisibility


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
    batch = segmenter.preprocess([raw.to(segmenter.device)])
    return batch.tensor.contiguous(), batch.size_tensor()


def export_onnx(segmenter: nn.Module, path: str, example_size: Tuple[int, int] = (320, 480)) -> str:
    """Write ``segmenter``'s network (in eval mode, on the CPU) to ``path`` (via a temporary file in its folder,
    renamed when complete). ``example_size`` is the traced image's (h, w); the graph takes any size."""
    import onnx

    segmenter = segmenter.eval()
    if segmenter.device.type != "cpu":
        raise VisError("export the model from the CPU (load it with --device cpu)")
    image, image_size = example_input(segmenter, example_size)
    height = torch.export.Dim("height", min=32, max=8192)
    width = torch.export.Dim("width", min=32, max=8192)
    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(suffix=".onnx.tmp", dir=folder)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of a file written plainly, not mkstemp's private 0600
    try:
        with torch.no_grad(), _plain_attention():
            program = torch.onnx.export(
                NetworkGraph(segmenter).eval(), (image, image_size), dynamo=True, opset_version=OPSET,
                input_names=["image", "image_size"], output_names=list(segmenter.network_outputs),
                dynamic_shapes={"image": {2: height, 3: width}, "image_size": None}, optimize=True,
                verbose=False)
        program.save(tmp)
        model = onnx.load(tmp)
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(network_signature(segmenter))
        onnx.save(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


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
