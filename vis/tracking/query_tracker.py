"""Training-free tracker: association on the segmenter's own query embeddings (MinVIS-style).

A query-based segmenter (QueryInst, ISTR, SOLQ) gives every detection the decoder state of the query that
produced it (``Instances.embeds``). MinVIS (NeurIPS 2022) showed that these embeddings, trained on still
images only, are discriminative enough to link an object's detections across frames by bipartite matching.
This tracker needs no track head and no video training, so an image checkpoint (the official COCO files)
tracks any video.

Per frame, each kept detection ``i`` is scored against each live track ``j``:

    S_ij = w_embed * cos(e_i, m_j) + w_iou * IoU(i, j) + w_label * 1[label_i == label_j]

with ``m_j`` the track's embedding memory (``memory='momentum'``: ``m <- (1 - momentum) m + momentum e`` on
every match; 'latest': the last embedding) and IoU to the track's last appearance: mask IoU at a quarter of
the frame resolution (``iou_type='mask'``, when the detections carry masks) or box IoU. A detection
continues track ``j`` only if ``S_ij > match_thr``; the assignment is the optimal one-to-one assignment of
`TrackerBase` (each detection also has a private "no track" slot worth ``match_thr``). Unmatched
detections at or above ``init_score_thr`` start tracks (birth); a track unseen for ``num_frames_retain``
frames is removed (death), so an object hidden for fewer frames gets its id back from its embedding
(re-identification). Before association the input is cleaned by the same `TrackerBase` steps as in
`OnlineTracker`: ``score_thr``, one detection per query, per-class NMS (on by default here: the duplicates of
an NMS-free set predictor would each start a track), ``max_per_frame``.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from ..errors import ConfigError
from .base import TrackerBase, Tracks, box_iou_np, parse_match_weights

DEFAULT_QUERY_MATCH_WEIGHTS = {"embed": 1.0, "iou": 1.0, "det_label": 0.5}
MASK_IOU_STRIDE = 4  # mask IoU on every 4th pixel in each direction: 1/16 of the work, same ranking


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a [K, P], b [M, P] float32 0/1 (flattened masks) -> IoU [K, M] (0 where both are empty)."""
    inter = a @ b.T  # [K, M]
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


class QueryTracker(TrackerBase):
    """Links detections across frames by their query embeddings, IoU to the last appearance and class.

    Args:
        match_weights: ``dict(embed, iou, det_label)``: weights of the cosine similarity of query embeddings,
            of the IoU with the track's last appearance and of class agreement (default 1.0, 1.0, 0.5).
        match_thr: a detection continues a track only if its score ``S`` against it exceeds this (default 1.0:
            e.g. cosine 0.5 with no overlap and the same class just fails; cosine 0.8 one frame later passes).
        iou_type: 'mask' (IoU of the masks, at 1/4 resolution; boxes when a frame has no masks) or 'box'.
        score_thr: detections below it are ignored (default 0.05).
        init_score_thr: an unmatched detection starts a track only at or above it (default 0.1).
        max_per_frame: at most this many highest-scoring detections per frame (default 10); None = all.
        nms_iou_thr: per-class box NMS before association (default 0.5); None = off.
        num_frames_retain: a track unseen for this many frames is removed (default 20), so an object occluded
            for up to ``num_frames_retain - 1`` frames can be re-identified.
        memory: 'momentum' (default) or 'latest'.
        momentum: weight of the new embedding in the momentum memory (default 0.5).
        dedup_by: the field naming each detection's query; one detection per query is kept (default
            'query_index'); None disables it.
        embed_field: the field holding the query embeddings (default 'embeds', the segmenter's own).

    With ``iou_type='mask'`` the kept detections' masks are pasted once, here: the output carries them as a
    bool tensor [K, H, W], so a later ``image_masks`` has nothing left to paste.
    """

    def __init__(
        self,
        match_weights: Optional[Mapping[str, float]] = None,
        match_thr: float = 1.0,
        iou_type: str = "mask",
        score_thr: float = 0.05,
        init_score_thr: float = 0.1,
        max_per_frame: Optional[int] = 10,
        nms_iou_thr: Optional[float] = 0.5,
        num_frames_retain: int = 20,
        memory: str = "momentum",
        momentum: float = 0.5,
        dedup_by: Optional[str] = "query_index",
        embed_field: str = "embeds",
    ):
        weights = parse_match_weights(DEFAULT_QUERY_MATCH_WEIGHTS, match_weights, "QueryTracker")
        if iou_type not in ("mask", "box"):
            raise ConfigError(f"QueryTracker iou_type must be 'mask' or 'box', got '{iou_type}'")
        super().__init__(score_thr, init_score_thr, max_per_frame, nms_iou_thr, num_frames_retain, memory,
                         momentum, dedup_by, embed_field, mask_stride=MASK_IOU_STRIDE if iou_type == "mask" else None)
        self.w_embed = weights["embed"]
        self.w_iou = weights["iou"]
        self.w_lab = weights["det_label"]
        self.match_thr = float(match_thr)
        self.iou_type = iou_type

    def match_scores(self, dets: Tracks) -> np.ndarray:
        """-> S [K, M + 1]: column 0 = "no track" (``match_thr``), column j + 1 = live track row j."""
        tracks = self.tracks
        s = np.empty((len(dets), len(tracks) + 1))
        s[:, 0] = self.match_thr
        cosine = _unit_rows(dets.embeds.astype(np.float64)) @ _unit_rows(tracks.embeds.astype(np.float64)).T  # [K, M]
        s[:, 1:] = self.w_embed * cosine + self.w_iou * self._iou(dets) \
            + self.w_lab * (dets.labels[:, None] == tracks.labels[None, :])
        return s

    def _iou(self, dets: Tracks) -> np.ndarray:
        """IoU [K, M] of this frame's kept detections with each live track's last appearance: of the masks when
        this frame and every track have one (of the same size), else of the boxes."""
        tracks = self.tracks
        if (dets.masks is not None and tracks.masks is not None and tracks.has_mask.all()
                and tracks.masks.shape[1] == dets.masks.shape[1]):
            return _mask_iou(dets.masks, tracks.masks)
        return box_iou_np(dets.boxes, tracks.boxes)

    def __repr__(self) -> str:
        return (f"QueryTracker(tracks={self.num_tracks}, next_id={self.next_id}, memory={self.memory}, "
                f"weights=(embed={self.w_embed}, iou={self.w_iou}, det_label={self.w_lab}), "
                f"match_thr={self.match_thr}, iou_type={self.iou_type}, score_thr={self.score_thr}, "
                f"init_score_thr={self.init_score_thr}, nms_iou_thr={self.nms_iou_thr}, "
                f"num_frames_retain={self.num_frames_retain})")
