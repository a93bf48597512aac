"""Scenes: a still image's random layout, and a video's tracks (motion, entering, leaving) rendered frame by frame.

Separate from the writers so a scene can be rendered in memory (tests, benchmarks) without writing a file, and
from the shapes because this is where objects get their places, depths and paths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from .shapes import Appearance, Footprint, outline_points, paint, rasterize, visible_parts
from .textures import add_grain, make_background, random_appearance


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
