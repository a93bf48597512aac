"""Models: backbones, shared heads and losses, and the per-frame segmenters.

Segmenters are named by string in `SEGMENTERS` and built from a config dict with `build_model`.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..config import build
from .segmenters.base import FrameSegmenter
from .segmenters.istr import ISTR
from .segmenters.queryinst import QueryInst
from .segmenters.solq import SOLQ
from .video_segmenter import VideoSegmenter

SEGMENTERS = {
    "QueryInst": QueryInst,
    "ISTR": ISTR,
    "SOLQ": SOLQ,
    "VideoSegmenter": VideoSegmenter,  # any of the above + a MaskTrack-style track head
}


def build_model(cfg: Mapping[str, Any]) -> FrameSegmenter:
    """``dict(type='QueryInst', ...)`` -> segmenter; unknown types or keys raise a one-line ConfigError."""
    return build(SEGMENTERS, cfg, "model")


__all__ = ["SEGMENTERS", "build_model", "FrameSegmenter", "QueryInst", "VideoSegmenter"]
