"""Identity switches of YouTube-VIS results: how often a ground-truth object changes predicted track.

Video AP rewards a track that covers an object for the whole video, but it does not say *why* a track
is short. The identity-switch count (as in the CLEAR MOT metrics) answers that, frame by frame:

1. Only predicted tracks with score >= ``score_thr`` take part (results files carry many low-score
   tracks for AP's benefit; a user thresholding the output would not see them).
2. In each frame, ground-truth masks and the masks of the predicted tracks present in that frame are
   matched one-to-one by mask IoU (optimal assignment, class-agnostic: identity, not category, is
   measured here); a pair counts only with IoU >= ``iou_thr``.
3. A ground-truth object that is matched to a different predicted track than the last time it was
   matched adds one identity switch. Frames where it is unmatched or absent do not reset its memory,
   so an object lost during an occlusion and picked up again by the same track is not a switch.

Crowd ground truth is skipped. The numbers are ``IDSW`` (total), ``IDSW_per_video`` (mean over the
ground-truth videos), and ``matched_fraction`` (ground-truth object-frames matched to some track:
context for reading IDSW, since a method that finds nothing has no switches).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from pycocotools import mask as mask_util
from scipy.optimize import linear_sum_assignment

from ..errors import DataError
from .ytvis_eval import evaluate_ytvis, gt_tracks, result_tracks
from .ytvis_results import PathOrDict, PathOrList, load_ytvis_gt, load_ytvis_results, ytvis_category_ids, ytvis_videos

IDENTITY_KEYS = ("IDSW", "IDSW_per_video", "matched_fraction")


def _frame_matches(gt_rles: List[dict], dt_rles: List[dict], iou_thr: float) -> Dict[int, int]:
    """{gt index: dt index} of the optimal one-to-one matching by mask IoU, pairs below ``iou_thr`` dropped."""
    if not gt_rles or not dt_rles:
        return {}
    ious = np.asarray(mask_util.iou(dt_rles, gt_rles, [0] * len(gt_rles)), dtype=np.float64).reshape(
        len(dt_rles), len(gt_rles))  # [D, G]
    rows, cols = linear_sum_assignment(-ious)
    return {int(g): int(d) for d, g in zip(rows, cols) if ious[d, g] >= iou_thr}


def count_identity_switches(gt: PathOrDict, results: PathOrList, iou_thr: float = 0.5,
                            score_thr: float = 0.3) -> Dict[str, float]:
    """``{IDSW, IDSW_per_video, matched_fraction}`` of ``results`` against ``gt`` (module docstring)."""
    gt = load_ytvis_gt(gt)
    if not isinstance(gt.get("annotations"), list):
        raise DataError("the ground truth has no 'annotations' list: identity switches need labels")
    videos = ytvis_videos(gt["videos"])
    cat_ids = ytvis_category_ids(gt)
    gt_by_video = gt_tracks(gt, videos, cat_ids)
    dt_tracks = result_tracks(load_ytvis_results(results), videos, cat_ids)

    switches, matched, present = 0, 0, 0
    for video_id in sorted(videos):
        gts = [t for t in gt_by_video.get(video_id, []) if not t.crowd]
        dts = [t for t in dt_tracks.get(video_id, []) if t.score >= score_thr]
        last_track: List[Optional[int]] = [None] * len(gts)  # predicted track each object was last matched to
        for frame in range(videos[video_id].length):
            gt_index = [g for g, t in enumerate(gts) if t.rles[frame] is not None]
            dt_index = [d for d, t in enumerate(dts) if t.rles[frame] is not None]
            present += len(gt_index)
            pairs = _frame_matches([gts[g].rles[frame] for g in gt_index], [dts[d].rles[frame] for d in dt_index],
                                   iou_thr)
            for g_local, d_local in pairs.items():
                g, d = gt_index[g_local], dt_index[d_local]
                matched += 1
                if last_track[g] is not None and last_track[g] != d:
                    switches += 1
                last_track[g] = d
    num_videos = len(gt_by_video)
    return {
        "IDSW": float(switches),
        "IDSW_per_video": switches / num_videos if num_videos else -1.0,
        "matched_fraction": matched / present if present else -1.0,
    }


def format_identity(metrics: Dict[str, float]) -> str:
    """One line for the console, under the AP table."""
    if metrics.get("matched_fraction", -1.0) < 0:
        return "identity switches: - (no ground-truth objects)"
    return (f"identity switches: {metrics['IDSW']:.0f} ({metrics['IDSW_per_video']:.2f} per video); "
            f"{100.0 * metrics['matched_fraction']:.1f}% of ground-truth object-frames matched to a track")


def evaluate_tracks(gt: PathOrDict, results: PathOrList, idsw_score_thr: float = 0.3) -> Dict[str, float]:
    """The official YouTube-VIS AP/AR (`evaluate_ytvis`) and the identity switches (`count_identity_switches`,
    tracks scoring at least ``idsw_score_thr``) of ``results`` against ``gt``, each loaded once."""
    gt, results = load_ytvis_gt(gt), load_ytvis_results(results)
    metrics = evaluate_ytvis(gt, results)
    metrics.update(count_identity_switches(gt, results, score_thr=idsw_score_thr))
    return metrics
