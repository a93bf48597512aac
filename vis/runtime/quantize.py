"""int8 for the ResNet trunk of an exported network, through ONNX Runtime's static quantization.

The trunk's convolutions are quantized (QDQ format, int8 weights per output channel, uint8 activations with ranges
calibrated on real frames), optionally the neck's too (``--int8-neck``: the FPN, or SOLQ's input projections), and
QueryInst's mask head's (``--int8-mask-head``: its convolutions and upsampling, calibrated on the RoIs the model
keeps on those frames). The query heads' dynamic convolutions stay float32: they multiply generated weights, so
rounding them compounds and costs AP (docs/learning_runs.md; the same rule as ``tools/export_model.py --dtype
int8``, which keeps the heads in float16).
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from ..errors import ConfigError


def module_conv_nodes(model, module: str) -> List[str]:
    """Names of the Conv nodes of ``model`` (an ``onnx.ModelProto`` from `vis.runtime.export.export_onnx`) that
    belong to the segmenter's submodule ``module`` (e.g. 'backbone', SOLQ's 'backbone.0.body', 'neck'): torch's
    exporter records each node's module path in its ``namespace`` metadata."""
    names = []
    path = f"segmenter.{module}"
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        namespace = next((p.value for p in node.metadata_props if p.key == "namespace"), "")
        # "<class>/segmenter.neck: <class>/segmenter.neck.inner_blocks.0: <class>/...": the modules it was called in
        # (a ModuleList such as SOLQ's input_proj is never called itself, only its items)
        called_in = [segment.split(": ")[0] for segment in namespace.split("/")]
        if any(name == path or name.startswith(path + ".") for name in called_in):
            names.append(node.name)
    return names


CONV_OPS = ("Conv", "ConvTranspose")


def conv_nodes(model) -> List[str]:
    """Names of every convolution (and transposed convolution) node of ``model`` (an ``onnx.ModelProto``)."""
    return [node.name for node in model.graph.node if node.op_type in CONV_OPS]


class _Feeds:
    """onnxruntime's CalibrationDataReader over input dicts (name -> float32 array)."""

    def __init__(self, feeds: Iterable[Dict[str, np.ndarray]]):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def network_feeds(samples: Iterable) -> Iterable[Dict[str, np.ndarray]]:
    """(image [1, 3, H, W], image_size [1, 2]) float32 arrays -> the exported network's input dicts."""
    return ({"image": image, "image_size": size} for image, size in samples)


def quantize_convs(float_path: str, out_path: str, modules: Optional[Sequence[str]],
                   calibration: Iterable[Dict[str, np.ndarray]]) -> int:
    """Write ``out_path``: ``float_path`` with the convolutions of the segmenter's ``modules`` (`module_conv_nodes`:
    the trunk, maybe the neck) in int8, or with every convolution when ``modules`` is None (a mask head file);
    activation ranges from the ``calibration`` input dicts (min-max). -> the number of convolutions quantized.
    The output is written to a temporary file in its folder and renamed when complete."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    graph = onnx.load(float_path, load_external_data=False)
    if modules is None:
        nodes = conv_nodes(graph)
    else:
        nodes = []
        for module in modules:
            found = module_conv_nodes(graph, module)
            if not found:  # an empty list would mean "every Conv" to quantize_static
                raise ConfigError(f"{float_path}: no convolution of the module '{module}' found to quantize")
            nodes += found
    if not nodes:
        raise ConfigError(f"{float_path}: no convolution to quantize")
    folder = os.path.dirname(os.path.abspath(out_path))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".quantize-") as work:
        prepared = os.path.join(work, "prepared.onnx")
        quant_pre_process(float_path, prepared, skip_symbolic_shape=True)
        quantized = os.path.join(work, "quantized.onnx")
        quantize_static(prepared, quantized, _Feeds(calibration), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(CONV_OPS), nodes_to_quantize=nodes, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        model = onnx.load(quantized)
        del model.metadata_props[:]
        model.metadata_props.extend(graph.metadata_props)  # the network's signature travels along
        onnx.save(model, quantized)
        os.replace(quantized, out_path)
    return len(nodes)
