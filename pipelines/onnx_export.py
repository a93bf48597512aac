"""A config + checkpoint -> the ONNX file of its per-frame network, checked against PyTorch (tools/export_onnx.py).

The model is loaded as every inference path loads it (`vis.inference.load_model`: eval mode, BatchNorms folded),
its `network` exported (`vis.runtime.export`), the file run by ONNX Runtime on random images of other sizes than
the traced one and compared with PyTorch. With ``int8`` the ResNet trunk is quantized (`vis.runtime.quantize`)
with activation ranges from ``calibration`` frames (a video or a folder of frames, prepared by the config's test
transforms as run_video prepares them).
"""
from __future__ import annotations

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


def calibration_inputs(segmenter: torch.nn.Module, cfg: Any, path: str, num_frames: int
                       ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Up to ``num_frames`` frames of ``path`` spread over it, prepared as the model sees them -> (image
    [1, 3, H, W], image_size [1, 2]) float32 arrays."""
    from vis.inference import build_preprocess
    from vis.io.video import open_frame_source

    preprocess = build_preprocess(cfg)
    source = open_frame_source(path)
    try:
        total = source.num_frames or num_frames
        wanted = set(np.linspace(0, max(total - 1, 0), min(num_frames, max(total, 1))).round().astype(int).tolist())
        for index, image in source:
            if index in wanted:
                with torch.no_grad():
                    batch = segmenter.preprocess([preprocess(image)])
                yield batch.tensor.numpy(), batch.size_tensor().numpy()
    finally:
        source.close()


def export_network(config: str, checkpoint: str, out: str, cfg_options: Optional[Sequence[str]] = None,
                   example_size: Tuple[int, int] = (320, 480), int8: bool = False, calibration: Optional[str] = None,
                   calib_frames: int = 32, check_sizes: Sequence[Tuple[int, int]] = DEFAULT_CHECK_SIZES,
                   threads: Optional[int] = None, int8_neck: bool = False) -> Dict[str, Any]:
    """Export, (quantize,) check -> ``{'onnx', 'model', 'outputs', 'check': [{'height', 'width', 'max_abs_diff':
    {output: float}}], 'quantized_convs'}``. ``int8_neck``: the neck's convolutions in int8 too. Every option is
    checked before the model is loaded; ``out`` is written only when complete."""
    from vis.engine.checkpoint import resolve_checkpoint
    from vis.inference import load_model
    from vis.runtime.export import compare_with_pytorch, export_onnx
    from vis.runtime.onnx_network import OnnxNetwork

    _check_options(out, int8, calibration, calib_frames)
    if int8_neck and not int8:
        raise VisError("--int8-neck adds the neck to --int8; give both")
    cfg = load_config(config, cfg_options)
    if cfg.get("model") is None:
        raise ConfigError(f"config {config} has no model section")
    make_writable_dir(os.path.dirname(os.path.abspath(out)), "output folder")
    model, _ = load_model(cfg, resolve_checkpoint(checkpoint), torch.device("cpu"))
    segmenter = getattr(model, "segmenter", model)
    summary: Dict[str, Any] = {"onnx": out, "model": type(segmenter).__name__,
                               "outputs": list(segmenter.network_outputs), "quantized_convs": 0}
    if not int8:
        export_onnx(segmenter, out, example_size)
    else:
        from vis.runtime.quantize import quantize_convs

        with tempfile.TemporaryDirectory(prefix="vis-onnx-") as folder:
            float_path = export_onnx(segmenter, os.path.join(folder, "float.onnx"), example_size)
            modules = [segmenter.backbone_prefix.rstrip(".")] + ([segmenter.neck_module] if int8_neck else [])
            summary["quantized_convs"] = quantize_convs(
                float_path, out, modules, calibration_inputs(segmenter, cfg, calibration, calib_frames))
    network = OnnxNetwork(out, segmenter, threads)
    summary["check"] = compare_with_pytorch(segmenter, network, check_sizes)
    return summary


def largest_differences(check: List[Dict[str, Any]]) -> Dict[str, float]:
    """The check's largest difference of each output over the sizes."""
    names = check[0]["max_abs_diff"].keys() if check else []
    return {name: max(row["max_abs_diff"][name] for row in check) for name in names}
