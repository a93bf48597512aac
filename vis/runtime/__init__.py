"""Inference runtimes other than eager PyTorch for the per-frame network of a segmenter.

`export.export_onnx` writes a segmenter's `network` (backbone, neck, query heads: everything before the
detections are selected) to an ONNX file with a dynamic image size; `onnx_network.OnnxNetwork` runs such a file in
ONNX Runtime and `onnx_network.RuntimeModel` puts it in place of the model's own network, so that selection, mask
prediction for the kept detections, pasting and a track head stay the model's own PyTorch code (one
post-processing for every backend). `quantize.quantize_convs` makes the ResNet trunk (and the neck) of an exported
file int8. The one piece of post-processing worth a runtime, QueryInst's convolutional mask head, may be exported
too (`export.export_mask_head`, a second file in int8 that the first names): `onnx_network.attach_mask_head` runs
it (`OnnxMaskHead`) in place of the PyTorch head. `compiled.CompiledNetwork` is the PyTorch network through
``torch.compile`` (``--compile``).
"""

BACKENDS = ("pytorch", "onnxruntime")  # runtimes of the per-frame network (this module imports no torch)
