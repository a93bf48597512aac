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
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from vis.config import load_config
from vis.errors import ConfigError, DataError, VisError
from vis.io.files import make_writable_dir
from vis.options import RunOptions

DEFAULT_CHECK_SIZES = ((360, 640), (480, 352))


@dataclass
class ExportPlan:
    """What `export_network` writes: the ``.onnx`` file ``out``, traced at ``example_size``; with ``int8`` the
    trunk (``int8_neck``: and the neck; ``int8_mask_head``: and QueryInst's mask head, in a second file) in int8,
    calibrated on ``calib_frames`` frames of ``calibration``; then checked against PyTorch at ``check_sizes``."""

    out: str
    example_size: Tuple[int, int] = (320, 480)
    int8: bool = False
    calibration: Optional[str] = None
    calib_frames: int = 32
    check_sizes: Sequence[Tuple[int, int]] = DEFAULT_CHECK_SIZES
    int8_neck: bool = False
    int8_mask_head: bool = False

    def check(self) -> "ExportPlan":
        """A one-line VisError for a plan that cannot be carried out; before anything is loaded or written."""
        _check_options(self.out, self.int8, self.calibration, self.calib_frames)
        if self.int8_neck and not self.int8:
            raise VisError("--int8-neck adds the neck to --int8; give both")
        if self.int8_mask_head and not self.int8:
            raise VisError("--int8-mask-head adds the mask head to --int8; give both")
        return self


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
            batch = segmenter.transform([frame])
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


def export_network(options: RunOptions, plan: ExportPlan) -> Dict[str, Any]:
    """Export ``options.config`` + ``options.checkpoint``'s per-frame network, (quantize,) check -> ``{'onnx',
    'model', 'outputs', 'check': [{'height', 'width', 'max_abs_diff': {output: float}}], 'quantized_convs'}``.
    With ``plan.int8_mask_head`` the summary adds ``'mask_head'`` (its file, `mask_head_file`, which the network
    file names), ``'mask_head_convs'`` and ``'mask_head_check'`` (int8 against float32 PyTorch on one calibration
    frame's RoIs). Every option is checked before the model is loaded; the files are written only when
    complete. ``options.threads``: ONNX Runtime's threads for the check."""
    from vis.engine.checkpoint import resolve_checkpoint
    from vis.inference import load_model
    from vis.runtime.export import compare_with_pytorch, export_onnx
    from vis.runtime.onnx_network import OnnxNetwork

    plan.check()
    cfg = load_config(options.config, options.cfg_options)
    if cfg.get("model") is None:
        raise ConfigError(f"config {options.config} has no model section")
    make_writable_dir(os.path.dirname(os.path.abspath(plan.out)), "output folder")
    model, _ = load_model(cfg, resolve_checkpoint(options.checkpoint), torch.device("cpu"))
    segmenter = getattr(model, "segmenter", model)
    if plan.int8_mask_head and segmenter.mask_head_module is None:
        raise VisError(f"--int8-mask-head: {type(segmenter).__name__} has no convolutional mask head (its masks "
                       f"are decoded from vectors in post-processing)")
    summary: Dict[str, Any] = {"onnx": plan.out, "model": type(segmenter).__name__,
                               "outputs": list(segmenter.network_outputs), "quantized_convs": 0}
    if plan.int8:
        _export_int8(segmenter, cfg, plan, summary)
    else:
        export_onnx(segmenter, plan.out, plan.example_size)
    network = OnnxNetwork(plan.out, segmenter, options.threads)
    summary["check"] = compare_with_pytorch(segmenter, network, plan.check_sizes)
    return summary


def _export_int8(segmenter: torch.nn.Module, cfg: Any, plan: ExportPlan, summary: Dict[str, Any]) -> None:
    """The int8 network file (and, with ``plan.int8_mask_head``, the mask head file first: the network file names
    it and is the last one written); adds the counts and the mask head check to ``summary``."""
    from vis.runtime.export import export_mask_head, export_onnx
    from vis.runtime.quantize import network_feeds, quantize_convs

    head_path = mask_head_file(plan.out) if plan.int8_mask_head else None
    with tempfile.TemporaryDirectory(prefix="vis-onnx-") as folder:
        try:
            if head_path is not None:
                float_head = export_mask_head(segmenter, os.path.join(folder, "mask_head.onnx"))
                feeds = mask_head_inputs(segmenter, cfg, plan.calibration, plan.calib_frames)
                first = next(feeds)
                summary["mask_head"] = head_path  # from here on it is this run's file
                summary["mask_head_convs"] = quantize_convs(
                    float_head, head_path, None, itertools.chain([first], feeds))  # every convolution
                summary["mask_head_check"] = mask_head_difference(segmenter, head_path, first)
            float_path = export_onnx(segmenter, os.path.join(folder, "float.onnx"), plan.example_size, head_path)
            modules = [segmenter.backbone_prefix.rstrip(".")] + ([segmenter.neck_module] if plan.int8_neck else [])
            summary["quantized_convs"] = quantize_convs(
                float_path, plan.out, modules,
                network_feeds(calibration_inputs(segmenter, cfg, plan.calibration, plan.calib_frames)))
        except BaseException:
            if "mask_head" in summary and os.path.exists(head_path):
                os.remove(head_path)  # no mask head file of this run without the network file naming it
            raise


def largest_differences(check: List[Dict[str, Any]]) -> Dict[str, float]:
    """The check's largest difference of each output over the sizes."""
    names = check[0]["max_abs_diff"].keys() if check else []
    return {name: max(row["max_abs_diff"][name] for row in check) for name in names}


def run_export(options: RunOptions, plan: ExportPlan, as_json: bool = False) -> Dict[str, Any]:
    """``tools/export_onnx.py``'s run: `export_network`, then its summary on stdout, as one JSON line
    (``as_json``) or as lines for a reader: the file, what is int8, each output's largest difference."""
    summary = export_network(options, plan)
    if as_json:
        print(json.dumps(summary))
        return summary
    part = "trunk and neck" if plan.int8_neck else "trunk"
    kind = f"int8 {part} ({summary['quantized_convs']} convolutions)" if plan.int8 else "float32"
    print(f"{plan.out}: {summary['model']} network, {kind}, outputs {', '.join(summary['outputs'])}")
    sizes = ", ".join(f"{row['height']}x{row['width']}" for row in summary["check"])
    against = "float32 PyTorch" if plan.int8 else "PyTorch"
    print(f"largest |ONNX Runtime - {against}| over random images at {sizes}:")
    for name, diff in largest_differences(summary["check"]).items():
        print(f"  {name:12s} {diff:.3g}")
    if "mask_head" in summary:
        check = summary["mask_head_check"]
        print(f"{summary['mask_head']}: its mask head, int8 ({summary['mask_head_convs']} convolutions); largest "
              f"|ONNX Runtime - float32 PyTorch| of the mask logits on {check['rois']} RoIs of a calibration "
              f"frame: {check['max_abs_diff']:.3g}")
    return summary
