"""Drawing tracked instances on a frame: translucent masks, boxes and ``class id:score`` labels.

A track's colour is a pure function of its id (`color_for_track`), so an object keeps its colour for the
whole video, in every run, without any state. Hues step by the golden ratio, which spreads consecutive
ids around the colour wheel (ids 0, 1, 2 are far apart) and never repeats exactly.
"""
from __future__ import annotations

import colorsys
from typing import Any, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..structures import Instances

GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
MASK_ALPHA = 0.5


def color_for_track(track_id: int) -> Tuple[int, int, int]:
    """Track id -> a saturated (R, G, B) colour, the same every time."""
    hue = (0.1 + int(track_id) * GOLDEN_RATIO_CONJUGATE) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def label_text(class_names: Optional[Sequence[str]], label: int, track_id: Optional[int], score: float) -> str:
    """'circle 3:0.87' (class, track id, score); 'class 5' when the label has no name; no id when untracked."""
    name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else f"class {label}"
    ident = f" {track_id}" if track_id is not None else ""
    return f"{name}{ident}:{score:.2f}"


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
    track_ids = _numpy(instances.track_ids).astype(np.int64) if instances.has("track_ids") else None
    colors = [color_for_track(int(track_ids[i]) if track_ids is not None else i) for i in range(n)]
    if instances.has("masks"):
        masks = _numpy(instances.masks)
        if masks.dtype != np.bool_:
            masks = masks >= 0.5
        for i in range(n):
            mask = masks[i]
            if mask.shape != (height, width):
                continue
            rows = np.flatnonzero(mask.any(axis=1))
            if rows.size == 0:
                continue
            # Blend inside the mask's bounding rectangle only: the full-frame boolean index costs ~1 ms per
            # instance at 360p, which the sink thread would take from the model's CPU time.
            band = mask[rows[0]:rows[-1] + 1]
            cols = np.flatnonzero(band.any(axis=0))
            ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
            local, region = band[:, xs], out[ys, xs]
            color = np.asarray(colors[i], dtype=np.float32)
            blended = (1.0 - alpha) * region[local].astype(np.float32) + alpha * color
            region[local] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    boxes = _numpy(instances.boxes).astype(np.float64) if instances.has("boxes") else None
    if boxes is None:
        return out
    labels = _numpy(instances.labels).astype(np.int64) if instances.has("labels") else np.zeros(n, np.int64)
    scores = _numpy(instances.scores).astype(np.float64) if instances.has("scores") else np.ones(n)
    thickness = 1 if min(height, width) < 300 else 2
    font_scale = 0.35 if min(height, width) < 300 else 0.5
    for i in range(n):
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[i])
        color = colors[i]
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        text = label_text(class_names, int(labels[i]), None if track_ids is None else int(track_ids[i]),
                          float(scores[i]))
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        # Above the box when there is room, else just inside its top edge.
        top = y1 - th - baseline - 2 if y1 - th - baseline - 2 >= 0 else y1
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + th + baseline + 2), color, -1)
        cv2.putText(out, text, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out
