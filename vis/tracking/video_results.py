"""Per-video aggregation of tracked frames into YouTube-VIS results (one entry per track).

YouTube-VIS scores a video as a set of tracks: each has one category, one score and one mask (or None) per
frame of the video. Following MTR-orig ``results2json_videoseg`` and mmdet3 ``YouTubeVISMetric``
(reference_models.md §5.5):

- ``score``       = arithmetic mean of the track's per-frame detection scores;
- ``category_id`` = majority vote of its per-frame labels, mapped to the dataset's category id. Ties go to the
  smallest label, as the reference's ``bincount().argmax()`` does (kept for identical results);
- ``segmentations`` = one compressed COCO RLE (``counts`` a str, JSON-ready) per frame, None where the track
  is absent.

Only the compressed RLEs are kept (a few hundred bytes per mask; never full masks), plus a running score
sum and label votes per track; with a ``spill_path`` the RLEs move to disk past a memory budget, so a long
video streams in flat memory. Departures: the reference writes every track; ``top_k`` optionally keeps only the
best-scoring ones (the YouTube-VIS evaluation reads at most 100 per video). When one frame holds two
detections with the same id (only possible with ``OnlineTracker(assignment='greedy')``), the higher-scoring one
is kept; the reference's per-frame dict keeps whichever it writes last.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

from ..formats import LabelMap, encode_masks_rle, label_mapper
from ..structures import Instances, to_numpy


class _TrackSummary:
    """What the aggregation needs of one track besides its masks: a running score sum and label votes."""

    __slots__ = ("score_sum", "frames", "label_votes")

    def __init__(self):
        self.score_sum, self.frames = 0.0, 0
        self.label_votes: Dict[int, int] = {}

    def add(self, score: float, label: int) -> None:
        self.score_sum += score
        self.frames += 1
        self.label_votes[label] = self.label_votes.get(label, 0) + 1

    def majority_label(self) -> int:
        return majority_label(self.label_votes)


def majority_label(label_votes: Dict[int, int]) -> int:
    """Most frequent label; ties -> the smallest label, as the reference's ``bincount().argmax()``."""
    best = max(label_votes.values())
    return min(label for label, votes in label_votes.items() if votes == best)


class TrackLabelVotes:
    """One class per track at every frame: the majority of the labels the track has had so far.

    A segmenter labels each frame on its own, so a track's class can flicker (circle, cross, circle, ...).
    Streams show the running majority instead, by the rule of the YouTube-VIS entries (`majority_label`): at a
    track's last frame its label equals its ``category_id`` there.
    """

    def __init__(self):
        self._votes: Dict[int, Dict[int, int]] = {}  # track id -> {label: frames}

    def reset(self) -> None:
        self._votes.clear()

    def update(self, track_ids: Any, labels: Any) -> np.ndarray:
        """Count this frame's (track id, label) pairs; -> each track's majority label so far, int64 [n]."""
        ids = to_numpy(track_ids, np.int64).tolist()
        labs = to_numpy(labels, np.int64).tolist()
        out = np.empty(len(ids), dtype=np.int64)
        for i, (track_id, label) in enumerate(zip(ids, labs)):
            votes = self._votes.setdefault(track_id, {})
            votes[label] = votes.get(label, 0) + 1
            out[i] = majority_label(votes)
        return out


class VideoResultAccumulator:
    """Collects one video's tracked frames; ``results(...)`` -> YouTube-VIS entries.

    Args:
        num_frames: frames in the video (the length of every ``segmentations`` list); None for a live source, whose
            length is known at the end: the frames added then.
        frame_size: (height, width) of the video's frames; masks must have this size.
        spill_path: where to move the RLEs once they take more than ``max_memory_bytes`` (a file it
            creates and deletes; None = keep everything in memory). Long videos then cost flat memory
            while streaming; ``results`` reads the file back.
        max_memory_bytes: RLE bytes held in memory before they go to ``spill_path``.

    Feed it with ``add(instances, frame_index=None)``: ``instances`` from ``OnlineTracker.update`` with
    ``track_ids``, ``scores``, ``labels`` and ``masks`` (bool [N, H, W] at frame size; float masks are
    thresholded at 0.5 by ``encode_masks_rle``).
    """

    def __init__(self, num_frames: Optional[int], frame_size: Tuple[int, int], spill_path: Optional[str] = None,
                 max_memory_bytes: int = 32 << 20):
        if num_frames is not None and num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.num_frames = None if num_frames is None else int(num_frames)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.spill_path = spill_path
        self.max_memory_bytes = int(max_memory_bytes)
        self._summaries: Dict[int, _TrackSummary] = {}
        self._pending: List[Tuple[int, int, str]] = []  # (track id, frame, RLE counts) not yet spilled
        self._pending_bytes = 0
        self._spilled = 0  # records in the spill file
        self._seen_frames = set()
        self._next_frame = 0

    def __len__(self) -> int:
        """Number of distinct tracks seen so far."""
        return len(self._summaries)

    def add(self, instances: Instances, frame_index: Optional[int] = None) -> None:
        """Record one frame (default: the frame after the previous one). Each frame may be added once."""
        frame = self._next_frame if frame_index is None else int(frame_index)
        if frame < 0 or self.num_frames is not None and frame >= self.num_frames:
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
        ids = to_numpy(instances.track_ids, np.int64)  # [N]
        scores = to_numpy(instances.scores, np.float64)  # [N]
        labels = to_numpy(instances.labels, np.int64)  # [N]
        # Duplicate ids in a frame (greedy tracker only): keep the best-scoring detection of each id.
        order = np.argsort(-scores, kind="stable")
        _, first = np.unique(ids[order], return_index=True)
        keep = np.sort(order[first])  # [K]
        rles = encode_masks_rle(masks[torch.as_tensor(keep)] if isinstance(masks, torch.Tensor) else masks[keep])
        for row, rle in zip(keep.tolist(), rles):
            track_id = int(ids[row])
            self._summaries.setdefault(track_id, _TrackSummary()).add(float(scores[row]), int(labels[row]))
            self._pending.append((track_id, frame, rle["counts"]))
            self._pending_bytes += len(rle["counts"])
        if self.spill_path is not None and self._pending_bytes > self.max_memory_bytes:
            self._spill()

    def _spill(self) -> None:
        """Append the pending RLEs to the spill file, one ``track frame counts`` line each."""
        with open(self.spill_path, "a") as f:
            f.writelines(f"{t} {frame} {counts}\n" for t, frame, counts in self._pending)
        self._spilled += len(self._pending)
        self._pending, self._pending_bytes = [], 0

    def _records(self) -> Iterator[Tuple[int, int, str]]:
        """Every (track id, frame, counts) recorded: the spilled ones first, then those in memory."""
        if self._spilled:
            with open(self.spill_path) as f:
                for line in f:
                    track_id, frame, counts = line.rstrip("\n").split(" ", 2)
                    yield int(track_id), int(frame), counts
        yield from self._pending

    def close(self) -> None:
        """Delete the spill file (the accumulator keeps working, in memory, if fed again)."""
        if self._spilled and self.spill_path is not None:
            try:
                os.remove(self.spill_path)
            except FileNotFoundError:
                pass
        self._spilled = 0

    def results(
        self, video_id: int, label_to_category_id: LabelMap, top_k: Optional[int] = None
    ) -> List[Dict[str, Any]]:
        """-> one dict per track, best score first: ``video_id``, ``category_id``, ``score``, ``segmentations``.

        ``label_to_category_id`` maps the model's contiguous labels to dataset category ids (a sequence, a
        mapping or a callable). ``top_k`` keeps only the best-scoring tracks (None = all, as the reference).
        """
        to_category = label_mapper(label_to_category_id)
        # Best score first; stable sort, so equal scores stay in track-id order (deterministic).
        track_ids = sorted(self._summaries)
        scores = {t: self._summaries[t].score_sum / self._summaries[t].frames for t in track_ids}
        track_ids.sort(key=lambda t: -scores[t])
        if top_k is not None:
            track_ids = track_ids[:top_k]
        height, width = self.frame_size
        num_frames = self.num_frames if self.num_frames is not None else self._next_frame
        segmentations: Dict[int, List[Optional[Dict[str, Any]]]] = {t: [None] * num_frames for t in track_ids}
        for track_id, frame, counts in self._records():
            if track_id in segmentations:
                segmentations[track_id][frame] = {"size": [height, width], "counts": counts}
        return [{
            "video_id": video_id,
            "category_id": to_category(self._summaries[t].majority_label()),
            "score": float(scores[t]),
            "segmentations": segmentations[t],
        } for t in track_ids]
