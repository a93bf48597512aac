"""The six shape classes and how one object becomes pixels: outline, pose, footprint, texture, occlusion.

Every scene, still or moving, draws its objects through these functions, so a circle is the same circle in a
COCO image, a YouTube-VIS video and the demo mp4. Classes differ by outline only (colour never tells the class).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

CLASS_NAMES: Tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "cross")
# Deliberately not 1..K: loaders must map dataset ids to contiguous labels, as for real COCO.
CATEGORY_IDS: Tuple[int, ...] = (1, 2, 4, 5, 7, 9)
CATEGORIES: List[Dict[str, object]] = [
    {"id": cid, "name": name, "supercategory": "shape"} for cid, name in zip(CATEGORY_IDS, CLASS_NAMES)
]

TILE = 64  # side of an object's texture tile, which spans its local square [-1, 1]^2


def _regular_polygon(sides: int, start_angle: float) -> np.ndarray:
    angles = start_angle + 2.0 * np.pi * np.arange(sides) / sides
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int, inner: float) -> np.ndarray:
    angles = -np.pi / 2 + np.pi * np.arange(2 * points) / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(half_width: float) -> np.ndarray:
    w = half_width
    pts = np.array(
        [[w, 1], [w, w], [1, w], [1, -w], [w, -w], [w, -1], [-w, -1], [-w, -w], [-1, -w], [-1, w], [-w, w], [-w, 1]],
        dtype=np.float64,
    )
    return pts / math.hypot(1.0, w)


# Outlines in unit coordinates, farthest vertex at distance 1 from the centre.
SHAPE_OUTLINES: Dict[str, np.ndarray] = {
    "circle": _regular_polygon(64, 0.0),
    "square": _regular_polygon(4, np.pi / 4),
    "triangle": _regular_polygon(3, -np.pi / 2),
    "star": _star(5, 0.42),
    "hexagon": _regular_polygon(6, 0.0),
    "cross": _cross(0.32),
}


@dataclass
class Appearance:
    """What stays fixed for one object: class, mild anisotropy and its texture in object coordinates."""

    label: int  # index into CLASS_NAMES
    aspect: Tuple[float, float]  # x and y stretch of the unit outline
    tile: np.ndarray  # uint8 [TILE, TILE, 3] RGB, spans the object's local square [-1, 1]^2

    @property
    def category_id(self) -> int:
        return CATEGORY_IDS[self.label]

    @property
    def extent(self) -> float:
        """Largest distance of the outline from the centre, per unit radius."""
        return max(self.aspect)


def outline_points(app: Appearance, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """float64 [K, 2] (x, y) pixel vertices of the object at this pose (pixel centres at integers)."""
    unit = SHAPE_OUTLINES[CLASS_NAMES[app.label]] * np.asarray(app.aspect) * radius
    c, s = math.cos(angle), math.sin(angle)
    x = cx + c * unit[:, 0] - s * unit[:, 1]
    y = cy + s * unit[:, 0] + c * unit[:, 1]
    return np.stack([x, y], axis=1)


@dataclass
class Footprint:
    """An object's unoccluded mask inside the image, kept as its box and the bool crop of that box."""

    x0: int
    y0: int
    crop: np.ndarray  # bool [y1 - y0, x1 - x0]

    @property
    def box(self) -> Tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.crop.shape[0]), slice(self.x0, self.x0 + self.crop.shape[1])

    def full(self, height: int, width: int) -> np.ndarray:
        mask = np.zeros((height, width), dtype=bool)
        mask[self.box] = self.crop
        return mask


def rasterize(points: np.ndarray, height: int, width: int) -> Optional[Footprint]:
    """Pixels inside the polygon (1/16 px vertex precision), clipped to the image; None if none."""
    x0 = max(int(math.floor(points[:, 0].min())), 0)
    x1 = min(int(math.ceil(points[:, 0].max())) + 1, width)
    y0 = max(int(math.floor(points[:, 1].min())), 0)
    y1 = min(int(math.ceil(points[:, 1].max())) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    fixed = np.round(points * 16).astype(np.int32) - np.array([x0 * 16, y0 * 16], dtype=np.int32)
    cv2.fillPoly(canvas, [fixed], 1, lineType=cv2.LINE_8, shift=4)
    crop = canvas.astype(bool)
    return Footprint(x0, y0, crop) if crop.any() else None


def paint(image: np.ndarray, footprint: Footprint, app: Appearance, cx: float, cy: float, radius: float,
          angle: float) -> None:
    """Fill the footprint in ``image`` (RGB uint8, in place) with the object's texture at this pose.

    The texture is sampled in object coordinates, so stripes and checkers turn and move with it.
    For small objects the tile is first shrunk to about the object's size (area-averaged), so fine
    checkers blend into a colour instead of aliasing into noise.
    """
    h, w = footprint.crop.shape
    dx = np.arange(footprint.x0, footprint.x0 + w, dtype=np.float32) - np.float32(cx)
    dy = np.arange(footprint.y0, footprint.y0 + h, dtype=np.float32) - np.float32(cy)
    c, s = math.cos(angle), math.sin(angle)
    tile = app.tile
    side = max(4, int(math.ceil(2.0 * radius * min(app.aspect))))
    if side < TILE:
        tile = cv2.resize(tile, (side, side), interpolation=cv2.INTER_AREA)
    half = (tile.shape[0] - 1) / 2.0
    kx, ky = half / (radius * app.aspect[0]), half / (radius * app.aspect[1])
    # local (u, v) = R(-angle) (x - cx, y - cy) / (radius * aspect), mapped from [-1, 1] to tile pixels
    map_x = (np.float32(c * kx) * dx)[None, :] + (np.float32(s * kx) * dy + np.float32(half))[:, None]
    map_y = (np.float32(-s * ky) * dx)[None, :] + (np.float32(c * ky) * dy + np.float32(half))[:, None]
    warped = cv2.remap(tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    np.copyto(image[footprint.box], warped, where=footprint.crop[..., None])


def visible_parts(footprints: Sequence[Optional[Footprint]], order: Sequence[int], height: int, width: int,
                  keep=None) -> List[Optional[np.ndarray]]:
    """Visible bool crop of each footprint (same box), objects later in ``order`` in front.

    Walks from the front: an object's visibility depends only on what is in front of it.
    ``keep(index, visible_crop)`` may reject an object, which then hides nothing (it is removed).
    """
    occupied = np.zeros((height, width), dtype=bool)
    visible: List[Optional[np.ndarray]] = [None] * len(footprints)
    for i in reversed(list(order)):
        fp = footprints[i]
        if fp is None:
            continue
        region = occupied[fp.box]
        vis = fp.crop & ~region
        if keep is not None and not keep(i, vis):
            continue
        visible[i] = vis
        region |= fp.crop
    return visible
