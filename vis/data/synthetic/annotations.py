"""Masks -> COCO / YouTube-VIS annotation fields: box and area, polygon or RLE, per-track records, ``info``.

The one place that decides how a visible mask is written down, so the still-image and the video datasets (and
the demo video's truth) describe masks the same way. RLE encoding itself is the project's one encoder
(`vis.formats`); this module only chooses between polygon, compressed and uncompressed RLE.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ...formats import encode_mask_rle, encode_mask_uncompressed_rle
from .scenes import VideoScene

_INFO_YEAR = 2024  # fixed, so the JSON never depends on the clock
LICENSES = [{"id": 1, "name": "synthetic, no restrictions", "url": ""}]


def tight_box(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """(x, y, w, h) of the smallest box holding every True pixel; (0, 0, 0, 0) for an empty mask."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    return int(x), int(y), int(w), int(h)


def box_and_area(mask: np.ndarray) -> Tuple[List[float], int]:
    """COCO ``bbox`` [x, y, w, h] (tight box of the pixels, w = x_max - x_min + 1) and pixel ``area``."""
    x, y, w, h = tight_box(mask)
    return [float(x), float(y), float(w), float(h)], int(np.count_nonzero(mask[y:y + h, x:x + w]))


def _drop_redundant_vertices(points: np.ndarray) -> np.ndarray:
    """Remove repeated and collinear vertices of a closed polygon."""
    prev = np.concatenate([points[-1:], points[:-1]])
    points = points[np.any(points != prev, axis=1)]
    if len(points) < 3:
        return points
    prev = np.concatenate([points[-1:], points[:-1]])
    nxt = np.concatenate([points[1:], points[:1]])
    into, out = points - prev, nxt - points
    cross = into[:, 0] * out[:, 1] - into[:, 1] * out[:, 0]
    return points[cross != 0]


def mask_to_polygon(mask: np.ndarray) -> Optional[List[List[float]]]:
    """COCO polygon segmentation for a mask that is one piece without holes, else None.

    The contour is traced on the mask upsampled 2x and mapped to pixel *corners* (COCO polygons
    live in a frame where pixel (x, y) covers [x, x+1] x [y, y+1]), so pycocotools rasterises the
    polygon back to exactly the mask. Anything that does not round-trip exactly (fragments, holes,
    slivers) returns None and is stored as RLE instead. Works on the mask's box, for speed.
    """
    x0, y0, w, h = tight_box(mask)
    if w == 0 or h == 0:
        return None
    crop = mask[y0:y0 + h, x0:x0 + w]
    up = np.repeat(np.repeat(crop.view(np.uint8), 2, axis=0), 2, axis=1)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) != 1:
        return None
    points = _drop_redundant_vertices(np.ceil(contours[0].reshape(-1, 2) / 2.0))
    if len(points) < 3:
        return None
    decoded = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([points.ravel().tolist()], h, w)))
    if not np.array_equal(decoded.view(bool), crop):
        return None
    return [(points + np.array([x0, y0], dtype=np.float64)).ravel().tolist()]


def coco_segmentation(mask: np.ndarray) -> object:
    """Polygons for a simple mask, compressed RLE for fragmented or holed ones (both COCO paths)."""
    polygon = mask_to_polygon(mask)
    return polygon if polygon is not None else encode_mask_rle(mask)


class TrackRecorder:
    """Accumulates one track's per-frame YouTube-VIS fields (null where absent)."""

    def __init__(self, uncompressed: bool):
        self.uncompressed = uncompressed
        self.segmentations: List[Optional[dict]] = []
        self.bboxes: List[Optional[List[float]]] = []
        self.areas: List[Optional[float]] = []

    def add(self, mask: Optional[np.ndarray]) -> None:
        if mask is None:
            self.segmentations.append(None)
            self.bboxes.append(None)
            self.areas.append(None)
            return
        box, area = box_and_area(mask)
        self.segmentations.append(encode_mask_uncompressed_rle(mask) if self.uncompressed else encode_mask_rle(mask))
        self.bboxes.append(box)
        self.areas.append(float(area))

    @property
    def empty(self) -> bool:
        return all(s is None for s in self.segmentations)


def video_annotations(scene: VideoScene, recorders: Sequence[TrackRecorder], video_id: int,
                      next_id: int) -> List[dict]:
    """One YouTube-VIS annotation per track seen at least once; ids count up from ``next_id``."""
    out = []
    for track, rec in zip(scene.tracks, recorders):
        if rec.empty:
            continue
        out.append({
            "id": next_id + len(out),
            "video_id": video_id,
            "category_id": track.appearance.category_id,
            "iscrowd": 0,
            "width": scene.width,
            "height": scene.height,
            "length": len(rec.segmentations),
            "segmentations": rec.segmentations,
            "bboxes": rec.bboxes,
            "areas": rec.areas,
        })
    return out


def dataset_info(kind: str, seed: int) -> dict:
    """The ``info`` block of every JSON written here: it names the generator and the seed (`dataset_seed`)."""
    return {
        "description": f"vis synthetic shapes ({kind} format), seed {seed}",
        "url": "",
        "version": "1.0",
        "year": _INFO_YEAR,
        "contributor": "vis.data.synthetic",
        "date_created": f"{_INFO_YEAR}-01-01 00:00:00",
    }


def dataset_seed(data: dict) -> Optional[int]:
    """The seed a JSON written by this package was generated with (from its ``info``), else None."""
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, dict) or info.get("contributor") != "vis.data.synthetic":
        return None
    head, sep, tail = str(info.get("description", "")).rpartition(", seed ")
    return int(tail) if sep and tail.isdigit() else None
