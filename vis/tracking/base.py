"""What the online trackers share: the live tracks as one table (`Tracks`) and one frame's steps (`TrackerBase`).

Per frame: select (input clean-up) -> the kept detections as `Tracks` rows -> score matrix (each tracker's own
``match_scores``) -> one-to-one assignment -> write back (matched rows updated, births appended) -> forget
(retention). Each step takes what it needs as arguments; no per-frame state is left on the tracker between them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import batched_nms

from ..errors import ConfigError
from ..structures import Instances, image_masks, to_numpy


def parse_match_weights(defaults: Mapping[str, float], given: Optional[Mapping[str, float]], owner: str) -> dict:
    """``defaults`` updated with ``given`` (floats); an unknown key is a one-line ConfigError naming ``owner``."""
    weights = dict(defaults)
    for key, value in dict(given or {}).items():
        if key not in defaults:
            raise ConfigError(f"unknown {owner} match_weights key '{key}' (accepted: {', '.join(defaults)})")
        weights[key] = float(value)
    return weights


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


def optimal_assignment(s: np.ndarray) -> np.ndarray:
    """S [K, M + 1] (column 0: "no track") -> match [K]: the track row each detection continues, or -1.

    Maximises the total score one-to-one over ``[tracks | one private "no track" slot per detection]``, so
    several detections can go without a track and no two share one.
    """
    num_dets, num_tracks = s.shape[0], s.shape[1] - 1
    # Cost [K, M + K]: tracks, then each detection's own slot (the others forbidden); always feasible.
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


@dataclass
class Tracks:
    """One row per track, oldest first (a lower row is an older track); also one frame's kept detections
    before they join (``ids`` -1). Every column is indexed together, so a selection is one operation."""

    ids: np.ndarray  # int64 [M]
    embeds: np.ndarray  # float32 [M, D] embedding memory
    boxes: np.ndarray  # float64 [M, 4] latest xyxy box, frame pixels
    labels: np.ndarray  # int64 [M] latest label
    scores: np.ndarray  # float64 [M] latest score
    last_seen: np.ndarray  # int64 [M] frame index of the latest detection
    # Last mask, every ``mask_stride``-th pixel, flattened: float32 [M, P]; None when the tracker keeps no masks.
    masks: Optional[np.ndarray] = None
    # bool [M]: which rows of ``masks`` hold one (a track born in a frame without masks has none yet).
    has_mask: Optional[np.ndarray] = None

    @classmethod
    def empty(cls) -> "Tracks":
        """No rows; the first births set the embedding size (D)."""
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), np.zeros((0, 4)),
                   np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    def columns(self) -> dict:
        """{name: array or None}, in field order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __getitem__(self, rows: Any) -> "Tracks":
        return Tracks(**{name: None if value is None else value[rows] for name, value in self.columns().items()})

    def put(self, rows: np.ndarray, new: "Tracks") -> None:
        """Overwrite ``rows`` with ``new``'s columns, ``ids`` excepted (a track keeps its id). A row given twice
        takes the last value (numpy assignment order); a column ``new`` lacks is left as it is."""
        if new.masks is not None:
            self.add_mask_column(new.masks.shape[1])
        for name, value in new.columns().items():
            if name != "ids" and value is not None:
                getattr(self, name)[rows] = value

    def cat(self, new: "Tracks") -> "Tracks":
        """These rows, then ``new``'s. From an empty table, ``new`` itself: the embedding size may change then.
        When only one side has masks, the other first gets a mask column whose rows hold none."""
        if len(self) == 0:
            return new
        for side, other in ((self, new), (new, self)):
            if other.masks is not None:
                side.add_mask_column(other.masks.shape[1])
        return Tracks(**{name: None if value is None else np.concatenate([value, getattr(new, name)])
                         for name, value in self.columns().items()})

    def add_mask_column(self, width: int) -> None:
        """Without masks: add a float32 [M, width] mask column whose rows hold none (``has_mask`` False)."""
        if self.masks is None:
            self.masks = np.zeros((len(self), width), dtype=np.float32)
            self.has_mask = np.zeros(len(self), dtype=bool)


class TrackerBase:
    """The steps every online tracker shares; a tracker supplies ``match_scores(dets) -> S [K, M + 1]``
    (column 0: "no track", column j + 1: track row j; higher is better) and may replace ``assign``.

    Args: as `OnlineTracker`'s; ``mask_stride``: keep each detection's mask (every ``mask_stride``-th pixel) in
    ``dets.masks`` and per track, for a mask IoU term; None: masks are not read.
    """

    def __init__(self, score_thr: float, init_score_thr: float, max_per_frame: Optional[int],
                 nms_iou_thr: Optional[float], num_frames_retain: int, memory: str, momentum: float,
                 dedup_by: Optional[str], embed_field: str, mask_stride: Optional[int] = None):
        if memory not in ("latest", "momentum"):
            raise ConfigError(f"tracker memory must be 'latest' or 'momentum', got '{memory}'")
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"tracker momentum must be in [0, 1], got {momentum}")
        if num_frames_retain < 1:
            raise ConfigError(f"tracker num_frames_retain must be >= 1, got {num_frames_retain}")
        if max_per_frame is not None and max_per_frame < 1:
            raise ConfigError(f"tracker max_per_frame must be >= 1 or None, got {max_per_frame}")
        if nms_iou_thr is not None and not 0.0 < nms_iou_thr <= 1.0:
            raise ConfigError(f"tracker nms_iou_thr must be in (0, 1] or None, got {nms_iou_thr}")
        self.score_thr = float(score_thr)
        self.init_score_thr = float(init_score_thr)
        self.max_per_frame = max_per_frame
        self.nms_iou_thr = None if nms_iou_thr is None else float(nms_iou_thr)
        self.num_frames_retain = int(num_frames_retain)
        self.memory = memory
        self.momentum = float(momentum)
        self.dedup_by = dedup_by
        self.embed_field = embed_field
        self.mask_stride = mask_stride
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; the next frame is frame 0 of a new video and ids restart at 0."""
        self.next_id = 0
        self.frame_index = -1
        self.tracks = Tracks.empty()

    @property
    def num_tracks(self) -> int:
        """Number of live tracks in memory."""
        return len(self.tracks)

    def match_scores(self, dets: Tracks) -> np.ndarray:
        """-> S [K, M + 1] of this frame's kept detections against ``self.tracks``; each tracker's own."""
        raise NotImplementedError

    def assign(self, s: np.ndarray) -> np.ndarray:
        """S [K, M + 1] -> match [K]: track row, -1 ("no track": a birth if the score allows), -2 (dropped)."""
        return optimal_assignment(s)

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
        all_scores = to_numpy(instances.scores, np.float64) if len(instances) else np.zeros(0)  # [N]
        keep = self._select(instances, all_scores)  # [K] indices into the input, ascending
        ids, pasted = np.zeros(0, dtype=np.int64), None
        if len(keep):
            dets, pasted = self._detections(instances, keep, all_scores, frame)
            if len(self.tracks):
                match = self.assign(self.match_scores(dets))
            else:
                match = np.full(len(dets), -1, dtype=np.int64)
            ids = self._write_back(match, dets)  # [K], -1 = dropped
        alive = frame - self.tracks.last_seen < self.num_frames_retain  # mmdet3 ``pop_invalid_tracks``
        if not alive.all():
            self.tracks = self.tracks[alive]
        return self._output(instances, keep, ids, pasted)

    def _select(self, instances: Instances, scores: np.ndarray) -> np.ndarray:
        """Input clean-up: score_thr, one detection per query, per-class NMS, top max_per_frame.

        -> ascending indices [K] into the input.
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
            boxes = torch.as_tensor(to_numpy(instances.boxes, np.float32)[order])  # [K', 4], best score first
            labels = torch.as_tensor(to_numpy(instances.labels, np.int64)[order])
            kept = batched_nms(boxes, torch.as_tensor(scores[order], dtype=torch.float32), labels, self.nms_iou_thr)
            order = order[np.sort(kept.numpy())]  # back to best-score-first order
        if self.max_per_frame is not None:
            order = order[: self.max_per_frame]
        return np.sort(order)

    def _detections(self, instances: Instances, keep: np.ndarray, all_scores: np.ndarray,
                    frame: int) -> Tuple[Tracks, Any]:
        """The kept detections as `Tracks` rows -> (dets, their pasted masks when the input's were deferred)."""
        if not instances.has(self.embed_field):
            raise ConfigError(f"the tracker needs the field '{self.embed_field}' in the detections "
                              f"(fields: {sorted(instances.fields())}); does the model have a track head?")
        rows = slice(None) if len(keep) == len(instances) else keep  # skip the gather in the common case
        dets = Tracks(
            ids=np.full(len(keep), -1, dtype=np.int64),
            embeds=to_numpy(instances.get(self.embed_field), np.float32)[rows],  # [K, D]
            boxes=to_numpy(instances.boxes, np.float64)[rows],  # [K, 4]
            labels=to_numpy(instances.labels, np.int64)[rows],
            scores=all_scores[rows],
            last_seen=np.full(len(keep), frame, dtype=np.int64),
        )
        if len(self.tracks) and dets.embeds.shape[1] != self.tracks.embeds.shape[1]:
            raise ValueError(f"embedding size changed within a video: {dets.embeds.shape[1]} vs "
                             f"{self.tracks.embeds.shape[1]}")
        pasted = None
        if self.mask_stride is not None and instances.has("masks") and len(instances.masks):
            selected = instances.masks[rows]
            full = image_masks(selected)  # [K, H, W] at the frame's size
            if full is not selected:  # it was deferred: the output carries this paste (no second one)
                pasted = full
            step = self.mask_stride
            small = to_numpy(full)[:, ::step, ::step]  # [K, h, w]
            dets.masks = small.reshape(len(small), -1).astype(np.float32)  # [K, P = h * w]
            dets.has_mask = np.ones(len(keep), dtype=bool)
        return dets, pasted

    def _write_back(self, match: np.ndarray, dets: Tracks) -> np.ndarray:
        """Matched detections overwrite their track rows, births append rows. -> ids [K] (-1 = dropped)."""
        tracks = self.tracks
        if dets.masks is not None and tracks.masks is not None and tracks.masks.shape[1] != dets.masks.shape[1]:
            tracks.masks = tracks.has_mask = None  # the frame size changed: the stored masks no longer compare
        ids = np.full(len(match), -1, dtype=np.int64)
        matched = np.nonzero(match >= 0)[0]  # detections continuing a track
        rows = match[matched]
        ids[matched] = tracks.ids[rows]
        if len(matched):
            new = dets[matched]
            if self.memory == "momentum":
                # With greedy duplicates the later detection overwrites the earlier (numpy assignment order),
                # as the reference's memory keeps the last entry written.
                new.embeds = (1.0 - self.momentum) * tracks.embeds[rows] + self.momentum * new.embeds
            tracks.put(rows, new)
        born = np.nonzero((match == -1) & (dets.scores >= self.init_score_thr))[0]  # [B], detection order
        if len(born):
            births = dets[born]
            births.ids = self.next_id + np.arange(len(born), dtype=np.int64)
            self.next_id += len(born)
            ids[born] = births.ids
            self.tracks = tracks.cat(births)
        return ids

    def _output(self, instances: Instances, keep: np.ndarray, ids: np.ndarray, pasted: Any) -> Instances:
        """The kept detections with ``track_ids`` (the input's array type and device)."""
        kept = ids >= 0
        if len(keep) == len(instances) and kept.all():
            out = Instances(instances.image_size, **instances.fields())  # nothing removed: shallow copy
        else:
            # A numpy index: a 1-element torch index would act as a scalar on numpy fields (it has __index__).
            out = instances[keep[kept]]
        if pasted is not None:
            # The masks already pasted for the mask IoU, so the caller's image_masks finds a tensor.
            out.masks = pasted if kept.all() else pasted[torch.as_tensor(np.nonzero(kept)[0], device=pasted.device)]
        track_ids = torch.as_tensor(ids[kept], dtype=torch.int64)
        scores_field = instances.get("scores")
        if isinstance(scores_field, torch.Tensor):
            track_ids = track_ids.to(scores_field.device)
        elif scores_field is not None and not isinstance(scores_field, list):
            track_ids = track_ids.numpy()
        out.track_ids = track_ids
        return out
