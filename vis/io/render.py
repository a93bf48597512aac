"""Drawing tracked instances on a frame: translucent masks, boxes and ``#id class score`` labels.

Labels follow what supervision / Ultralytics annotators draw: the track id first, the font scaled to the
frame (readable at 1080p, not oversized at 240p), text black or white against the tab's luminance, and the tab
kept inside the frame; a tab that would cover another one is stacked beside it in its column (`place_tab`). The
class is the track's (``track_labels``, one per track at any moment) when present.

A track's colour is a pure function of its id (`color_for_track`), so an object keeps its colour for the
whole video, in every run, without any state. Hues step by the golden ratio, which spreads consecutive
ids around the colour wheel (ids 0, 1, 2 are far apart) and never repeats exactly.
"""
from __future__ import annotations

import colorsys
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..structures import Instances, to_numpy

GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
MASK_ALPHA = 0.5


def color_for_track(track_id: int) -> Tuple[int, int, int]:
    """Track id -> a saturated (R, G, B) colour, the same every time."""
    hue = (0.1 + int(track_id) * GOLDEN_RATIO_CONJUGATE) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def label_text(class_names: Optional[Sequence[str]], label: int, track_id: Optional[int], score: float) -> str:
    """'#3 circle 0.87' (track id, class, score); 'class 5' when the label has no name; no id when untracked."""
    name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else f"class {label}"
    ident = f"#{track_id} " if track_id is not None else ""
    return f"{ident}{name} {score:.2f}"


def text_color_for(background: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """Black on light tabs, white on dark ones (relative luminance of the sRGB colour, threshold 0.5)."""
    r, g, b = (c / 255.0 for c in background)
    return (0, 0, 0) if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else (255, 255, 255)


def label_style(height: int, width: int) -> Tuple[float, int]:
    """(font scale, line thickness) for a frame: 0.5 at 720p on the short side, proportional, at least 0.35."""
    scale = max(0.35, 0.5 * min(height, width) / 720.0)
    return scale, max(1, int(round(scale * 2)))


Rect = Tuple[int, int, int, int]  # left, top, right, bottom: the corners cv2.rectangle fills, both included


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def place_tab(box: Rect, size: Tuple[int, int], frame: Tuple[int, int], placed: Sequence[Rect]) -> Rect:
    """Where a label tab of ``size`` (w, h) goes for ``box`` (x1, y1, x2, y2) in a ``frame`` (h, w): above the box
    when there is room, else just inside its top edge, always inside the frame; when that spot covers a tab already
    ``placed``, the nearest free spot in the same column, stacking downwards first, then upwards."""
    (tab_w, tab_h), (height, width) = size, frame
    x1, y1 = box[0], box[1]
    top = y1 - tab_h if y1 - tab_h >= 0 else y1
    top = max(0, min(top, height - tab_h))
    left = max(0, min(x1, width - tab_w))
    step = tab_h + 1
    candidates = [top] + [t for k in range(1, height // step + 1) for t in (top + k * step, top - k * step)]
    for candidate in candidates:
        rect = (left, candidate, left + tab_w, candidate + tab_h)
        if 0 <= candidate <= height - tab_h and not any(_overlaps(rect, other) for other in placed):
            return rect
    return (left, top, left + tab_w, top + tab_h)  # a frame full of tabs: overlap rather than drop a label


def render_frame(image_rgb: np.ndarray, instances: Instances, class_names: Optional[Sequence[str]] = None,
                 alpha: float = MASK_ALPHA) -> np.ndarray:
    """-> a new HxWx3 uint8 RGB image with every instance drawn; the input is not modified.

    Inside a mask a pixel becomes ``(1 - alpha) * pixel + alpha * colour`` (rounded); boxes and labels are
    drawn on top. Colours come from ``track_ids`` when present, else from the instance's position.
    Reads ``masks`` (bool [N, H, W], optional), ``boxes`` (xyxy), ``labels``, ``scores``.
    """
    out = np.array(image_rgb, dtype=np.uint8, copy=True)
    n = len(instances)
    if n == 0:
        return out
    height, width = out.shape[:2]
    track_ids = to_numpy(instances.track_ids).astype(np.int64) if instances.has("track_ids") else None
    colors = [color_for_track(int(track_ids[i]) if track_ids is not None else i) for i in range(n)]
    if instances.has("masks"):
        masks = to_numpy(instances.masks)
        if masks.dtype != np.bool_:
            masks = masks >= 0.5
        for i in range(n):
            mask = masks[i]
            if mask.shape != (height, width):
                continue
            rows = np.flatnonzero(mask.any(axis=1))
            if rows.size == 0:
                continue
            # Blend inside the mask's bounding rectangle only: a full-frame boolean index costs time in proportion
            # to the frame for every instance, which the sink thread would take from the model's CPU time.
            band = mask[rows[0]:rows[-1] + 1]
            cols = np.flatnonzero(band.any(axis=0))
            ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
            local, region = band[:, xs], out[ys, xs]
            color = np.asarray(colors[i], dtype=np.float32)
            blended = (1.0 - alpha) * region[local].astype(np.float32) + alpha * color
            region[local] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    boxes = to_numpy(instances.boxes).astype(np.float64) if instances.has("boxes") else None
    if boxes is None:
        return out
    field = "track_labels" if instances.has("track_labels") else "labels"
    labels = to_numpy(instances.get(field)).astype(np.int64) if instances.has(field) else np.zeros(n, np.int64)
    scores = to_numpy(instances.scores).astype(np.float64) if instances.has("scores") else np.ones(n)
    font_scale, thickness = label_style(height, width)
    pad = max(1, thickness)
    corners = []
    for i in range(n):
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[i])
        x1, x2 = min(max(x1, 0), width - 1), min(max(x2, 0), width - 1)
        y1, y2 = min(max(y1, 0), height - 1), min(max(y2, 0), height - 1)
        cv2.rectangle(out, (x1, y1), (x2, y2), colors[i], thickness)
        corners.append((x1, y1, x2, y2))
    placed: list = []
    for i in np.argsort(-scores, kind="stable"):  # the best-scoring labels get their natural spot
        text = label_text(class_names, int(labels[i]), None if track_ids is None else int(track_ids[i]),
                          float(scores[i]))
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        left, top, right, bottom = place_tab(corners[i], (tw + 2 * pad, th + baseline + 2 * pad), (height, width),
                                             placed)
        placed.append((left, top, right, bottom))
        cv2.rectangle(out, (left, top), (right, bottom), colors[i], -1)
        cv2.putText(out, text, (left + pad, top + pad + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    text_color_for(colors[i]), thickness, cv2.LINE_AA)
    return out
