"""Random colours, textures, backgrounds and sensor grain, and the random stream each item draws them from.

Kept apart from the shapes because it is all appearance: what an object or a background looks like, never
where it is or what it is. Every draw comes from ``item_rng(seed, stream, index)``, so items do not depend on
each other or on the order they are made in.
"""
from __future__ import annotations

import math
import zlib

import cv2
import numpy as np

from .shapes import CLASS_NAMES, TILE, Appearance


def item_rng(seed: int, stream: str, index: int) -> np.random.Generator:
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
    """uint8 [TILE, TILE, 3]: solid, stripes, checker or noisy gradient, main colour far from ``avoid``."""
    c0 = _colour_far_from(rng, avoid, 90.0)
    c1 = _colour_far_from(rng, c0, 70.0)
    kind = rng.integers(0, 4)
    if kind == 0:  # solid, with a faint grain
        tile = c0 + rng.normal(0.0, 4.0, size=(TILE, TILE, 3))
    elif kind == 1:  # stripes
        tile = c0 + (c1 - c0) * _stripe_pattern(rng, TILE, TILE, float(rng.uniform(8, 24)))
    elif kind == 2:  # checker
        cell = int(rng.integers(6, 17))
        yy, xx = np.mgrid[0:TILE, 0:TILE]
        tile = c0 + (c1 - c0) * (((xx // cell + yy // cell) % 2).astype(np.float32)[..., None])
    else:  # noisy gradient
        tile = c0 + (c1 - c0) * 0.6 * _ramp(rng, TILE, TILE) + 35.0 * _smooth_noise(rng, TILE, TILE, 5)
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
