"""The checks of `pipelines.video.run_video`'s options, in a module that does not import torch.

``tools/run_video.py`` calls `check_video_options` right after parsing, so a wrong option is reported in a
fraction of a second, before torch is imported, the video opened or the model loaded; `run_video` calls it
again for Python callers.
"""
from __future__ import annotations

import os
from typing import Optional

from vis.errors import CheckpointError, ConfigError, DataError, VisError
from vis.model_zoo import is_url
from vis.runtime import BACKENDS


def check_video_options(score_thr: Optional[float] = None, start: int = 0, end: Optional[int] = None,
                        batch_size: int = 1, threads: Optional[int] = None, fps: Optional[float] = None,
                        input_path: Optional[str] = None, config: Optional[str] = None,
                        checkpoint: Optional[str] = None, backend: str = "pytorch", onnx: Optional[str] = None,
                        device: Optional[str] = None, compiled: bool = False) -> None:
    """One-line VisError for the first option out of range or path that does not exist. A checkpoint may
    also be a work dir or ``<work dir>/latest.pth`` (resolved later, `vis.engine.checkpoint.resolve_checkpoint`),
    or an http(s) URL (fetched into the cache, `vis.model_zoo.resolve_model`)."""
    if input_path is not None and not os.path.exists(input_path):
        raise DataError(f"input not found: {input_path}")
    if config is not None and not os.path.isfile(config):
        raise ConfigError(f"config file not found: {config}")
    if checkpoint is not None and not is_url(checkpoint) and not os.path.exists(checkpoint) and not (
            os.path.basename(checkpoint) == "latest.pth" and os.path.isdir(os.path.dirname(checkpoint) or ".")):
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    if score_thr is not None and not 0.0 <= float(score_thr) <= 1.0:
        raise VisError(f"--score-thr must be in [0, 1] (detection scores are probabilities), got {score_thr}")
    if start < 0:
        raise VisError(f"--start must be >= 0, got {start}")
    if end is not None and end <= start:
        raise VisError(f"--end must be greater than --start ({start}), got {end}")
    if batch_size < 1:
        raise VisError(f"--batch-size must be >= 1, got {batch_size}")
    if threads is not None and threads < 1:
        raise VisError(f"--threads must be >= 1, got {threads}")
    if fps is not None and not fps > 0:
        raise VisError(f"--fps must be > 0, got {fps}")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown --backend '{backend}' (choose from {', '.join(BACKENDS)})")
    if onnx is not None and backend != "onnxruntime":
        raise ConfigError("--onnx is run by --backend onnxruntime; the pytorch backend runs the checkpoint")
    if onnx is not None and not os.path.isfile(onnx):
        raise CheckpointError(f"ONNX file not found: {onnx}")
    if compiled and backend != "pytorch":
        raise ConfigError(f"--compile compiles the PyTorch network; --backend {backend} runs its own")
    if backend != "pytorch" and device == "cuda":
        raise ConfigError(f"--backend {backend} runs on the CPU here: use --device cpu")
