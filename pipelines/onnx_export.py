"""A config + checkpoint -> the ONNX file of its per-frame network, checked against PyTorch (tools/export_onnx.py).

The model is loaded as every inference path loads it (`vis.inference.load_model`: eval mode, BatchNorms folded),
its `network` exported (`vis.runtime.export`), the file run by ONNX Runtime on random images of other sizes than
the traced one and compared with PyTorch. With ``int8`` the ResNet trunk is quantized (`vis.runtime.quantize`)
with activation ranges from ``calibration`` frames (a video or a folder of frames, prepared by the config's test
transforms as run_video prepares them); optionally the neck too, and QueryInst's mask head, calibrated on the RoIs
the model keeps on those frames and written as a second file beside the first.
"""
from __future__ import annotations

import itertools
import os
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from vis.config import load_config
from vis.errors import ConfigError, DataError, VisError
from vis.io.files import make_writable_dir

DEFAULT_CHECK_SIZES = ((360, 640), (480, 352))


def _check_options(out: str, int8: bool, calibration: Optional[str], calib_frames: int) -> None:
    if not out.endswith(".onnx"):
        raise VisError(f"the output file must end in .onnx, got {out}")
    if int8 and calibration is None:
        raise VisError("--int8 needs --calibration: a video or a folder of frames like the ones it will see")
    if calibration is not None and not int8:
        raise VisError("--calibration is read by --int8 only")
    if calibration is not None and not os.path.exists(calibration):
        raise DataError(f"calibration input not found: {calibration}")
    if calib_frames < 1:
        raise VisError(f"--calib-frames must be >= 1, got {calib_frames}")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs the onnx extra ({exc.name} is missing): pip install -e '.[onnx]'") \
            from None


def calibration_frames(cfg: Any, path: str, num_frames: int) -> Iterator[torch.Tensor]:
    """Up to ``num_frames`` frames of ``path`` spread over it, after the config's test transforms as run_video
    prepares them -> float [3, h, w] 0..255."""
    from vis.inference import build_preprocess
    from vis.io.video import open_frame_source

    preprocess = build_preprocess(cfg)
    source = open_frame_source(path)
    try:
        total = source.num_frames or num_frames
        wanted = set(np.linspace(0, max(total - 1, 0), min(num_frames, max(total, 1))).round().astype(int).tolist())
        for index, image in source:
            if index in wanted:
                yield preprocess(image)
    finally:
        source.close()


def calibration_inputs(segmenter: torch.nn.Module, cfg: Any, path: str, num_frames: int
                       ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """`calibration_frames` prepared as the model's network sees them -> (image [1, 3, H, W], image_size [1, 2])
    float32 arrays."""
    for frame in calibration_frames(cfg, path, num_frames):
        with torch.no_grad():
            batch = segmenter.preprocess([frame])
        yield batch.tensor.numpy(), batch.size_tensor().numpy()


def mask_head_inputs(segmenter: torch.nn.Module, cfg: Any, path: str, num_frames: int
                     ) -> Iterator[Dict[str, np.ndarray]]:
    """What the segmenter's mask head is given on `calibration_frames` (the RoIs of the detections it keeps,
    without a score threshold) -> ``{'roi_feats', 'attn_feats'}`` float32 arrays, one dict per frame."""
    from vis.inference import predict_frames
    from vis.runtime.export import MASK_HEAD_INPUTS

    head = segmenter.get_submodule(segmenter.mask_head_module)
    captured: List[Tuple[torch.Tensor, ...]] = []
    handle = head.register_forward_hook(lambda module, inputs, output: captured.append(inputs))
    try:
        for frame in calibration_frames(cfg, path, num_frames):
            captured.clear()
            predict_frames(segmenter, [frame], [tuple(frame.shape[-2:])], defer_masks=True)
            for inputs in captured:
                yield {name: value.float().numpy() for name, value in zip(MASK_HEAD_INPUTS, inputs)}
    finally:
        handle.remove()


def mask_head_difference(segmenter: torch.nn.Module, path: str, feeds: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """The mask head file ``path`` against the segmenter's PyTorch head on one frame's RoIs -> ``{'rois',
    'max_abs_diff'}`` (of the mask logits)."""
    from vis.runtime.onnx_network import OnnxMaskHead

    head = segmenter.get_submodule(segmenter.mask_head_module)
    inputs = [torch.from_numpy(value) for value in feeds.values()]
    with torch.no_grad():
        expected = head(*inputs)
    actual = OnnxMaskHead(path, segmenter)(*inputs)
    return {"rois": int(inputs[0].shape[0]), "max_abs_diff": float((expected - actual).abs().max())}


def mask_head_file(out: str) -> str:
    """Where ``--int8-mask-head`` writes the mask head beside ``out``: ``name.onnx`` -> ``name.mask_head.onnx``."""
    return out[:-len(".onnx")] + ".mask_head.onnx"


def export_network(config: str, checkpoint: str, out: str, cfg_options: Optional[Sequence[str]] = None,
                   example_size: Tuple[int, int] = (320, 480), int8: bool = False, calibration: Optional[str] = None,
                   calib_frames: int = 32, check_sizes: Sequence[Tuple[int, int]] = DEFAULT_CHECK_SIZES,
                   threads: Optional[int] = None, int8_neck: bool = False, int8_mask_head: bool = False
                   ) -> Dict[str, Any]:
    """Export, (quantize,) check -> ``{'onnx', 'model', 'outputs', 'check': [{'height', 'width', 'max_abs_diff':
    {output: float}}], 'quantized_convs'}``. ``int8_neck``: the neck's convolutions in int8 too.
    ``int8_mask_head``: QueryInst's mask head in int8 too, in a second file (`mask_head_file`) that ``out`` names;
    the summary adds ``'mask_head'`` (its file), ``'mask_head_convs'`` and ``'mask_head_check'`` (int8 against
    float32 PyTorch on one calibration frame's RoIs). Every option is checked before the model is loaded; the
    files are written only when complete."""
    from vis.engine.checkpoint import resolve_checkpoint
    from vis.inference import load_model
    from vis.runtime.export import compare_with_pytorch, export_mask_head, export_onnx
    from vis.runtime.onnx_network import OnnxNetwork

    _check_options(out, int8, calibration, calib_frames)
    if int8_neck and not int8:
        raise VisError("--int8-neck adds the neck to --int8; give both")
    if int8_mask_head and not int8:
        raise VisError("--int8-mask-head adds the mask head to --int8; give both")
    cfg = load_config(config, cfg_options)
    if cfg.get("model") is None:
        raise ConfigError(f"config {config} has no model section")
    make_writable_dir(os.path.dirname(os.path.abspath(out)), "output folder")
    model, _ = load_model(cfg, resolve_checkpoint(checkpoint), torch.device("cpu"))
    segmenter = getattr(model, "segmenter", model)
    if int8_mask_head and segmenter.mask_head_module is None:
        raise VisError(f"--int8-mask-head: {type(segmenter).__name__} has no convolutional mask head (its masks "
                       f"are decoded from vectors in post-processing)")
    summary: Dict[str, Any] = {"onnx": out, "model": type(segmenter).__name__,
                               "outputs": list(segmenter.network_outputs), "quantized_convs": 0}
    if not int8:
        export_onnx(segmenter, out, example_size)
    else:
        from vis.runtime.quantize import network_feeds, quantize_convs

        head_path = mask_head_file(out) if int8_mask_head else None
        with tempfile.TemporaryDirectory(prefix="vis-onnx-") as folder:
            try:
                if head_path is not None:  # first: the network file names it, and is the last one written
                    float_head = export_mask_head(segmenter, os.path.join(folder, "mask_head.onnx"))
                    feeds = mask_head_inputs(segmenter, cfg, calibration, calib_frames)
                    first = next(feeds)
                    summary["mask_head"] = head_path  # from here on it is this run's file
                    summary["mask_head_convs"] = quantize_convs(
                        float_head, head_path, None, itertools.chain([first], feeds))  # every convolution
                    summary["mask_head_check"] = mask_head_difference(segmenter, head_path, first)
                float_path = export_onnx(segmenter, os.path.join(folder, "float.onnx"), example_size, head_path)
                modules = [segmenter.backbone_prefix.rstrip(".")] + ([segmenter.neck_module] if int8_neck else [])
                summary["quantized_convs"] = quantize_convs(
                    float_path, out, modules,
                    network_feeds(calibration_inputs(segmenter, cfg, calibration, calib_frames)))
            except BaseException:
                if "mask_head" in summary and os.path.exists(head_path):
                    os.remove(head_path)  # no mask head file of this run without the network file naming it
                raise
    network = OnnxNetwork(out, segmenter, threads)
    summary["check"] = compare_with_pytorch(segmenter, network, check_sizes)
    return summary


def largest_differences(check: List[Dict[str, Any]]) -> Dict[str, float]:
    """The check's largest difference of each output over the sizes."""
    names = check[0]["max_abs_diff"].keys() if check else []
    return {name: max(row["max_abs_diff"][name] for row in check) for name in names}
