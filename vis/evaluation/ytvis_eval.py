"""YouTube-VIS video AP / AR, reproducing the official evaluation (youtubevos/cocoapi ``ytvoseval.py``).

The official fork is COCOeval with videos in place of images and a track (one mask or null per frame)
in place of an instance. Its rules, as reproduced here:

1. Video IoU of a predicted and a ground-truth track = (sum over frames of the intersection) /
   (sum over frames of the union). A frame where only one side has a mask adds that mask's area to
   the union; a frame where both are null adds nothing. A pair whose union is 0 has IoU 0.
   The official code ignores ``iscrowd`` here: a crowd track gets this same IoU, not COCO's
   intersection-over-detection-area.
2. Track area (for the size ranges) = mean of the per-frame areas, skipping frames whose area is
   null or 0 (the official ``if a`` test); 0 when no frame counts. Ground truth takes the areas from
   its ``areas`` field (decoded mask areas when the field is missing), results from their decoded masks.
3. Size ranges: all [0, 1e10], small [0, 128²], medium [128², 256²], large [256², 1e10] (COCO's
   32²/96² scaled up for video). Boundaries are inclusive on both ends, as COCOeval's: a track is out
   of a range when area < lo or area > hi, so an area of exactly 128² counts as small *and* medium.
   Ground truth out of range is ignored; an unmatched detection out of range is ignored.
4. Crowd ground truth (``iscrowd``) is an ignore region: a detection matched to it is neither a true
   nor a false positive, and a crowd track can absorb any number of detections.
5. Per (video, category): detections sorted by score (stable, so ties keep the results-file order),
   the best 100 kept; greedy matching at IoU thresholds .50:.05:.95 exactly as COCOeval's
   ``evaluateImg``: each detection takes the not-yet-matched ground truth of highest IoU >= the
   threshold (ties go to the later track), preferring non-ignored ground truth over ignored.
6. Per category and size range, the per-video lists are joined (videos in id order), cut to the first
   1 / 10 / 100 detections of each video, sorted by score; precision is made monotone and read at 101
   recall points (0 beyond the highest recall reached). Recall is the final recall.
7. AP = mean over thresholds, recall points and categories; AR = mean over thresholds and categories.
   Categories (or size ranges) with no non-ignored ground truth are -1 and left out of the mean; a
   metric with nothing to average is -1. AP, AP50, AP75, APs/m/l use 100 detections per video.

Departures, on input the official code would accept silently: results or ground truth whose per-frame
list length differs from the video's frame count (the official ``zip`` drops the extra frames), masks
whose RLE size is not the video's (the official IoU then comes out as 0), and results with an unknown
video or category id, all raise ``DataError`` instead.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from pycocotools import mask as mask_util

from ..errors import DataError
from .ytvis_results import (PathOrDict, PathOrList, VideoInfo, entry_problems, frame_rle, load_ytvis_gt,
                            load_ytvis_results, ytvis_category_ids, ytvis_videos)

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)
# (name, lo, hi): the official ytvoseval areaRng.
AREA_RANGES = (
    ("all", 0.0, 1e5 ** 2),
    ("small", 0.0, 128.0 ** 2),
    ("medium", 128.0 ** 2, 256.0 ** 2),
    ("large", 256.0 ** 2, 1e5 ** 2),
)
METRIC_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")
TABLE_KEYS = METRIC_KEYS[:8]  # the columns the YouTube-VIS leaderboard reports

class _Track(NamedTuple):
    category_id: int
    score: float  # 1.0 for ground truth
    rles: List[Optional[Dict[str, Any]]]  # one per frame, None where absent
    area: float  # rule 2
    crowd: bool


def _mean_area(areas: Sequence[Any]) -> float:
    """Rule 2: the mean over frames whose area is neither null nor 0."""
    counted = [float(a) for a in areas if a]
    return float(np.mean(counted)) if counted else 0.0


def _decoded_areas(rles: Sequence[Optional[Dict[str, Any]]]) -> List[float]:
    present = [r for r in rles if r is not None]
    areas = iter(mask_util.area(present).tolist() if present else [])
    return [next(areas) if r is not None else 0.0 for r in rles]


def _track_rles(segms: Any, info: VideoInfo, where: str) -> List[Optional[Dict[str, Any]]]:
    if not isinstance(segms, list):
        raise DataError(f"{where}: 'segmentations' must be a list with one entry per frame")
    if len(segms) != info.length:
        raise DataError(f"{where}: {len(segms)} segmentations for a {info.length}-frame video")
    rles = []
    for frame, segm in enumerate(segms):
        try:
            rles.append(frame_rle(segm, info.height, info.width))
        except ValueError as exc:
            raise DataError(f"{where} frame {frame}: {exc}") from None
    return rles


def gt_tracks(gt: Mapping[str, Any], videos: Mapping[int, VideoInfo],
               cat_ids: Sequence[int]) -> Dict[int, List[_Track]]:
    """{video id: ground-truth tracks in file order}."""
    known_cats = set(cat_ids)
    tracks: Dict[int, List[_Track]] = {}
    for index, ann in enumerate(gt["annotations"]):
        where = f"annotation {index}"
        try:
            video_id, cat_id = int(ann["video_id"]), int(ann["category_id"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where} needs integer 'video_id' and 'category_id'") from None
        if video_id not in videos:
            raise DataError(f"{where} refers to video id {video_id}, which is not in 'videos'")
        if cat_id not in known_cats:
            raise DataError(f"{where} has category id {cat_id}, which is not in 'categories'")
        rles = _track_rles(ann.get("segmentations"), videos[video_id], f"{where} (video {video_id})")
        areas = ann.get("areas")
        if areas is None:
            areas = _decoded_areas(rles)
        elif not isinstance(areas, list) or len(areas) != len(rles):
            raise DataError(f"{where} (video {video_id}): 'areas' must be a list with one entry per frame")
        crowd = bool(ann.get("iscrowd", 0))
        tracks.setdefault(video_id, []).append(_Track(cat_id, 1.0, rles, _mean_area(areas), crowd))
    return tracks


def result_tracks(results: Sequence[Mapping[str, Any]], videos: Mapping[int, VideoInfo],
                  cat_ids: Sequence[int]) -> Dict[int, List[_Track]]:
    """{video id: predicted tracks in results order}; the first problem of the first bad entry (as the one
    parser of the format, `vis.evaluation.ytvis_results.entry_problems`, words it) raises DataError."""
    known_cats = set(cat_ids)
    tracks: Dict[int, List[_Track]] = {}
    for index, entry in enumerate(results):
        problems = entry_problems(index, entry, videos, known_cats, server_format=False)
        if problems:
            raise DataError(problems[0])
        video_id = int(entry["video_id"])
        info = videos[video_id]
        rles = [frame_rle(segm, info.height, info.width) for segm in entry["segmentations"]]
        area = _mean_area(_decoded_areas(rles))
        tracks.setdefault(video_id, []).append(_Track(int(entry["category_id"]), float(entry["score"]), rles, area,
                                                      False))
    return tracks


# -- video IoU -------------------------------------------------------------------------------------
def video_iou(dt_segmentations: Sequence[Sequence[Optional[Dict[str, Any]]]],
              gt_segmentations: Sequence[Sequence[Optional[Dict[str, Any]]]]) -> np.ndarray:
    """Spatio-temporal IoU [D, G] between D predicted and G ground-truth tracks of one video (rule 1).

    Each track is a list with one compressed RLE (counts str or bytes) or None per frame; all tracks
    have the same length and every RLE the video's size. Per frame one pycocotools call gives every
    intersection: its crowd IoU is intersection / detection area, so intersection = that ratio times
    the detection area, rounded to the integer pixel count it is. The union of a pair over the video
    is then (its detection area) + (its ground-truth area) - (its intersection), summed over frames,
    which is exactly the official per-frame sum including frames where only one side is present.
    """
    num_dt, num_gt = len(dt_segmentations), len(gt_segmentations)
    lengths = {len(t) for t in dt_segmentations} | {len(t) for t in gt_segmentations}
    if len(lengths) > 1:
        raise ValueError(f"tracks of one video must have the same number of frames, got {sorted(lengths)}")
    num_frames = lengths.pop() if lengths else 0
    inter = np.zeros((num_dt, num_gt))
    dt_total = np.zeros(num_dt)
    gt_total = np.zeros(num_gt)
    for frame in range(num_frames):
        dt_idx = [i for i, track in enumerate(dt_segmentations) if track[frame] is not None]
        gt_idx = [j for j, track in enumerate(gt_segmentations) if track[frame] is not None]
        dt_rles = [dt_segmentations[i][frame] for i in dt_idx]
        gt_rles = [gt_segmentations[j][frame] for j in gt_idx]
        if dt_rles:
            dt_area = mask_util.area(dt_rles).astype(np.float64)
            dt_total[dt_idx] += dt_area
        if gt_rles:
            gt_total[gt_idx] += mask_util.area(gt_rles)
        if dt_rles and gt_rles:
            ratio = np.asarray(mask_util.iou(dt_rles, gt_rles, [1] * len(gt_rles)), dtype=np.float64)
            inter[np.ix_(dt_idx, gt_idx)] += np.rint(ratio * dt_area[:, None])
    union = dt_total[:, None] + gt_total[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


# -- matching (one video, one category, one size range) --------------------------------------------
class _VideoEval(NamedTuple):
    scores: np.ndarray  # [D] detection scores, highest first
    matched: np.ndarray  # [T, D] bool: matched to some ground truth at threshold t
    ignored: np.ndarray  # [T, D] bool: matched to ignored ground truth, or unmatched and out of range
    gt_ignored: np.ndarray  # [G] bool


def _evaluate_video(ious: np.ndarray, dts: Sequence[_Track], gts: Sequence[_Track],
                    area_range: Tuple[float, float]) -> _VideoEval:
    """COCOeval's ``evaluateImg`` on one (video, category): ``dts`` already sorted and cut (rule 5)."""
    lo, hi = area_range
    gt_ignore = np.array([g.crowd or g.area < lo or g.area > hi for g in gts], dtype=bool)
    order = np.argsort(gt_ignore, kind="stable")  # ignored ground truth last
    gt_ignore = gt_ignore[order]
    gt_crowd = [gts[j].crowd for j in order]
    iou_rows = ious[:, order].tolist()
    num_dt, num_gt = len(dts), len(gts)
    matched = np.zeros((len(IOU_THRESHOLDS), num_dt), dtype=bool)
    ignored = np.zeros((len(IOU_THRESHOLDS), num_dt), dtype=bool)
    for t, threshold in enumerate(IOU_THRESHOLDS.tolist()):
        gt_taken = [False] * num_gt
        for d, row in enumerate(iou_rows):
            best, best_iou = -1, min(threshold, 1 - 1e-10)
            for g in range(num_gt):
                if gt_taken[g] and not gt_crowd[g]:
                    continue  # taken, and only crowd regions take several detections
                if best > -1 and not gt_ignore[best] and gt_ignore[g]:
                    break  # a real match beats any ignored region (these are sorted last)
                if row[g] < best_iou:
                    continue
                best, best_iou = g, row[g]  # ">=": ties go to the later track
            if best > -1:
                matched[t, d] = True
                ignored[t, d] = gt_ignore[best]
                gt_taken[best] = True
    out_of_range = np.array([d.area < lo or d.area > hi for d in dts], dtype=bool)
    ignored |= ~matched & out_of_range[None, :]
    scores = np.array([d.score for d in dts], dtype=np.float64)
    return _VideoEval(scores, matched, ignored, gt_ignore)


# -- accumulation and summary ----------------------------------------------------------------------
def _accumulate(evals: Sequence[_VideoEval], max_det: int) -> Tuple[np.ndarray, np.ndarray]:
    """COCOeval's ``accumulate`` for one category and size range -> precision [T, R], recall [T] (-1: no GT)."""
    num_t, num_r = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)
    precision = -np.ones((num_t, num_r))
    recall = -np.ones(num_t)
    num_gt = int(sum(np.count_nonzero(~e.gt_ignored) for e in evals))
    if num_gt == 0:
        return precision, recall
    scores = np.concatenate([e.scores[:max_det] for e in evals])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([e.matched[:, :max_det] for e in evals], axis=1)[:, order]
    ignored = np.concatenate([e.ignored[:, :max_det] for e in evals], axis=1)[:, order]
    tp_sum = np.cumsum(matched & ~ignored, axis=1).astype(np.float64)
    fp_sum = np.cumsum(~matched & ~ignored, axis=1).astype(np.float64)
    num_det = tp_sum.shape[1]
    for t in range(num_t):
        rc = tp_sum[t] / num_gt
        pr = tp_sum[t] / (tp_sum[t] + fp_sum[t] + np.spacing(1))
        recall[t] = rc[-1] if num_det else 0.0
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope: best precision at >= this recall
        at = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        q = np.zeros(num_r)
        reached = at < num_det
        q[reached] = pr[at[reached]]
        precision[t] = q
    return precision, recall


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0


def evaluate_ytvis(gt: PathOrDict, results: PathOrList) -> Dict[str, float]:
    """YouTube-VIS metrics of ``results`` against ``gt`` (dicts/lists or JSON paths).

    Returns ``{AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100}`` as fractions in [0, 1], -1 where no
    ground truth defines the value. Every ground-truth video is evaluated; videos without results count
    their ground truth as missed.
    """
    gt = load_ytvis_gt(gt)
    if gt.get("annotations") is None:
        raise DataError("the ground truth has no 'annotations' (a split without public labels?): nothing to evaluate")
    if not isinstance(gt["annotations"], list):
        raise DataError("the ground truth's 'annotations' must be a list")
    results = load_ytvis_results(results)
    videos = ytvis_videos(gt["videos"])
    cat_ids = ytvis_category_ids(gt)
    gt_by_video = gt_tracks(gt, videos, cat_ids)
    dt_tracks = result_tracks(results, videos, cat_ids)

    # evals[(category, size range)] = one _VideoEval per video that has ground truth or results of it.
    evals: Dict[Tuple[int, int], List[_VideoEval]] = {}
    for video_id in sorted(videos):
        video_gts, video_dts = gt_by_video.get(video_id, []), dt_tracks.get(video_id, [])
        for cat_id in sorted({t.category_id for t in video_gts} | {t.category_id for t in video_dts}):
            gts = [t for t in video_gts if t.category_id == cat_id]
            dts = [t for t in video_dts if t.category_id == cat_id]
            order = np.argsort([-t.score for t in dts], kind="mergesort")[: MAX_DETS[-1]]
            dts = [dts[i] for i in order]
            if gts and dts:
                ious = video_iou([t.rles for t in dts], [t.rles for t in gts])
            else:
                ious = np.zeros((len(dts), len(gts)))
            for a, (_, lo, hi) in enumerate(AREA_RANGES):
                evals.setdefault((cat_id, a), []).append(_evaluate_video(ious, dts, gts, (lo, hi)))

    num_t, num_r, num_k = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(cat_ids)
    precision = -np.ones((num_t, num_r, num_k, len(AREA_RANGES), len(MAX_DETS)))
    recall = -np.ones((num_t, num_k, len(AREA_RANGES), len(MAX_DETS)))
    for k, cat_id in enumerate(cat_ids):
        for a in range(len(AREA_RANGES)):
            if (cat_id, a) not in evals:
                continue
            for m, max_det in enumerate(MAX_DETS):
                precision[:, :, k, a, m], recall[:, k, a, m] = _accumulate(evals[(cat_id, a)], max_det)

    all_, small, medium, large = range(4)
    m100 = MAX_DETS.index(100)
    t50 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.5)))
    t75 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.75)))
    return {
        "AP": _mean_defined(precision[:, :, :, all_, m100]),
        "AP50": _mean_defined(precision[t50, :, :, all_, m100]),
        "AP75": _mean_defined(precision[t75, :, :, all_, m100]),
        "APs": _mean_defined(precision[:, :, :, small, m100]),
        "APm": _mean_defined(precision[:, :, :, medium, m100]),
        "APl": _mean_defined(precision[:, :, :, large, m100]),
        "AR1": _mean_defined(recall[:, :, all_, MAX_DETS.index(1)]),
        "AR10": _mean_defined(recall[:, :, all_, MAX_DETS.index(10)]),
        "AR100": _mean_defined(recall[:, :, all_, m100]),
    }


# -- printing --------------------------------------------------------------------------------------
def format_table(metrics: Mapping[str, Any], keys: Sequence[str] = TABLE_KEYS) -> str:
    """The leaderboard row: AP AP50 AP75 APs APm APl AR1 AR10 as percentages (one decimal), "-" for -1."""
    keys = [k for k in keys if k in metrics]
    cells = ["-" if float(metrics[k]) < 0 else f"{100.0 * float(metrics[k]):.1f}" for k in keys]
    widths = [max(len(k), len(c)) for k, c in zip(keys, cells)]
    header = " | ".join(k.rjust(w) for k, w in zip(keys, widths))
    rule = "-+-".join("-" * w for w in widths)
    row = " | ".join(c.rjust(w) for c, w in zip(cells, widths))
    return "\n".join([header, rule, row])
