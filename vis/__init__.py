"""vis: video instance segmentation and tracking (QueryInst / ISTR / SOLQ + MaskTrack-style association).

``vis.Instances``, ``vis.VideoPredictor`` (the Python API, `vis.predictor`) and ``vis.RunOptions`` are loaded on
first use (PEP 562), so ``import vis`` (every tool does it to report errors) does
not import torch: argument errors are reported in well under a second.
"""
from .errors import CheckpointError, ConfigError, DataError, VisError

__version__ = "0.1.0"
__all__ = ["Instances", "VideoPredictor", "RunOptions", "VisError", "ConfigError", "DataError", "CheckpointError"]


def __getattr__(name):
    if name == "Instances":
        from .structures import Instances

        return Instances
    if name == "VideoPredictor":
        from .predictor import VideoPredictor

        return VideoPredictor
    if name == "RunOptions":
        from .options import RunOptions

        return RunOptions
    raise AttributeError(f"module 'vis' has no attribute {name!r}")
