"""Per-video aggregation of tracked frames into YouTube-VIS results (one entry per track).

YouTube-VIS scores a video as a set of tracks: each has one category, one score and one mask (or None) per
frame of the video. Following MTR-orig ``results2json_videoseg`` and mmdet3 ``YouTubeVISMetric``
(reference_models.md §5.5):

- ``score``       = arithmetic mean of the track's per-frame detection scores;
- ``category_id`` = majority vote of its per-frame labels, mapped to the dataset's category id. Ties go to the
  smallest label, as the reference's ``bincount().argmax()`` does (kept for identical results);
- ``segmentations`` = one compressed COCO RLE (``counts`` a str, JSON-ready) per frame, None where the track
  is absent.

Only the RLEs, scores and labels are kept (a few hundred bytes per mask), never full masks, so a long
video costs little memory. Departures: the reference writes every track; ``top_k`` optionally keeps only the
best-scoring ones (the YouTube-VIS evaluation reads at most 100 per video). When one frame holds two
detections with the same id (only possible with ``OnlineTracker(assignment='greedy')``), the higher-scoring one
is kept; the reference's per-frame dict keeps whichever it writes last.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..evaluation.coco_eval import LabelMap, _label_mapper, encode_masks_rle
from ..structures import Instances


def _numpy(value: Any, dtype=None) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


class VideoResultAccumulator:
    """Collects one video's tracked frames; ``results(...)`` -> YouTube-VIS entries.

    Args:
        num_frames: frames in the video (the length of every ``segmentations`` list).
        frame_size: (height, width) of the video's frames; masks must have this size.

    Feed it with ``add(instances, frame_index=None)``: ``instances`` from ``OnlineTracker.update`` with
    ``track_ids``, ``scores``, ``labels`` and ``masks`` (bool [N, H, W] at frame size; float masks are
    thresholded at 0.5 by ``encode_masks_rle``).
    """

    def __init__(self, num_frames: int, frame_size: Tuple[int, int]):
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.num_frames = int(num_frames)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        # track id -> {"frames": {frame: rle}, "scores": {frame: score}, "labels": {frame: label}}
        self._tracks: Dict[int, Dict[str, Dict[int, Any]]] = {}
        self._seen_frames = set()
        self._next_frame = 0

    def __len__(self) -> int:
        """Number of distinct tracks seen so far."""
        return len(self._tracks)

    def add(self, instances: Instances, frame_index: Optional[int] = None) -> None:
        """Record one frame (default: the frame after the previous one). Each frame may be added once."""
        frame = self._next_frame if frame_index is None else int(frame_index)
        if not 0 <= frame < self.num_frames:
            raise ValueError(f"frame_index {frame} outside the video's {self.num_frames} frames")
        if frame in self._seen_frames:
            raise ValueError(f"frame {frame} was already added")
        self._seen_frames.add(frame)
        self._next_frame = frame + 1
        if len(instances) == 0:
            return
        if tuple(instances.image_size) != self.frame_size:
            raise ValueError(f"instances are at {instances.image_size}, the video's frames at {self.frame_size}")
        masks = instances.masks
        if tuple(masks.shape[-2:]) != self.frame_size:
            raise ValueError(f"masks are {tuple(masks.shape[-2:])}, the video's frames {self.frame_size}")
        ids = _numpy(instances.track_ids, np.int64)  # [N]
        scores = _numpy(instances.scores, np.float64)  # [N]
        labels = _numpy(instances.labels, np.int64)  # [N]
        # Duplicate ids in a frame (greedy tracker only): keep the best-scoring detection of each id.
        order = np.argsort(-scores, kind="stable")
        _, first = np.unique(ids[order], return_index=True)
        keep = np.sort(order[first])  # [K]
        rles = encode_masks_rle(masks[torch.as_tensor(keep)] if isinstance(masks, torch.Tensor) else masks[keep])
        for row, rle in zip(keep.tolist(), rles):
            track = self._tracks.setdefault(int(ids[row]), {"frames": {}, "scores": {}, "labels": {}})
            track["frames"][frame] = rle
            track["scores"][frame] = float(scores[row])
            track["labels"][frame] = int(labels[row])

    def results(
        self, video_id: int, label_to_category_id: LabelMap, top_k: Optional[int] = None
    ) -> List[Dict[str, Any]]:
        """-> one dict per track, best score first: ``video_id``, ``category_id``, ``score``, ``segmentations``.

        ``label_to_category_id`` maps the model's contiguous labels to dataset category ids (a sequence, a
        mapping or a callable). ``top_k`` keeps only the best-scoring tracks (None = all, as the reference).
        """
        to_category = _label_mapper(label_to_category_id)
        entries = []
        for track_id in sorted(self._tracks):
            track = self._tracks[track_id]
            labels = np.fromiter(track["labels"].values(), dtype=np.int64)
            label = int(np.bincount(labels).argmax())  # majority vote; ties -> smallest label (reference)
            segmentations: List[Optional[Dict[str, Any]]] = [None] * self.num_frames
            for frame, rle in track["frames"].items():
                segmentations[frame] = rle
            entries.append({
                "video_id": video_id,
                "category_id": to_category(label),
                "score": float(np.mean(list(track["scores"].values()))),
                "segmentations": segmentations,
            })
        # Best score first; stable sort, so equal scores stay in track-id order (deterministic).
        entries.sort(key=lambda e: -e["score"])
        if top_k is not None:
            entries = entries[:top_k]
        return entries
