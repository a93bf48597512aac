"""Synthetic stand-ins for COCO and YouTube-VIS 2019: procedurally rendered shapes.

Machines without the real datasets train and test on these. The files are written in exactly the
official formats, so the real loaders, evaluators and tools read them through the code paths real
data takes:

    <out_root>/coco/<split>/000001.jpg ...                      COCO images (JPEG quality 95)
                                                                (splits train / val / test)
    <out_root>/coco/annotations/instances_<split>.json         COCO instances JSON
    <out_root>/ytvis/<split>/JPEGImages/<video>/00000.jpg ...   YouTube-VIS frames (names step by 5)
    <out_root>/ytvis/<split>.json                               YouTube-VIS 2019 JSON (train / valid / test)
    <out_root>/demo/demo.mp4, demo/demo.json                    an mp4 and its YouTube-VIS-style truth

Scenes: six shape classes (``CLASS_NAMES``) with non-consecutive dataset ids (``CATEGORY_IDS``), so
loaders must map ids to contiguous labels. Shapes differ by outline only: colours and textures
(solid, stripes, checker, noisy gradient) are drawn at random for every object, over textured
backgrounds (gradients, smooth noise, stripes, soft blobs that are not objects). Objects drawn later
occlude earlier ones and every stored mask is the *visible* part.

Everything is a function of the seed: each image / video draws from its own
``np.random.default_rng([seed, crc32(stream), index])``, so the same arguments give byte-identical
JSON and identical pixels, and the splits are independent streams: adding the ``test`` splits left the
``train`` / ``val`` / ``valid`` content of every seed byte-identical.

Splits and their use (the protocol of ``docs/learning_runs.md``): models train on ``train``; schedules,
thresholds and every other choice are made on ``val`` (images) / ``valid`` (videos); reported figures come
from ``test``, touched once per model, on several seeds (``tools/test_seeds.py``). Unlike the official
YouTube-VIS valid / test files, every split here carries annotations, so it can be evaluated.
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
import zlib
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from ..errors import ConfigError, VisError
from ..io.files import atomic_write_json

CLASS_NAMES: Tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "cross")
# Deliberately not 1..K: loaders must map dataset ids to contiguous labels, as for real COCO.
CATEGORY_IDS: Tuple[int, ...] = (1, 2, 4, 5, 7, 9)
CATEGORIES: List[Dict[str, object]] = [
    {"id": cid, "name": name, "supercategory": "shape"} for cid, name in zip(CATEGORY_IDS, CLASS_NAMES)
]

JPEG_QUALITY = 95
YTVIS_FRAME_STEP = 5  # YouTube-VIS annotates every 5th frame: 00000.jpg, 00005.jpg, ...
_TILE = 64  # side of an object's texture tile, which spans its local square [-1, 1]^2
_INFO_YEAR = 2024  # fixed, so the JSON never depends on the clock


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------
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
    tile: np.ndarray  # uint8 [_TILE, _TILE, 3] RGB, spans the object's local square [-1, 1]^2

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
    if side < _TILE:
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


# ---------------------------------------------------------------------------------------------
# Colours, textures, backgrounds
# ---------------------------------------------------------------------------------------------
def _rng(seed: int, stream: str, index: int) -> np.random.Generator:
    """Independent generator per (seed, stream, item): items do not depend on each other or on order."""
    return np.random.default_rng([int(seed), zlib.crc32(stream.encode("utf-8")), int(index)])


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def _colour_far_from(rng: np.random.Generator, other: np.ndarray, min_distance: float) -> np.ndarray:
    """A random colour at least ``min_distance`` (RGB L2) from ``other``, so the object stays visible."""
    best, best_d = None, -1.0
    for _ in range(12):
        c = _colour(rng)
        d = float(np.linalg.norm(c - other))
        if d >= min_distance:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """float32 [height, width, 3] in about [-1, 1]: a coarse random grid upsampled smoothly."""
    gh = max(2, int(round(cells * height / max(height, width))))
    gw = max(2, int(round(cells * width / max(height, width))))
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw, 3)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _ramp(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """float32 [height, width, 1] in [0, 1] along a random direction."""
    theta = rng.uniform(0.0, 2.0 * np.pi)
    x = np.arange(width, dtype=np.float32) * math.cos(theta)
    y = np.arange(height, dtype=np.float32) * math.sin(theta)
    t = y[:, None] + x[None, :]
    t -= t.min()
    return (t / max(float(t.max()), 1e-6))[..., None]


def _stripe_pattern(rng: np.random.Generator, height: int, width: int, period: float) -> np.ndarray:
    """float32 [height, width, 1]: 1 on every other band of a striping at a random angle."""
    theta = rng.uniform(0.0, np.pi)
    x = np.arange(width, dtype=np.float32) * (math.cos(theta) / period)
    y = np.arange(height, dtype=np.float32) * (math.sin(theta) / period) + rng.uniform(0.0, 1.0)
    t = y[:, None] + x[None, :]
    return ((t % 1.0) < 0.5).astype(np.float32)[..., None]


def _add_blobs(rng: np.random.Generator, image: np.ndarray, count: int) -> np.ndarray:
    """Blend soft, irregular colour blobs (unions of blurred ellipses) that are *not* objects.

    Drawn and blurred at half the given resolution (they are smooth anyway), then upsampled.
    """
    h, w = image.shape[:2]
    lh, lw = max(4, h // 2), max(4, w // 2)
    layer = cv2.resize(image, (lw, lh), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((lh, lw), dtype=np.float32)
    for _ in range(count):
        colour = _colour(rng).tolist()
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        size = rng.uniform(0.05, 0.25) * min(lh, lw)
        strength = float(rng.uniform(0.3, 0.7))
        for _ in range(int(rng.integers(1, 4))):
            centre = (int(cx + rng.normal(0, size * 0.5)), int(cy + rng.normal(0, size * 0.5)))
            axes = (max(1, int(size * rng.uniform(0.5, 1.2))), max(1, int(size * rng.uniform(0.3, 1.0))))
            ellipse_angle = float(rng.uniform(0, 180))
            cv2.ellipse(layer, centre, axes, ellipse_angle, 0, 360, colour, -1)
            cv2.ellipse(alpha, centre, axes, ellipse_angle, 0, 360, strength, -1)
    sigma = 0.015 * min(h, w) + 0.5
    layer = cv2.resize(cv2.GaussianBlur(layer, (0, 0), sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(cv2.GaussianBlur(alpha, (0, 0), sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    return image * (1.0 - alpha[..., None]) + layer * alpha[..., None]


def make_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """uint8 [height, width, 3] RGB texture: gradient or smooth noise, maybe stripes, maybe blobs.

    Rendered at half resolution and upsampled: it is smooth anyway, and this is 4x cheaper.
    """
    hh, hw = (height + 1) // 2, (width + 1) // 2
    c0, c1 = _colour(rng), _colour(rng)
    kind = rng.integers(0, 3)
    if kind == 0:  # linear gradient
        image = c0 + (c1 - c0) * _ramp(rng, hh, hw)
    elif kind == 1:  # smooth colour noise around a base colour
        image = c0 + 70.0 * _smooth_noise(rng, hh, hw, int(rng.integers(3, 12)))
    else:  # gradient with a gentle noise on top
        image = c0 + (c1 - c0) * _ramp(rng, hh, hw) + 30.0 * _smooth_noise(rng, hh, hw, 6)
    if rng.random() < 0.35:  # low-contrast stripes, 6..40 px period at full resolution
        stripes = _stripe_pattern(rng, hh, hw, float(rng.uniform(3, 20)))
        image = image + (_colour(rng) - image) * stripes * float(rng.uniform(0.15, 0.4))
    if rng.random() < 0.6:
        image = _add_blobs(rng, image.astype(np.float32), int(rng.integers(1, 6)))
    small = np.clip(image, 0, 255).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def make_object_tile(rng: np.random.Generator, avoid: np.ndarray) -> np.ndarray:
    """uint8 [_TILE, _TILE, 3]: solid, stripes, checker or noisy gradient, main colour far from ``avoid``."""
    c0 = _colour_far_from(rng, avoid, 90.0)
    c1 = _colour_far_from(rng, c0, 70.0)
    kind = rng.integers(0, 4)
    if kind == 0:  # solid, with a faint grain
        tile = c0 + rng.normal(0.0, 4.0, size=(_TILE, _TILE, 3))
    elif kind == 1:  # stripes
        tile = c0 + (c1 - c0) * _stripe_pattern(rng, _TILE, _TILE, float(rng.uniform(8, 24)))
    elif kind == 2:  # checker
        cell = int(rng.integers(6, 17))
        yy, xx = np.mgrid[0:_TILE, 0:_TILE]
        tile = c0 + (c1 - c0) * (((xx // cell + yy // cell) % 2).astype(np.float32)[..., None])
    else:  # noisy gradient
        tile = c0 + (c1 - c0) * 0.6 * _ramp(rng, _TILE, _TILE) + 35.0 * _smooth_noise(rng, _TILE, _TILE, 5)
    return np.clip(tile, 0, 255).astype(np.uint8)


def random_appearance(rng: np.random.Generator, background_mean: np.ndarray) -> Appearance:
    """Any class with any texture: colour never tells the class, only the outline does."""
    label = int(rng.integers(0, len(CLASS_NAMES)))
    stretch = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    aspect = (stretch ** 0.5, stretch ** -0.5)
    return Appearance(label=label, aspect=aspect, tile=make_object_tile(rng, background_mean))


def add_grain(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Sensor-like uniform noise of +-0..4 levels, so flat regions are not flat (and video frames differ)."""
    amplitude = int(rng.integers(0, 5))
    if amplitude == 0:
        return image
    raw = np.frombuffer(rng.bytes(image.size), dtype=np.uint8).reshape(image.shape).astype(np.int16)
    noise = ((raw * (2 * amplitude + 1)) >> 8) - amplitude  # uniform integers in [-amplitude, amplitude]
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Masks -> annotations
# ---------------------------------------------------------------------------------------------
def encode_rle(mask: np.ndarray) -> Dict[str, object]:
    """Compressed COCO RLE with ``counts`` as str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def encode_uncompressed_rle(mask: np.ndarray) -> Dict[str, object]:
    """Uncompressed COCO RLE: run lengths over the column-major mask, starting with a run of zeros."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]]))
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    return {"size": [int(h), int(w)], "counts": [int(r) for r in runs]}


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
    return polygon if polygon is not None else encode_rle(mask)


# ---------------------------------------------------------------------------------------------
# Still images (COCO)
# ---------------------------------------------------------------------------------------------
def sample_image(rng: np.random.Generator, height: int, width: int, max_objects: int = 8,
                 min_visible_area: int = 40, min_visible_fraction: float = 0.25
                 ) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Render one scene: RGB uint8 [height, width, 3] and [(category_id, visible bool mask)], back to front.

    Objects are placed at random depths; one that stays less visible than ``min_visible_area``
    pixels or ``min_visible_fraction`` of its full area is removed from the scene (not just from
    the annotations), so every painted object is annotated.
    """
    background = make_background(rng, height, width)
    bg_mean = background[::4, ::4].reshape(-1, 3).mean(axis=0)
    r_min, r_max = 6.0, max(8.0, 0.45 * min(height, width))
    apps, poses, footprints, full_areas = [], [], [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        app = random_appearance(rng, bg_mean)
        radius = float(np.exp(rng.uniform(np.log(r_min), np.log(r_max))))
        pose = (float(rng.uniform(0, width - 1)), float(rng.uniform(0, height - 1)), radius,
                float(rng.uniform(0, 2 * np.pi)))
        points = outline_points(app, *pose)
        apps.append(app)
        poses.append(pose)
        footprints.append(rasterize(points, height, width))
        full_areas.append(abs(float(cv2.contourArea(points.astype(np.float32)))))

    def keep(i: int, vis: np.ndarray) -> bool:
        area = int(np.count_nonzero(vis))
        return area >= min_visible_area and area >= min_visible_fraction * full_areas[i]

    visible = visible_parts(footprints, range(len(apps)), height, width, keep)
    image = background
    annotations = []
    for app, pose, fp, vis in zip(apps, poses, footprints, visible):
        if vis is None:
            continue
        paint(image, fp, app, *pose)
        mask = np.zeros((height, width), dtype=bool)
        mask[fp.box] = vis
        annotations.append((app.category_id, mask))
    return add_grain(rng, image), annotations


# ---------------------------------------------------------------------------------------------
# Videos (YouTube-VIS)
# ---------------------------------------------------------------------------------------------
@dataclass
class Track:
    """One object through a video: appearance plus per-frame pose; ``present`` False = not in the scene."""

    appearance: Appearance
    centres: np.ndarray  # float [T, 2]
    radii: np.ndarray  # float [T]
    angles: np.ndarray  # float [T]
    present: np.ndarray  # bool [T]


def _unit_vector(rng: np.random.Generator) -> np.ndarray:
    theta = rng.uniform(0, 2 * np.pi)
    return np.array([math.cos(theta), math.sin(theta)])


def _side_geometry(rng: np.random.Generator, side: int, height: int, width: int):
    """A point on one image border (0 left, 1 right, 2 top, 3 bottom), its outward normal and the depth across."""
    along = rng.uniform(0.2, 0.8)
    if side == 0:
        return np.array([0.0, along * (height - 1)]), np.array([-1.0, 0.0]), width
    if side == 1:
        return np.array([width - 1.0, along * (height - 1)]), np.array([1.0, 0.0]), width
    if side == 2:
        return np.array([along * (width - 1), 0.0]), np.array([0.0, -1.0]), height
    return np.array([along * (width - 1), height - 1.0]), np.array([0.0, 1.0]), height


def simulate_track(rng: np.random.Generator, app: Appearance, kind: str, t_start: int, num_frames: int,
                   height: int, width: int, speed: float = 1.0) -> Track:
    """Smooth motion (velocity + slight constant acceleration), scale oscillation and spin.

    ``kind``: 'inside' bounces off the borders; 'enter' starts fully outside and comes in (then
    bounces); 'leave' starts inside and is fully out before the last frame; 'cross' passes through.
    ``speed`` scales all motion per frame (1.0 = YouTube-VIS, whose frames are 5 source frames apart).
    """
    n = num_frames - t_start
    r0 = float(np.exp(rng.uniform(np.log(8.0), np.log(max(9.0, 0.3 * min(height, width))))))
    amp, period = rng.uniform(0.0, 0.3), rng.uniform(30.0, 90.0) / speed
    phase = rng.uniform(0, 2 * np.pi)
    local_t = np.arange(n, dtype=np.float64)
    radii = r0 * (1.0 + amp * np.sin(2 * np.pi * local_t / period + phase))
    angles = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.08, 0.08) * speed * local_t
    extent = radii * app.extent
    extent_max = float(extent.max())
    dims = np.array([width - 1.0, height - 1.0])

    bounce = kind == "inside"
    travel = rng.uniform(2.0, 7.0) * speed  # px per frame along the planned path
    if kind == "inside":
        p = rng.uniform(0.15, 0.85, size=2) * dims
        v = _unit_vector(rng) * rng.uniform(1.0, 6.0) * speed
    elif kind in ("enter", "cross"):  # start fully outside, head in
        edge, normal, across = _side_geometry(rng, int(rng.integers(0, 4)), height, width)
        p = edge + normal * (extent[0] + 2.0)
        target = edge - normal * (rng.uniform(0.1, 0.4) * across if kind == "enter" else across)
        dist = float(np.linalg.norm(target - p))
        if kind == "enter":  # at the target, well in view, three frames before the end at the latest
            travel = max(travel, dist / max(1, n - 3))
        v = (target - p) / dist * travel
    elif kind == "leave":  # start inside, fully out by the second-to-last frame at the latest
        edge, normal, across = _side_geometry(rng, int(rng.integers(0, 4)), height, width)
        depth = rng.uniform(min(extent_max, 0.25 * across), 0.35 * across)
        p = edge - normal * depth
        tilt = rng.uniform(-0.4, 0.4)
        travel = max(travel, (depth + extent_max + 2.0) / (max(1, n - 2) * math.cos(tilt)))
        c, s = math.cos(tilt), math.sin(tilt)
        v = np.array([c * normal[0] - s * normal[1], s * normal[0] + c * normal[1]]) * travel
    else:
        raise ValueError(f"unknown track kind {kind!r}")
    accel = rng.uniform(0.0, 0.15) * speed * speed
    if kind == "inside":
        a = _unit_vector(rng) * accel
    else:  # speed up along the path: an object that must enter or leave in time never slows or turns
        a = v / float(np.linalg.norm(v)) * accel
    v_max = max(8.0 * speed, float(np.linalg.norm(v)))

    centres = np.full((num_frames, 2), np.nan)
    for i in range(n):
        centres[t_start + i] = p
        if kind == "enter" and not bounce:
            bounce = bool(np.all(p >= extent[i]) and np.all(p <= dims - extent[i]))
        if bounce:
            for axis in range(2):
                if (p[axis] < 0 and v[axis] < 0) or (p[axis] > dims[axis] and v[axis] > 0):
                    v[axis], a[axis] = -v[axis], -a[axis]
        p = p + v
        v = v + a
        norm = float(np.linalg.norm(v))
        if norm > v_max:
            v *= v_max / norm
    full_radii = np.zeros(num_frames)
    full_angles = np.zeros(num_frames)
    full_radii[t_start:] = radii
    full_angles[t_start:] = angles
    present = np.zeros(num_frames, dtype=bool)
    present[t_start:] = True
    return Track(app, centres, full_radii, full_angles, present)


@dataclass
class VideoScene:
    """A background canvas (larger than the frame when it pans) and the object tracks."""

    canvas: np.ndarray  # uint8 [Hc, Wc, 3]
    offsets: np.ndarray  # int [T, 2] (x, y) of the frame window in the canvas
    tracks: List[Track]
    draw_order: List[int]  # bottom first
    height: int
    width: int


def _panning_background(rng: np.random.Generator, num_frames: int, height: int, width: int, max_pan: float):
    """A canvas and per-frame window offsets: static half the time, else a slow constant pan."""
    pan = np.zeros(2) if rng.random() < 0.5 else _unit_vector(rng) * rng.uniform(0.2, 1.0) * max_pan
    travel = np.abs(pan) * max(num_frames - 1, 0)
    extra = np.ceil(travel).astype(int) + 1
    canvas = make_background(rng, height + int(extra[1]), width + int(extra[0]))
    start = np.where(pan < 0, travel, 0.0)
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    offsets = np.round(start + pan * t).astype(int)
    return canvas, offsets


def sample_video_scene(rng: np.random.Generator, num_frames: int, height: int, width: int,
                       max_objects: int = 5) -> VideoScene:
    """A YouTube-VIS-like clip: all objects from frame 0; the first always enters or leaves."""
    canvas, offsets = _panning_background(rng, num_frames, height, width, max_pan=2.0)
    bg_mean = canvas[::4, ::4].reshape(-1, 3).mean(axis=0)
    tracks = []
    for i in range(int(rng.integers(1, max_objects + 1))):
        kinds = ["enter", "leave"] if i == 0 else ["inside", "inside", "enter", "leave"]
        kind = str(rng.choice(kinds))
        tracks.append(simulate_track(rng, random_appearance(rng, bg_mean), kind, 0, num_frames, height, width))
    order = [int(i) for i in rng.permutation(len(tracks))]
    return VideoScene(canvas, offsets, tracks, order, height, width)


def sample_demo_scene(rng: np.random.Generator, num_frames: int, height: int, width: int,
                      max_objects: int = 8) -> VideoScene:
    """A longer clip at a real frame rate: a few objects at the start, more entering or crossing later."""
    speed = 0.4
    canvas, offsets = _panning_background(rng, num_frames, height, width, max_pan=0.5)
    bg_mean = canvas[::4, ::4].reshape(-1, 3).mean(axis=0)
    plans = [("leave", 0)] + [("inside", 0)] * int(rng.integers(1, 3))
    t = int(rng.integers(8, 20))
    while t < num_frames - 15 and len(plans) < max_objects:
        plans.append((str(rng.choice(["enter", "cross"])), t))
        t += int(rng.integers(12, 30))
    tracks = [simulate_track(rng, random_appearance(rng, bg_mean), kind, t0, num_frames, height, width, speed)
              for kind, t0 in plans]
    order = [int(i) for i in rng.permutation(len(tracks))]
    return VideoScene(canvas, offsets, tracks, order, height, width)


def render_video(rng: np.random.Generator, scene: VideoScene, min_visible_area: int = 40
                 ) -> Iterator[Tuple[np.ndarray, List[Optional[np.ndarray]]]]:
    """Yield (RGB uint8 frame, per-track visible bool mask or None) one frame at a time.

    Objects stay in the scene however occluded (they are real things moving); a frame's
    annotation is None when fewer than ``min_visible_area`` pixels show, as when it is out of view.
    """
    h, w = scene.height, scene.width
    for t in range(len(scene.offsets)):
        ox, oy = scene.offsets[t]
        frame = scene.canvas[oy:oy + h, ox:ox + w].copy()
        footprints: List[Optional[Footprint]] = [None] * len(scene.tracks)
        for i in scene.draw_order:
            track = scene.tracks[i]
            if not track.present[t]:
                continue
            cx, cy = (float(v) for v in track.centres[t])
            pose = (cx, cy, float(track.radii[t]), float(track.angles[t]))
            footprints[i] = rasterize(outline_points(track.appearance, *pose), h, w)
            if footprints[i] is not None:
                paint(frame, footprints[i], track.appearance, *pose)
        masks: List[Optional[np.ndarray]] = [None] * len(scene.tracks)
        for i, vis in enumerate(visible_parts(footprints, scene.draw_order, h, w)):
            if vis is not None and int(np.count_nonzero(vis)) >= min_visible_area:
                masks[i] = np.zeros((h, w), dtype=bool)
                masks[i][footprints[i].box] = vis
        yield add_grain(rng, frame), masks


class _TrackRecorder:
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
        self.segmentations.append(encode_uncompressed_rle(mask) if self.uncompressed else encode_rle(mask))
        self.bboxes.append(box)
        self.areas.append(float(area))

    @property
    def empty(self) -> bool:
        return all(s is None for s in self.segmentations)


def _video_annotations(scene: VideoScene, recorders: Sequence[_TrackRecorder], video_id: int,
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


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------
def _info(kind: str, seed: int) -> dict:
    return {
        "description": f"vis synthetic shapes ({kind} format), seed {seed}",
        "url": "",
        "version": "1.0",
        "year": _INFO_YEAR,
        "contributor": "vis.data.synthetic",
        "date_created": f"{_INFO_YEAR}-01-01 00:00:00",
    }


def dataset_seed(data: dict) -> Optional[int]:
    """The seed a JSON written by this module was generated with (from its ``info``), else None."""
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, dict) or info.get("contributor") != "vis.data.synthetic":
        return None
    head, sep, tail = str(info.get("description", "")).rpartition(", seed ")
    return int(tail) if sep and tail.isdigit() else None


_LICENSES = [{"id": 1, "name": "synthetic, no restrictions", "url": ""}]


def _write_jpeg(path: str, rgb: np.ndarray) -> None:
    ok = cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise VisError(f"cannot write image {path}")


def _fresh_temp_dir(final_dir: str) -> str:
    """Empty ``<parent>/.<name>.tmp.<pid>`` next to ``final_dir`` (files go there, then one rename)."""
    parent, name = os.path.split(os.path.abspath(final_dir))
    tmp = os.path.join(parent, f".{name}.tmp.{os.getpid()}")
    try:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        os.makedirs(tmp)
    except OSError as exc:
        raise VisError(f"cannot create output directory {tmp}: {exc.strerror}") from None
    return tmp


def _swap_dir_into_place(tmp: str, final_dir: str) -> None:
    """Replace ``final_dir`` by ``tmp`` (the old one is moved aside first, then deleted)."""
    final_dir = os.path.abspath(final_dir)
    old = None
    if os.path.exists(final_dir):
        old = f"{os.path.dirname(final_dir)}/.{os.path.basename(final_dir)}.old.{os.getpid()}"
        if os.path.exists(old):
            shutil.rmtree(old)
        os.replace(final_dir, old)
    os.replace(tmp, final_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_size(name: str, value: int, minimum: int = 32) -> int:
    if int(value) != value or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _pair(name: str, value: Sequence[int]) -> Tuple[int, int]:
    try:
        first, second = value
        return int(first), int(second)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be two integers, got {value!r}") from None


def _check_count(name: str, value: int) -> int:
    if int(value) != value or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def render_coco_image(seed: int, split: str, index: int, min_size: int = 128, max_size: int = 160,
                      max_objects: int = 8, min_visible_area: int = 40, min_visible_fraction: float = 0.25
                      ) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Image ``index`` (0-based) of a COCO split as ``make_coco_split`` writes it, before JPEG coding.

    Returns (RGB uint8 [H, W, 3], [(category_id, visible bool mask [H, W]), ...] in annotation order).
    """
    rng = _rng(seed, f"coco/{split}", index)
    height, width = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    return sample_image(rng, height, width, max_objects, min_visible_area, min_visible_fraction)


def make_coco_split(out_root: str, split: str, num_images: int, seed: int = 0, min_size: int = 128,
                    max_size: int = 160, max_objects: int = 8, min_visible_area: int = 40,
                    min_visible_fraction: float = 0.25, progress: bool = True) -> dict:
    """Write ``<out_root>/coco/<split>/*.jpg`` and ``<out_root>/coco/annotations/instances_<split>.json``.

    Image height and width are each drawn from [min_size, max_size]; 1..max_objects objects each.
    Segmentations are polygons for one-piece masks and compressed RLE for fragmented or holed ones.
    Returns a summary: ann_file, img_dir, num_images, num_annotations, num_polygons, num_rle.
    """
    num_images = _check_count("num_images", num_images)
    max_objects = _check_size("max_objects", max_objects, minimum=1)
    min_size, max_size = _check_size("min_size", min_size), _check_size("max_size", max_size)
    if min_size > max_size:
        raise ConfigError(f"min_size {min_size} is larger than max_size {max_size}")
    seed = _check_count("seed", seed)
    img_dir = os.path.join(out_root, "coco", split)
    ann_file = os.path.join(out_root, "coco", "annotations", f"instances_{split}.json")
    tmp = _fresh_temp_dir(img_dir)
    images, annotations = [], []
    num_polygons = 0
    try:
        for index in tqdm(range(num_images), desc=f"coco {split}", unit="img", disable=not progress):
            image, objects = render_coco_image(seed, split, index, min_size, max_size, max_objects,
                                               min_visible_area, min_visible_fraction)
            height, width = image.shape[:2]
            image_id = index + 1
            file_name = f"{image_id:06d}.jpg"
            _write_jpeg(os.path.join(tmp, file_name), image)
            images.append({"id": image_id, "file_name": file_name, "height": height, "width": width,
                           "license": 1, "coco_url": "", "flickr_url": "", "date_captured": ""})
            for category_id, mask in objects:
                segmentation = coco_segmentation(mask)
                num_polygons += isinstance(segmentation, list)
                box, area = box_and_area(mask)
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
                                    "segmentation": segmentation, "area": float(area), "bbox": box, "iscrowd": 0})
        _swap_dir_into_place(tmp, img_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_json(ann_file, {"info": _info("COCO", seed), "licenses": _LICENSES, "images": images,
                                 "annotations": annotations, "categories": CATEGORIES})
    return {"ann_file": ann_file, "img_dir": img_dir, "num_images": len(images),
            "num_annotations": len(annotations), "num_polygons": num_polygons,
            "num_rle": len(annotations) - num_polygons}


def _video_name(seed: int, split: str, index: int) -> str:
    """A YouTube-VIS-like 10-hex-digit folder name, fixed by (seed, split, index)."""
    return hashlib.sha1(f"{seed}/{split}/{index}".encode("utf-8")).hexdigest()[:10]


def make_ytvis_split(out_root: str, split: str, num_videos: int, seed: int = 0,
                     num_frames: Tuple[int, int] = (12, 24), height: int = 240, width: int = 320,
                     max_objects: int = 5, min_visible_area: int = 40, rle_format: Optional[str] = None,
                     progress: bool = True) -> dict:
    """Write ``<out_root>/ytvis/<split>/JPEGImages/<video>/<frame>.jpg`` and ``<out_root>/ytvis/<split>.json``.

    YouTube-VIS 2019 layout: frame files are named by source frame number, 5 apart (00000, 00005, ...);
    each annotation holds one entry per frame in ``segmentations``/``bboxes``/``areas``, ``null``
    where the object is absent; the annotation id is the instance identity across frames.
    ``rle_format``: 'uncompressed' (``counts`` a list of ints, as in the official train.json),
    'compressed' (``counts`` a str), or None = uncompressed for splits named 'train*', else compressed.
    Unlike the official valid.json, every split here carries annotations, so it can be evaluated.
    Annotation ``width``/``height``/``length`` repeat the video's; readers should take the frame
    count from the video entry (or ``len(segmentations)``), as the official files do not all agree.
    Returns a summary: ann_file, img_dir, num_videos, num_frames, num_annotations.
    """
    num_videos = _check_count("num_videos", num_videos)
    max_objects = _check_size("max_objects", max_objects, minimum=1)
    height, width = _check_size("height", height), _check_size("width", width)
    min_frames, max_frames = (int(v) for v in num_frames)
    if min_frames < 1 or min_frames > max_frames:
        raise ConfigError(f"num_frames must be (min, max) with 1 <= min <= max, got {tuple(num_frames)}")
    if rle_format is None:
        rle_format = "uncompressed" if split.startswith("train") else "compressed"
    if rle_format not in ("compressed", "uncompressed"):
        raise ConfigError(f"rle_format must be 'compressed' or 'uncompressed', got {rle_format!r}")
    seed = _check_count("seed", seed)
    split_dir = os.path.join(out_root, "ytvis", split)
    ann_file = os.path.join(out_root, "ytvis", f"{split}.json")
    tmp = _fresh_temp_dir(split_dir)
    videos, annotations = [], []
    total_frames = 0
    try:
        for index in tqdm(range(num_videos), desc=f"ytvis {split}", unit="video", disable=not progress):
            rng = _rng(seed, f"ytvis/{split}", index)
            length = int(rng.integers(min_frames, max_frames + 1))
            scene = sample_video_scene(rng, length, height, width, max_objects)
            name = _video_name(seed, split, index)
            frame_dir = os.path.join(tmp, "JPEGImages", name)
            os.makedirs(frame_dir)
            file_names = [f"{name}/{t * YTVIS_FRAME_STEP:05d}.jpg" for t in range(length)]
            recorders = [_TrackRecorder(rle_format == "uncompressed") for _ in scene.tracks]
            for t, (frame, visible) in enumerate(render_video(rng, scene, min_visible_area)):
                _write_jpeg(os.path.join(tmp, "JPEGImages", file_names[t]), frame)
                for rec, mask in zip(recorders, visible):
                    rec.add(mask)
            video_id = index + 1
            videos.append({"id": video_id, "width": width, "height": height, "length": length,
                           "file_names": file_names, "license": 1, "coco_url": "", "flickr_url": "",
                           "date_captured": ""})
            annotations.extend(_video_annotations(scene, recorders, video_id, len(annotations) + 1))
            total_frames += length
        _swap_dir_into_place(tmp, split_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_json(ann_file, {"info": _info("YouTube-VIS 2019", seed), "licenses": _LICENSES,
                                 "videos": videos, "annotations": annotations, "categories": CATEGORIES})
    return {"ann_file": ann_file, "img_dir": os.path.join(split_dir, "JPEGImages"), "num_videos": len(videos),
            "num_frames": total_frames, "num_annotations": len(annotations)}


def write_demo_video(path: str, num_frames: int = 120, height: int = 240, width: int = 320, seed: int = 0,
                     fps: float = 10, gt_path: Optional[str] = None) -> dict:
    """Render a longer clip with objects entering, crossing and leaving; write it as mp4 ('mp4v').

    Returns its ground truth as a YouTube-VIS-style dict (one video, compressed RLE). The frames live
    in the mp4 only: ``file_names`` are virtual names ``<stem>/00000.jpg, <stem>/00001.jpg, ...`` whose
    position is the frame index. With ``gt_path`` the truth is also written there as JSON.
    """
    num_frames = _check_size("num_frames", num_frames, minimum=1)
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    height, width = _check_size("height", height), _check_size("width", width)
    seed = _check_count("seed", seed)
    rng = _rng(seed, "demo", 0)
    scene = sample_demo_scene(rng, num_frames, height, width)
    directory, name = os.path.split(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise VisError(f"cannot create output directory {directory}: {exc.strerror}") from None
    tmp = os.path.join(directory, f".{name}.tmp.{os.getpid()}.mp4")  # cv2 picks the container by extension
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise VisError(f"cannot open an mp4 writer for {path}")
    stem = os.path.splitext(name)[0]
    recorders = [_TrackRecorder(uncompressed=False) for _ in scene.tracks]
    try:
        for frame, visible in render_video(rng, scene):
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
            for rec, mask in zip(recorders, visible):
                rec.add(mask)
        writer.release()
        os.replace(tmp, path)
    except BaseException:
        writer.release()
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    video = {"id": 1, "width": width, "height": height, "length": num_frames,
             "file_names": [f"{stem}/{t:05d}.jpg" for t in range(num_frames)]}
    truth = {"info": _info("YouTube-VIS 2019, demo video", seed), "licenses": _LICENSES, "videos": [video],
             "annotations": _video_annotations(scene, recorders, 1, 1), "categories": CATEGORIES}
    if gt_path is not None:
        atomic_write_json(gt_path, truth)
    return truth


def write_long_video(path: str, num_frames: int, height: int = 360, width: int = 640, seed: int = 0,
                     fps: float = 25, segment_frames: int = 250, progress: bool = False) -> str:
    """A long H.264 mp4 for streaming benchmarks: demo scenes (`sample_demo_scene`) back to back, a new one
    every ``segment_frames`` frames, so objects keep entering, crossing and leaving for the whole video.

    Frames are rendered and written one at a time (memory does not depend on ``num_frames``); no ground
    truth is kept. Written to a temp file and renamed, like every output. Returns ``path``.
    """
    num_frames = _check_size("num_frames", num_frames, minimum=1)
    segment_frames = _check_size("segment_frames", segment_frames, minimum=16)
    height, width = _check_size("height", height), _check_size("width", width)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise VisError(f"cannot create output directory {directory}: {exc.strerror}") from None
    from ..io.video import VideoWriter  # H.264, as real footage; temp file + rename

    writer = VideoWriter(path, fps, (height, width))
    bar = tqdm(total=num_frames, desc="long video", unit="frame", disable=not progress)
    try:
        for segment, first in enumerate(range(0, num_frames, segment_frames)):
            rng = _rng(_check_count("seed", seed), "long", segment)
            length = min(segment_frames, num_frames - first)
            for frame, _ in render_video(rng, sample_demo_scene(rng, length, height, width)):
                writer.write(frame)
                bar.update(1)
        writer.close()
    except BaseException:
        writer.close(success=False)
        raise
    finally:
        bar.close()
    return path


SPLIT_GROUPS: Tuple[str, ...] = ("train", "val", "test", "demo")
# Sizes of the held-out test splits: larger than val / valid, because reported figures come from them and
# 20 videos (53 objects) leave a seed-to-seed spread of several AP.
NUM_TEST_IMAGES = 500
NUM_TEST_VIDEOS = 50
NUM_VAL_IMAGES = 200  # the tuning splits (defaults of generate_all)
NUM_VAL_VIDEOS = 20


def generate_all(out_root: str, seed: int = 0, num_train_images: int = 3000, num_val_images: int = NUM_VAL_IMAGES,
                 num_train_videos: int = 60, num_val_videos: int = NUM_VAL_VIDEOS, demo_frames: int = 120,
                 image_size: Tuple[int, int] = (128, 160), video_size: Tuple[int, int] = (240, 320),
                 video_frames: Tuple[int, int] = (12, 24), progress: bool = True, verbose: bool = True,
                 num_test_images: int = NUM_TEST_IMAGES, num_test_videos: int = NUM_TEST_VIDEOS,
                 splits: Sequence[str] = ("train", "val", "test", "demo")) -> dict:
    """Write the synthetic data root (see the module docstring) and print a short summary.

    Splits: coco 'train' / 'val' / 'test', ytvis 'train' (uncompressed RLE) / 'valid' / 'test' (compressed
    RLE), and ``demo/demo.mp4`` with ``demo/demo.json`` (skipped when ``demo_frames`` is 0). ``splits``
    names the groups to write: 'train' (coco train + ytvis train), 'val' (coco val + ytvis valid), 'test'
    (coco test + ytvis test), 'demo'. Returns {'coco_train', 'coco_val', 'coco_test', 'ytvis_train',
    'ytvis_valid', 'ytvis_test', 'demo_video', 'demo_gt', 'seconds'}, None for groups not written.
    """
    start = time.perf_counter()
    min_size, max_size = _pair("image_size", image_size)
    video_h, video_w = _pair("video_size", video_size)
    min_frames, max_frames = _pair("video_frames", video_frames)
    # Check everything before writing anything, so bad input never leaves half a data root.
    for name, value in (("num_train_images", num_train_images), ("num_val_images", num_val_images),
                        ("num_train_videos", num_train_videos), ("num_val_videos", num_val_videos),
                        ("num_test_images", num_test_images), ("num_test_videos", num_test_videos),
                        ("demo_frames", demo_frames), ("seed", seed)):
        _check_count(name, value)
    splits = tuple(splits)
    unknown = [s for s in splits if s not in SPLIT_GROUPS]
    if unknown or not splits:
        raise ConfigError(f"unknown split group {unknown[0] if unknown else 'none'!r} "
                          f"(choose from {', '.join(SPLIT_GROUPS)})")
    _check_size("image_size min", min_size)
    _check_size("image_size max", max_size)
    _check_size("video height", video_h)
    _check_size("video width", video_w)
    if min_size > max_size:
        raise ConfigError(f"image_size min {min_size} is larger than max {max_size}")
    if min_frames < 1 or min_frames > max_frames:
        raise ConfigError(f"video_frames must be (min, max) with 1 <= min <= max, got ({min_frames}, {max_frames})")
    result: dict = {key: None for key in ("coco_train", "coco_val", "coco_test", "ytvis_train", "ytvis_valid",
                                          "ytvis_test", "demo_video", "demo_gt")}
    frames = (min_frames, max_frames)
    # (group, coco split, image count, ytvis split, video count)
    for group, coco_split, num_images, ytvis_split, num_videos in (
            ("train", "train", num_train_images, "train", num_train_videos),
            ("val", "val", num_val_images, "valid", num_val_videos),
            ("test", "test", num_test_images, "test", num_test_videos)):
        if group not in splits:
            continue
        result[f"coco_{coco_split}"] = make_coco_split(out_root, coco_split, num_images, seed, min_size, max_size,
                                                       progress=progress)
        result[f"ytvis_{ytvis_split}"] = make_ytvis_split(out_root, ytvis_split, num_videos, seed, frames, video_h,
                                                          video_w, progress=progress)
    if demo_frames > 0 and "demo" in splits:
        demo_video = os.path.join(out_root, "demo", "demo.mp4")
        demo_gt = os.path.join(out_root, "demo", "demo.json")
        write_demo_video(demo_video, demo_frames, video_h, video_w, seed, gt_path=demo_gt)
        result["demo_video"], result["demo_gt"] = demo_video, demo_gt
    result["seconds"] = time.perf_counter() - start
    if verbose:
        _print_summary(out_root, result, demo_frames)
    return result


def _print_summary(out_root: str, result: dict, demo_frames: int) -> None:
    print(f"synthetic data written to {out_root} in {result['seconds']:.1f} s "
          f"({len(CLASS_NAMES)} classes: {', '.join(f'{n}={i}' for n, i in zip(CLASS_NAMES, CATEGORY_IDS))})")
    for key in ("coco_train", "coco_val", "coco_test"):
        s = result[key]
        if s is None:
            continue
        print(f"  {key}: {s['num_images']} images, {s['num_annotations']} annotations "
              f"({s['num_polygons']} polygons, {s['num_rle']} RLE) -> {s['ann_file']}")
    for key in ("ytvis_train", "ytvis_valid", "ytvis_test"):
        s = result[key]
        if s is None:
            continue
        print(f"  {key}: {s['num_videos']} videos, {s['num_frames']} frames, {s['num_annotations']} instances "
              f"-> {s['ann_file']}")
    if result["demo_video"]:
        print(f"  demo: {demo_frames} frames -> {result['demo_video']} (truth {result['demo_gt']})")
