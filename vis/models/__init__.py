"""Models: backbones, shared heads and losses, and the per-frame segmenters.

Segmenters are named by string in `SEGMENTERS`. Each has a ``Config`` dataclass (its config section, defaults =
the official model) and a ``from_config`` that builds its parts and hands them to its constructor, as detectron2's
meta-architectures do; `build_model` goes from a config dict to a model.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..config import build, to_plain
from ..errors import ConfigError
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
    if cfg is None:
        raise ConfigError("missing model config")
    settings = build({name: model_class.Config for name, model_class in SEGMENTERS.items()}, cfg, "model")
    return SEGMENTERS[dict(to_plain(cfg))["type"]].from_config(settings)


__all__ = ["SEGMENTERS", "build_model", "FrameSegmenter", "QueryInst", "VideoSegmenter"]
