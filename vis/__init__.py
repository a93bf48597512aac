"""vis: video instance segmentation and tracking (QueryInst / ISTR / SOLQ + MaskTrack-style association).

``vis.Instances`` is loaded on first use (PEP 562), so ``import vis`` (every tool does it to report errors) does
not import torch: argument errors are reported in well under a second.
"""
from .errors import CheckpointError, ConfigError, DataError, VisError

__version__ = "0.1.0"
__all__ = ["Instances", "VisError", "ConfigError", "DataError", "CheckpointError"]


def __getattr__(name):
    if name == "Instances":
        from .structures import Instances

        return Instances
    raise AttributeError(f"module 'vis' has no attribute {name!r}")
