"""Online tracker: MaskTrack R-CNN association with an optimal (one-to-one) assignment.

Per frame, every detection ``i`` is scored against every live track ``j`` and against a "new object"
option (reference_models.md §5.4):

    S_ij   = log p_ij + w_det * log(score_i) + w_iou * IoU(box_i, box_j) + w_lab * 1[label_i == label_j]
    S_i,new = log p_i0 + w_det * log(score_i) + w_lab            (IoU term 0, label term counted as 1)

where ``p_i = softmax([0, e_i . m_1, ..., e_i . m_M])`` over a dummy logit 0 ("new object") and the dot
products of the detection's embedding ``e_i`` with each track's stored embedding ``m_j``. The weights
default to the reference's ``match_weights=dict(det_score=1.0, iou=2.0, det_label=10.0)``.

Where we follow the reference:
- the score formula, the dummy column (logit 0, IoU 0, label term 1), IoU on frame-resolution xyxy boxes
  without the legacy ``+1`` (mmdet3), the latest box / label / score kept per track;
- the memory keeps the *latest* embedding by default (``momentums=None`` in mmdet3);
- retention as mmdet3: after a frame's update a track is removed once ``frame - last_seen >= num_frames_retain``,
  so a track can be missing for up to ``num_frames_retain - 1`` frames and still be recovered;
- a first frame (or any frame with an empty memory) starts one track per (kept) detection.

Determinism: detections keep their input order, new ids are given in that order, and when two detections
score exactly the same against one track the earlier one gets it (a 1e-9 relative tie-break on the cost).

Where we deliberately depart from it:
- **Assignment.** The reference is greedy per detection and can give two detections the same id in one frame
  (its marked TODO). We solve the assignment optimally (``scipy.optimize.linear_sum_assignment``) over
  ``[tracks | one private "new" slot per detection]``, maximising the total score: several detections can start
  new tracks, and no two detections ever share an id. ``assignment='greedy'`` reproduces the reference scheme,
  quirk included, for comparisons.
- **Memory content.** The reference stores each track's 7x7 RoI *feature* and re-embeds it with the current
  head every frame; the head is fixed at inference, so re-embedding gives the embedding it produced when the
  feature was stored. We store that embedding (D floats instead of 12544), which is the same at inference.
- **Births.** A detection assigned to "new" starts a track only if ``score >= init_score_thr``; otherwise it is
  dropped (the reference starts a track for every detection, i.e. ``init_score_thr = score_thr``). Detections
  below ``init_score_thr`` can still continue an existing track (hysteresis, as in ByteTrack).
- **Input clean-up.** Query-based segmenters take top-k over (query x class) with no NMS (§7.4), so one object
  can come as several detections of one query with different labels. They would compete for one track and
  the losers would start duplicate tracks; ``dedup_by='query_index'`` keeps the best-scoring detection per
  query first. Then ``score_thr``, ``nms_iou_thr`` and ``max_per_frame`` reproduce MaskTrack's detector
  output (score >= 0.05, per-class NMS at IoU 0.5, at most 10 per image, MTR-orig). Different queries of a
  weakly trained model can also land on one object; without the NMS (off by default, 0.5 in the video configs)
  those duplicates each start a track and trade the object's id between them.

The steps shared with `QueryTracker` (clean-up, assignment, births, retention, the `Tracks` table) are in
``base.py``; this module adds the score above and the greedy reference assignment.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from ..errors import ConfigError
from .base import TrackerBase, Tracks, box_iou_np, optimal_assignment, parse_match_weights

DEFAULT_MATCH_WEIGHTS = {"det_score": 1.0, "iou": 2.0, "det_label": 10.0}


def _log_softmax_with_dummy(logits: np.ndarray) -> np.ndarray:
    """logits [N, M] -> log softmax over [0 (dummy), logits] along dim 1: [N, M + 1], column 0 = dummy."""
    full = np.concatenate([np.zeros((logits.shape[0], 1), dtype=logits.dtype), logits], axis=1)
    top = full.max(axis=1, keepdims=True)
    return full - (top + np.log(np.exp(full - top).sum(axis=1, keepdims=True)))


def greedy_assignment(s: np.ndarray) -> np.ndarray:
    """The reference scheme (MTR-orig / mmdet3 MaskTrackRCNNTracker), kept for comparisons.

    In detection order: best column; 0 -> new; else take the track if this score beats the best one
    already given to that track this frame, otherwise drop (-2). An earlier detection that lost the track
    keeps it too, so two detections can share an id (the reference's TODO).
    """
    match = np.full(len(s), -1, dtype=np.int64)
    best = np.full(s.shape[1] - 1, -np.inf)  # best score given to each track this frame
    for i, col in enumerate(np.argmax(s, axis=1)):
        if col == 0:
            continue
        if s[i, col] > best[col - 1]:
            match[i] = col - 1
            best[col - 1] = s[i, col]
        else:
            match[i] = -2  # lost to an earlier, better detection: dropped
    return match


class OnlineTracker(TrackerBase):
    """Assigns track ids to per-frame detections using appearance embeddings, boxes, labels and scores.

    Args:
        match_weights: ``dict(det_score, iou, det_label)``: weights of log(score), IoU and label agreement.
        score_thr: detections below it are ignored (MTR-orig detector: 0.05).
        init_score_thr: a detection starts a new track only at or above it. Default 0.1: close to the reference
            (which starts tracks from every detection >= 0.05, so YouTube-VIS recall is kept) while skipping the
            least confident births; raise it (0.3-0.5) for clean demo videos, set it to ``score_thr`` for the
            reference behaviour.
        max_per_frame: keep at most this many highest-scoring detections per frame (MTR-orig: 10); None = all.
        nms_iou_thr: per-class box NMS at this IoU before association; None = off. MaskTrack R-CNN's detector
            applies it (IoU 0.5) before its tracker sees a frame; query-based segmenters have no NMS, and a
            weakly trained one puts 2-4 near-identical detections on an object, which then trade one
            object's id between them. mmtrack's QDTrack tracker filters duplicates the same way.
        num_frames_retain: a track unseen for this many frames is removed (mmdet3: 20).
        memory: 'latest' (reference) or 'momentum': ``m <- (1 - momentum) * m + momentum * e`` on a match.
        momentum: weight of the new embedding when ``memory='momentum'`` (mmdet BaseTracker convention).
        assignment: 'optimal' (one-to-one, default) or 'greedy' (the reference scheme, may duplicate ids).
        dedup_by: field holding the query each detection came from; when the input has it, only the
            highest-scoring detection per query is kept. None disables it.
        embed_field: the input field holding the track-head embeddings [N, D].

    ``update(instances, frame_index=None)`` returns the kept detections with a ``track_ids`` int64 field;
    ``reset()`` starts a new video (ids restart at 0). The live tracks are ``tracks`` (`Tracks`, one row each).
    """

    def __init__(
        self,
        match_weights: Optional[Mapping[str, float]] = None,
        score_thr: float = 0.05,
        init_score_thr: float = 0.1,
        max_per_frame: Optional[int] = 10,
        nms_iou_thr: Optional[float] = None,
        num_frames_retain: int = 20,
        memory: str = "latest",
        momentum: float = 0.5,
        assignment: str = "optimal",
        dedup_by: Optional[str] = "query_index",
        embed_field: str = "track_embeds",
    ):
        weights = parse_match_weights(DEFAULT_MATCH_WEIGHTS, match_weights, "tracker")
        if assignment not in ("optimal", "greedy"):
            raise ConfigError(f"tracker assignment must be 'optimal' or 'greedy', got '{assignment}'")
        super().__init__(score_thr, init_score_thr, max_per_frame, nms_iou_thr, num_frames_retain, memory,
                         momentum, dedup_by, embed_field)
        self.w_det = weights["det_score"]
        self.w_iou = weights["iou"]
        self.w_lab = weights["det_label"]
        self.assignment = assignment

    def match_scores(self, dets: Tracks) -> np.ndarray:
        """-> S [K, M + 1]: column 0 = "new object", column j + 1 = live track row j."""
        tracks = self.tracks
        logits = dets.embeds @ tracks.embeds.T  # [K, M] dot products, no temperature (reference)
        s = _log_softmax_with_dummy(logits.astype(np.float64))  # [K, M + 1]
        s += self.w_det * np.log(np.maximum(dets.scores, 1e-12))[:, None]
        s[:, 1:] += self.w_iou * box_iou_np(dets.boxes, tracks.boxes)
        s[:, 1:] += self.w_lab * (dets.labels[:, None] == tracks.labels[None, :])
        s[:, 0] += self.w_lab  # dummy: IoU 0, label term counted as 1
        return s

    def assign(self, s: np.ndarray) -> np.ndarray:
        return greedy_assignment(s) if self.assignment == "greedy" else optimal_assignment(s)

    def __repr__(self) -> str:
        return (f"OnlineTracker(tracks={self.num_tracks}, next_id={self.next_id}, assignment={self.assignment}, "
                f"memory={self.memory}, weights=(det_score={self.w_det}, iou={self.w_iou}, det_label={self.w_lab}), "
                f"score_thr={self.score_thr}, init_score_thr={self.init_score_thr}, "
                f"max_per_frame={self.max_per_frame}, num_frames_retain={self.num_frames_retain})")
