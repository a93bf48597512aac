"""int8 for the ResNet trunk of an exported network, through ONNX Runtime's static quantization.

Only the trunk's convolutions are quantized (QDQ format, int8 weights per output channel, uint8 activations with
ranges calibrated on real frames). The FPN / encoder and the query heads stay float32: the heads' dynamic
convolutions multiply generated weights, and rounding them costs about 5 AP (the same rule as
``tools/export_model.py --dtype int8``, which keeps the heads in float16).
"""
from __future__ import annotations

import os
import tempfile
from typing import Iterable, List, Tuple

import numpy as np

from ..errors import ConfigError


def trunk_conv_nodes(model, trunk: str) -> List[str]:
    """Names of the Conv nodes of ``model`` (an ``onnx.ModelProto`` from `vis.runtime.export.export_onnx`) that
    belong to the module ``trunk`` of the segmenter (e.g. 'backbone', SOLQ's 'backbone.0.body'): torch's exporter
    records each node's module path in its ``namespace`` metadata."""
    names = []
    marker = f"/segmenter.{trunk}: "
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        namespace = next((p.value for p in node.metadata_props if p.key == "namespace"), "")
        if marker in namespace:
            names.append(node.name)
    return names


class _Frames:
    """onnxruntime's CalibrationDataReader over (image [1, 3, H, W], image_size [1, 2]) float32 arrays."""

    def __init__(self, samples: Iterable[Tuple[np.ndarray, np.ndarray]]):
        self._samples = iter(samples)

    def get_next(self):
        sample = next(self._samples, None)
        return None if sample is None else {"image": sample[0], "image_size": sample[1]}


def quantize_trunk(float_path: str, out_path: str, trunk: str,
                   calibration: Iterable[Tuple[np.ndarray, np.ndarray]]) -> int:
    """Write ``out_path``: ``float_path`` with the trunk's convolutions in int8, activation ranges from the
    ``calibration`` inputs (min-max). -> the number of convolutions quantized. The output is written to a
    temporary file in its folder and renamed when complete."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    nodes = trunk_conv_nodes(onnx.load(float_path, load_external_data=False), trunk)
    if not nodes:  # an empty list would mean "every Conv" to quantize_static
        raise ConfigError(f"{float_path}: no convolution of the trunk '{trunk}' found to quantize")
    folder = os.path.dirname(os.path.abspath(out_path))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".quantize-") as work:
        prepared = os.path.join(work, "prepared.onnx")
        quant_pre_process(float_path, prepared, skip_symbolic_shape=True)
        quantized = os.path.join(work, "quantized.onnx")
        quantize_static(prepared, quantized, _Frames(calibration), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], nodes_to_quantize=nodes, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        model = onnx.load(quantized)
        original = onnx.load(float_path, load_external_data=False)
        del model.metadata_props[:]
        model.metadata_props.extend(original.metadata_props)  # the network's signature travels along
        onnx.save(model, quantized)
        os.replace(quantized, out_path)
    return len(nodes)
