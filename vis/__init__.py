"""vis: video instance segmentation and tracking (QueryInst / ISTR / SOLQ + MaskTrack-style association)."""
from .structures import Instances
from .errors import VisError, ConfigError, DataError, CheckpointError

__version__ = "0.1.0"
__all__ = ["Instances", "VisError", "ConfigError", "DataError", "CheckpointError"]
