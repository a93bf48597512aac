"""The YouTube-VIS results format: one reader of a results list, shared by the metric and the submission check.

A results list holds one entry per track, ``{"video_id", "category_id", "score", "segmentations"}``, with one
segmentation per frame of the video (null where the track is absent). `entry_problems` is the one parser of an
entry. It runs in two modes:

- ``server_format=True`` (`vis.evaluation.submission.validate_results`): what the evaluation server reads,
  compressed RLE only (``counts`` a str) of the video's size; every problem of every entry is collected;
- ``server_format=False`` (`vis.evaluation.ytvis_eval.evaluate_ytvis`): what the official evaluation code reads,
  also uncompressed RLE and polygons (`frame_rle`); the metric stops at the first problem.

Both modes check the same ids, scores and frame counts with the same messages.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union

from pycocotools import mask as mask_util

from ..errors import DataError
from ..io.files import read_json

PathOrDict = Union[str, os.PathLike, Mapping[str, Any]]
PathOrList = Union[str, os.PathLike, Sequence[Mapping[str, Any]]]
ENTRY_KEYS = ("video_id", "category_id", "score", "segmentations")


class VideoInfo(NamedTuple):
    length: int
    height: int
    width: int


# -- loading ---------------------------------------------------------------------------------------
def load_ytvis_gt(gt: PathOrDict) -> Mapping[str, Any]:
    """A ground-truth dict or the path of a YouTube-VIS JSON -> the dict, with its top-level keys checked."""
    data = read_json(os.fspath(gt), "YouTube-VIS annotation file") if isinstance(gt, (str, os.PathLike)) else gt
    if not isinstance(data, Mapping) or not isinstance(data.get("videos"), list):
        raise DataError("YouTube-VIS annotation file needs a 'videos' list")
    if not isinstance(data.get("categories"), list):
        raise DataError("YouTube-VIS annotation file needs a 'categories' list")
    return data


def load_ytvis_results(results: PathOrList) -> List[Mapping[str, Any]]:
    """A results list or the path of a results JSON -> the list."""
    if isinstance(results, (str, os.PathLike)):
        results = read_json(os.fspath(results), "YouTube-VIS results file")
    if not isinstance(results, list):
        raise DataError(f"YouTube-VIS results must be a JSON list of tracks, got {type(results).__name__}")
    return results


def ytvis_videos(videos: Sequence[Mapping[str, Any]]) -> Dict[int, VideoInfo]:
    """The ``videos`` list of a YouTube-VIS file -> {video id: (frames, height, width)}.

    The frame count is ``len(file_names)`` (results index frames by position in ``file_names``),
    or ``length`` where a video has no file list.
    """
    table: Dict[int, VideoInfo] = {}
    for index, video in enumerate(videos):
        try:
            video_id = int(video["id"])
            names = video.get("file_names")
            length = len(names) if isinstance(names, list) else int(video["length"])
            table[video_id] = VideoInfo(length, int(video["height"]), int(video["width"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataError(f"video entry {index} needs 'id', 'height', 'width' and 'file_names' or 'length'") from None
    return table


def ytvis_category_ids(gt: Mapping[str, Any]) -> List[int]:
    """Sorted category ids of a YouTube-VIS ground truth."""
    try:
        return sorted({int(c["id"]) for c in gt["categories"]})
    except (KeyError, TypeError, ValueError):
        raise DataError("every YouTube-VIS category needs an integer 'id'") from None


def frame_rle(segm: Any, height: int, width: int) -> Optional[Dict[str, Any]]:
    """One frame's segmentation -> compressed RLE (counts str or bytes), or None where the track is absent.

    Accepts compressed RLE, uncompressed RLE (``counts`` a list, as in the official train.json),
    polygons, and null. Empty values (null, [], {}) mean absent, as the official ``if segm`` test does.
    Raises ValueError with a short reason for anything else.
    """
    if not segm:
        return None
    if isinstance(segm, list):  # polygons: one RLE per polygon, merged
        try:
            return mask_util.merge(mask_util.frPyObjects(segm, height, width))
        except Exception:
            raise ValueError("malformed polygon") from None
    if not isinstance(segm, Mapping) or "size" not in segm or "counts" not in segm:
        raise ValueError("not an RLE dict ('size', 'counts'), a polygon list or null")
    try:
        size = [int(s) for s in segm["size"]]
    except (TypeError, ValueError):
        size = None
    if size != [height, width]:
        raise ValueError(f"RLE size {segm['size']} is not the video size [{height}, {width}]")
    counts = segm["counts"]
    if isinstance(counts, list):
        try:
            return mask_util.frPyObjects({"size": size, "counts": counts}, height, width)
        except Exception:
            raise ValueError("malformed uncompressed RLE counts") from None
    if isinstance(counts, (str, bytes)):
        return {"size": size, "counts": counts}
    raise ValueError(f"RLE counts must be a str or a list, got {type(counts).__name__}")



def reference_videos(gt_or_videos: Any) -> Tuple[Optional[Dict[int, VideoInfo]], Optional[Set[int]]]:
    """GT dict / JSON path / ``videos`` list / None -> (video table or None, category ids or None): what a
    results list is checked against."""
    if gt_or_videos is None:
        return None, None
    if isinstance(gt_or_videos, (str, os.PathLike)):
        gt_or_videos = load_ytvis_gt(gt_or_videos)
    if isinstance(gt_or_videos, Mapping):
        if not isinstance(gt_or_videos.get("videos"), list):
            raise DataError("the ground truth needs a 'videos' list")
        categories = set(ytvis_category_ids(gt_or_videos)) if "categories" in gt_or_videos else None
        return ytvis_videos(gt_or_videos["videos"]), categories
    return ytvis_videos(gt_or_videos), None


def is_int(value: Any) -> bool:
    """An integer, and not a bool (JSON true/false are not ids)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _id_list(ids: Set[int]) -> str:
    ordered = sorted(ids)
    if ordered and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}..{ordered[-1]}"
    shown = ", ".join(str(i) for i in ordered[:8])
    return shown + (", ..." if len(ordered) > 8 else "")


def _frame_problem(segm: Any, info: Optional[VideoInfo], server_format: bool) -> Optional[str]:
    """Why one non-null frame entry is not what the server reads (``server_format``) or what the official
    evaluation reads (`frame_rle`), or None."""
    if not server_format and info is not None:
        try:
            frame_rle(segm, info.height, info.width)
        except ValueError as exc:
            return str(exc)
        return None
    if not isinstance(segm, Mapping):
        return f"a mask that is a {type(segm).__name__}, not null or an RLE dict"
    if "size" not in segm or "counts" not in segm:
        return "an RLE dict without 'size' and 'counts'"
    if isinstance(segm["counts"], list):
        return "uncompressed RLE (counts is a list; submit compressed RLE, counts a str)"
    if not isinstance(segm["counts"], str):
        return f"RLE counts of type {type(segm['counts']).__name__}, not str"
    size = segm["size"]
    if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(is_int(s) for s in size):
        return f"RLE size {size!r}, not [height, width]"
    if info is not None and [int(s) for s in size] != [info.height, info.width]:
        return f"RLE size {list(size)} instead of the video's [{info.height}, {info.width}]"
    return None


def _segmentation_problems(where: str, segms: Any, info: Optional[VideoInfo], server_format: bool) -> List[str]:
    if not isinstance(segms, list):
        return [f"{where}: segmentations is a {type(segms).__name__}, not a list with one entry per frame"]
    problems = []
    if info is not None and len(segms) != info.length:
        problems.append(f"{where}: {len(segms)} segmentations for a {info.length}-frame video")
    frames_by_reason: Dict[str, List[int]] = {}
    for frame, segm in enumerate(segms):
        if segm is not None:
            reason = _frame_problem(segm, info, server_format)
            if reason is not None:
                frames_by_reason.setdefault(reason, []).append(frame)
    for reason, frames in frames_by_reason.items():
        more = f" and {len(frames) - 1} more frames" if len(frames) > 1 else ""
        problems.append(f"{where}: {reason} in frame {frames[0]}{more}")
    return problems


def entry_problems(index: int, entry: Any, videos: Optional[Dict[int, VideoInfo]],
                   cat_ids: Optional[Set[int]], server_format: bool = True) -> List[str]:
    """Every problem of results entry ``index``, one short line each naming the entry and its video ([] = valid).

    ``videos`` / ``cat_ids`` (None: unknown) are what the ids and frame counts are checked against;
    ``server_format`` chooses which segmentations are accepted (module docstring)."""
    if not isinstance(entry, Mapping):
        return [f"entry {index}: a {type(entry).__name__}, not an object"]
    video_id = entry.get("video_id")
    where = f"entry {index} (video {video_id!r})"
    problems = []
    missing = [k for k in ENTRY_KEYS if k not in entry]
    if missing:
        problems.append(f"{where}: missing {', '.join(repr(k) for k in missing)}")
    info = None
    if "video_id" in entry:
        if not is_int(video_id):
            problems.append(f"{where}: video_id must be an integer")
        elif videos is not None and int(video_id) not in videos:
            problems.append(f"{where}: unknown video id {video_id}")
        elif videos is not None:
            info = videos[int(video_id)]
    if "category_id" in entry:
        cat_id = entry["category_id"]
        if not is_int(cat_id):
            problems.append(f"{where}: category_id {cat_id!r} is not an integer")
        elif cat_ids is not None and int(cat_id) not in cat_ids:
            problems.append(f"{where}: unknown category id {cat_id} (known: {_id_list(cat_ids)})")
        elif cat_ids is None and cat_id < 1:
            problems.append(f"{where}: category id {cat_id} (ids are 1-based)")
    if "score" in entry:
        score = entry["score"]
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            problems.append(f"{where}: score {score!r} is not a number")
        elif not math.isfinite(score):
            problems.append(f"{where}: score {score} is not finite")
    if "segmentations" in entry:
        problems.extend(_segmentation_problems(where, entry["segmentations"], info, server_format))
    return problems
