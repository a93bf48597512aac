"""Online tracking: per-frame association of detections with live tracks, and per-video YouTube-VIS results.

Trackers are named by string in `TRACKERS` and built from the config's ``tracker`` section with
`build_tracker`, e.g. ``tracker = dict(type='OnlineTracker', init_score_thr=0.1)``. `OnlineTracker` associates
with a MaskTrack R-CNN track head's embeddings; `QueryTracker` with the segmenter's own query embeddings, so
image-only models track without video training. Both share `TrackerBase`'s steps and keep their live tracks
as one `Tracks` table (one row per track).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..config import build
from .base import TrackerBase, Tracks
from .query_tracker import QueryTracker
from .tracker import OnlineTracker
from .video_results import TrackLabelVotes, VideoResultAccumulator

TRACKERS = {
    "OnlineTracker": OnlineTracker,
    "QueryTracker": QueryTracker,
}


def build_tracker(cfg: Mapping[str, Any]) -> TrackerBase:
    """``dict(type='OnlineTracker', ...)`` -> tracker; unknown types or keys raise a one-line ConfigError."""
    return build(TRACKERS, cfg, "tracker")


__all__ = ["TRACKERS", "build_tracker", "OnlineTracker", "QueryTracker", "TrackerBase", "Tracks", "TrackLabelVotes",
           "VideoResultAccumulator"]
