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
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import batched_nms

from ..errors import ConfigError
from ..structures import Instances, to_numpy

DEFAULT_MATCH_WEIGHTS = {"det_score": 1.0, "iou": 2.0, "det_label": 10.0}


def box_iou_np(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes [N, 4] x [M, 4] -> [N, M] (no legacy +1, as mmdet3); 0 for empty unions."""
    wh1 = np.maximum(boxes1[:, 2:] - boxes1[:, :2], 0.0)  # [N, 2]
    wh2 = np.maximum(boxes2[:, 2:] - boxes2[:, :2], 0.0)  # [M, 2]
    area1, area2 = wh1[:, 0] * wh1[:, 1], wh2[:, 0] * wh2[:, 1]  # [N], [M]
    lt = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # [N, M, 2]
    rb = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # [N, M, 2]
    wh = np.maximum(rb - lt, 0.0)
    inter = wh[..., 0] * wh[..., 1]  # [N, M]
    union = area1[:, None] + area2[None, :] - inter
    # An empty union means two empty boxes: IoU 0 (inter is 0 there too, so dividing by eps is safe).
    return inter / np.maximum(union, 1e-12)


def _log_softmax_with_dummy(logits: np.ndarray) -> np.ndarray:
    """logits [N, M] -> log softmax over [0 (dummy), logits] along dim 1: [N, M + 1], column 0 = dummy."""
    full = np.concatenate([np.zeros((logits.shape[0], 1), dtype=logits.dtype), logits], axis=1)
    top = full.max(axis=1, keepdims=True)
    return full - (top + np.log(np.exp(full - top).sum(axis=1, keepdims=True)))


class OnlineTracker:
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
    ``reset()`` starts a new video (ids restart at 0).
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
        weights = dict(DEFAULT_MATCH_WEIGHTS)
        for key, value in dict(match_weights or {}).items():
            if key not in DEFAULT_MATCH_WEIGHTS:
                raise ConfigError(f"unknown tracker match_weights key '{key}' (accepted: det_score, iou, det_label)")
            weights[key] = float(value)
        if memory not in ("latest", "momentum"):
            raise ConfigError(f"tracker memory must be 'latest' or 'momentum', got '{memory}'")
        if assignment not in ("optimal", "greedy"):
            raise ConfigError(f"tracker assignment must be 'optimal' or 'greedy', got '{assignment}'")
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"tracker momentum must be in [0, 1], got {momentum}")
        if num_frames_retain < 1:
            raise ConfigError(f"tracker num_frames_retain must be >= 1, got {num_frames_retain}")
        if max_per_frame is not None and max_per_frame < 1:
            raise ConfigError(f"tracker max_per_frame must be >= 1 or None, got {max_per_frame}")
        if nms_iou_thr is not None and not 0.0 < nms_iou_thr <= 1.0:
            raise ConfigError(f"tracker nms_iou_thr must be in (0, 1] or None, got {nms_iou_thr}")
        self.w_det = weights["det_score"]
        self.w_iou = weights["iou"]
        self.w_lab = weights["det_label"]
        self.score_thr = float(score_thr)
        self.init_score_thr = float(init_score_thr)
        self.max_per_frame = max_per_frame
        self.nms_iou_thr = None if nms_iou_thr is None else float(nms_iou_thr)
        self.num_frames_retain = int(num_frames_retain)
        self.memory = memory
        self.momentum = float(momentum)
        self.assignment = assignment
        self.dedup_by = dedup_by
        self.embed_field = embed_field
        self.reset()

    # -- memory ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all tracks; the next frame is frame 0 of a new video and ids restart at 0."""
        self.next_id = 0
        self.frame_index = -1
        # One row per live track, oldest first (so lower column index = older track).
        self.ids = np.zeros(0, dtype=np.int64)  # [M]
        self.embeds: Optional[np.ndarray] = None  # [M, D] float32 (D known at the first detection)
        self.boxes = np.zeros((0, 4), dtype=np.float64)  # [M, 4] xyxy, frame pixels
        self.labels = np.zeros(0, dtype=np.int64)  # [M]
        self.scores = np.zeros(0, dtype=np.float64)  # [M]
        self.last_seen = np.zeros(0, dtype=np.int64)  # [M]

    @property
    def num_tracks(self) -> int:
        """Number of live tracks in memory."""
        return len(self.ids)

    # -- per frame ---------------------------------------------------------------------------------
    def update(self, instances: Instances, frame_index: Optional[int] = None) -> Instances:
        """Associate one frame's detections; -> the kept detections (input order) with ``track_ids`` int64 [K].

        ``frame_index`` defaults to the previous one + 1 (0 after ``reset``); give it when frames are skipped,
        so retention counts real frames. It must increase within a video.
        """
        frame = self.frame_index + 1 if frame_index is None else int(frame_index)
        if frame <= self.frame_index:
            raise ValueError(f"frame_index must increase within a video (got {frame} after {self.frame_index}); "
                             f"call reset() at a new video")
        self.frame_index = frame

        num_in = len(instances)
        all_scores = to_numpy(instances.scores, np.float64) if num_in else np.zeros(0)  # [N]
        keep = self._select(instances, all_scores)  # [K'] indices into the input, ascending
        if len(keep):
            if not instances.has(self.embed_field):
                raise ConfigError(f"the tracker needs the field '{self.embed_field}' in the detections "
                                  f"(fields: {sorted(instances.fields())}); does the model have a track head?")
            rows = slice(None) if len(keep) == num_in else keep  # skip the gather in the common case
            self._begin_frame(instances, rows)
            boxes = to_numpy(instances.boxes, np.float64)[rows]  # [K', 4]
            scores = all_scores[rows]  # [K']
            labels = to_numpy(instances.labels, np.int64)[rows]  # [K']
            embeds = to_numpy(instances.get(self.embed_field), np.float32)[rows]  # [K', D]
            if self.embeds is not None and len(self.ids) and embeds.shape[1] != self.embeds.shape[1]:
                raise ValueError(f"embedding size changed within a video: {embeds.shape[1]} vs {self.embeds.shape[1]}")
            match = self._associate(boxes, scores, labels, embeds)  # [K'] track row, or -1 for "new"
            ids = self._update_memory(match, boxes, scores, labels, embeds, frame)  # [K'], -1 = dropped
        else:
            ids = np.zeros(0, dtype=np.int64)
        self._forget(frame)

        kept = ids >= 0
        if len(keep) == num_in and kept.all():
            out = Instances(instances.image_size, **instances.fields())  # nothing removed: shallow copy
        else:
            # A numpy index: a 1-element torch index would act as a scalar on numpy fields (it has __index__).
            out = instances[keep[kept]]
        track_ids = torch.as_tensor(ids[kept], dtype=torch.int64)
        scores_field = instances.get("scores")
        if isinstance(scores_field, torch.Tensor):
            track_ids = track_ids.to(scores_field.device)
        elif scores_field is not None and not isinstance(scores_field, list):
            track_ids = track_ids.numpy()
        out.track_ids = track_ids
        return out

    def _begin_frame(self, instances: Instances, rows: Any) -> None:
        """Hook for subclasses that read more of the kept detections (``instances[rows]``) than boxes,
        scores, labels and embeddings; the MaskTrack association needs nothing more."""

    def _select(self, instances: Instances, scores: np.ndarray) -> np.ndarray:
        """Input clean-up: score_thr, one detection per query, per-class NMS, top max_per_frame.

        -> ascending indices [K'] into the input.
        """
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64)
        # Highest score first; stable, so equal scores keep input order (deterministic).
        order = np.argsort(-scores, kind="stable")
        order = order[scores[order] >= self.score_thr]
        if self.dedup_by is not None and instances.has(self.dedup_by):
            query = to_numpy(instances.get(self.dedup_by), np.int64)[order]
            if len(set(query.tolist())) < len(query):  # cheaper than np.unique when there is nothing to do
                _, first = np.unique(query, return_index=True)  # first occurrence = best score of each query
                order = order[np.sort(first)]
        if self.nms_iou_thr is not None and len(order) > 1:
            boxes = torch.as_tensor(to_numpy(instances.boxes, np.float32)[order])  # [K'', 4], best score first
            labels = torch.as_tensor(to_numpy(instances.labels, np.int64)[order])
            kept = batched_nms(boxes, torch.as_tensor(scores[order], dtype=torch.float32), labels, self.nms_iou_thr)
            order = order[np.sort(kept.numpy())]  # back to best-score-first order
        if self.max_per_frame is not None:
            order = order[: self.max_per_frame]
        return np.sort(order)

    def _match_scores(self, boxes, scores, labels, embeds) -> np.ndarray:
        """-> S [K', M + 1]: column 0 = "new object", column j + 1 = live track row j."""
        logits = embeds @ self.embeds.T  # [K', M] dot products, no temperature (reference)
        scores_out = _log_softmax_with_dummy(logits.astype(np.float64))  # [K', M + 1]
        scores_out += self.w_det * np.log(np.maximum(scores, 1e-12))[:, None]
        scores_out[:, 1:] += self.w_iou * box_iou_np(boxes, self.boxes)
        scores_out[:, 1:] += self.w_lab * (labels[:, None] == self.labels[None, :])
        scores_out[:, 0] += self.w_lab  # dummy: IoU 0, label term counted as 1
        return scores_out

    def _associate(self, boxes, scores, labels, embeds) -> np.ndarray:
        """-> match [K']: the live-track row each detection continues, or -1 for "new object"."""
        num_dets, num_tracks = len(boxes), len(self.ids)
        if num_tracks == 0:
            return np.full(num_dets, -1, dtype=np.int64)
        s = self._match_scores(boxes, scores, labels, embeds)  # [K', M + 1]
        if self.assignment == "greedy":
            return self._greedy(s)
        # Cost [K', M + K']: tracks, then one private "new" slot per detection (others forbidden).
        # Every detection can always take its own slot, so the problem is always feasible.
        scale = 1.0 + np.abs(s).max()
        cost = np.full((num_dets, num_tracks + num_dets), np.inf)
        # Tie-break: an earlier detection takes a contested track when scores are equal (deterministic).
        cost[:, :num_tracks] = -s[:, 1:] + 1e-9 * scale * np.arange(num_dets)[:, None]
        cost[np.arange(num_dets), num_tracks + np.arange(num_dets)] = -s[:, 0]
        rows, cols = linear_sum_assignment(cost)
        match = np.full(num_dets, -1, dtype=np.int64)
        on_track = cols < num_tracks
        match[rows[on_track]] = cols[on_track]
        return match

    @staticmethod
    def _greedy(s: np.ndarray) -> np.ndarray:
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

    def _update_memory(self, match, boxes, scores, labels, embeds, frame) -> np.ndarray:
        """Write matched detections into their tracks and append births. -> ids [K'] (-1 = dropped)."""
        ids = np.full(len(match), -1, dtype=np.int64)
        matched = np.nonzero(match >= 0)[0]  # detections continuing a track
        rows = match[matched]
        ids[matched] = self.ids[rows]
        if len(matched):
            if self.memory == "momentum":
                # With greedy duplicates the later detection overwrites the earlier (numpy assignment order),
                # as the reference's memory keeps the last entry written.
                self.embeds[rows] = (1.0 - self.momentum) * self.embeds[rows] + self.momentum * embeds[matched]
            else:
                self.embeds[rows] = embeds[matched]
            self.boxes[rows] = boxes[matched]
            self.labels[rows] = labels[matched]
            self.scores[rows] = scores[matched]
            self.last_seen[rows] = frame

        born = np.nonzero((match == -1) & (scores >= self.init_score_thr))[0]  # [B], detection order
        if len(born):
            new_ids = self.next_id + np.arange(len(born), dtype=np.int64)
            self.next_id += len(born)
            ids[born] = new_ids
            self.ids = np.concatenate([self.ids, new_ids])
            if self.embeds is None or len(self.embeds) == 0:
                self.embeds = embeds[born].copy()  # also lets D change once the memory is empty
            else:
                self.embeds = np.concatenate([self.embeds, embeds[born]])
            self.boxes = np.concatenate([self.boxes, boxes[born]])
            self.labels = np.concatenate([self.labels, labels[born]])
            self.scores = np.concatenate([self.scores, scores[born]])
            self.last_seen = np.concatenate([self.last_seen, np.full(len(born), frame, dtype=np.int64)])
        return ids

    def _forget(self, frame: int) -> None:
        """Remove tracks with ``frame - last_seen >= num_frames_retain`` (mmdet3 ``pop_invalid_tracks``)."""
        alive = frame - self.last_seen < self.num_frames_retain
        if alive.all():
            return
        self.ids = self.ids[alive]
        self.embeds = self.embeds[alive] if self.embeds is not None else None
        self.boxes = self.boxes[alive]
        self.labels = self.labels[alive]
        self.scores = self.scores[alive]
        self.last_seen = self.last_seen[alive]

    def __repr__(self) -> str:
        return (f"OnlineTracker(tracks={self.num_tracks}, next_id={self.next_id}, assignment={self.assignment}, "
                f"memory={self.memory}, weights=(det_score={self.w_det}, iou={self.w_iou}, det_label={self.w_lab}), "
                f"score_thr={self.score_thr}, init_score_thr={self.init_score_thr}, "
                f"max_per_frame={self.max_per_frame}, num_frames_retain={self.num_frames_retain})")
