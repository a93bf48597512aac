"""Training and test transforms on numpy samples, with mmdetection 3.x semantics.

A sample is a dict::

    image         uint8   [H, W, 3]  RGB
    boxes         float32 [n, 4]     xyxy, absolute pixels of ``image``
    masks         uint8   [n, H, W]  0/1
    labels        int64   [n]
    instance_ids  int64   [n]
    ...                              anything else (image_id, file_name, ...) passes through

Every transform is ``__call__(sample, rng) -> sample`` and keeps boxes, masks and the other
per-instance arrays aligned. Randomness comes only from the ``rng`` argument (a
``np.random.Generator``), never from global state, so a sample is a pure function of
(seed, epoch, index) and training resumes exactly.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..config import build
from ..errors import ConfigError

Sample = Dict[str, Any]

# Per-instance arrays: indexed together whenever instances are dropped.
INSTANCE_KEYS = ("boxes", "masks", "labels", "instance_ids")


def keep_instances(sample: Sample, keep: np.ndarray) -> Sample:
    """Index every per-instance array with ``keep`` (bool [n] or int indices)."""
    for key in INSTANCE_KEYS:
        if key in sample:
            sample[key] = sample[key][keep]
    return sample


def rescale_size(width: int, height: int, scale: Tuple[int, int]) -> Tuple[int, int]:
    """mmcv keep-ratio rule: the long edge <= max(scale) and the short edge <= min(scale).

    Returns the new (width, height), rounded half up like mmcv's ``rescale_size``.
    """
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def detr_rescale_size(width: int, height: int, scale: Tuple[int, int]) -> Tuple[int, int]:
    """DETR's rule (``get_size_with_aspect_ratio`` of its ``transforms.py``, used by Deformable DETR and SOLQ):
    the short edge becomes min(scale) unless the long edge would pass max(scale), in which case the short edge
    is ``round(max * short / long)``; the long edge is then *truncated*, ``int(short' * long / short)``.
    A 640x480 image at (1333, 800) becomes 1066x800 here and 1067x800 under mmcv / detectron2 rounding.

    Returns the new (width, height).
    """
    max_size, size = max(scale), min(scale)
    short, long = float(min(width, height)), float(max(width, height))
    if long / short * size > max_size:
        size = int(round(max_size * short / long))
    if (width <= height and width == size) or (height <= width and height == size):
        return width, height
    if width < height:
        return size, int(size * height / width)
    return int(size * width / height), size


SIZE_RULES = {"mmcv": rescale_size, "detr": detr_rescale_size}


def _as_scale(scale: Union[int, Sequence[int]], where: str) -> Tuple[int, int]:
    if isinstance(scale, int):
        return (scale, scale)
    if isinstance(scale, (list, tuple)) and len(scale) == 2 and all(isinstance(s, int) and s > 0 for s in scale):
        return (int(scale[0]), int(scale[1]))
    raise ConfigError(f"{where}: scale must be an int or a pair of positive ints, got {scale!r}")


class Resize:
    """Resize the image, boxes and masks.

    ``keep_ratio=True``: scale so the long edge <= max(scale) and the short edge <= min(scale)
    (so the order inside ``scale`` does not matter). ``keep_ratio=False``: resize to exactly
    ``scale = (width, height)`` (mmdet 3.x order). Images use bilinear interpolation, masks nearest.
    Records ``scale_factor = (w_scale, h_scale)`` of this resize (overwritten by a later resize, as mmdet does).
    ``size_rule``: how keep-ratio sizes are rounded, 'mmcv' (half up; mmdet and detectron2) or 'detr' (long
    edge truncated; DETR, Deformable DETR, SOLQ), see `detr_rescale_size`.
    """

    def __init__(self, scale: Union[int, Sequence[int]] = (1333, 800), keep_ratio: bool = True,
                 size_rule: str = "mmcv"):
        self.scale = _as_scale(scale, "Resize")
        self.keep_ratio = bool(keep_ratio)
        if size_rule not in SIZE_RULES:
            raise ConfigError(f"Resize: size_rule must be one of {', '.join(SIZE_RULES)}, got {size_rule!r}")
        self.size_rule = size_rule

    def __call__(self, sample: Sample, rng: Optional[np.random.Generator] = None) -> Sample:
        image = sample["image"]
        h, w = image.shape[:2]
        if self.keep_ratio:
            new_w, new_h = SIZE_RULES[self.size_rule](w, h, self.scale)
        else:
            new_w, new_h = self.scale
        w_scale, h_scale = new_w / w, new_h / h
        if (new_w, new_h) != (w, h):
            sample["image"] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if "boxes" in sample:
            boxes = sample["boxes"] * np.array([w_scale, h_scale, w_scale, h_scale], dtype=np.float32)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, new_w)  # mmdet clips boxes to the image after resizing
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, new_h)
            sample["boxes"] = boxes.astype(np.float32)
        if "masks" in sample:
            sample["masks"] = _resize_masks(sample["masks"], new_w, new_h)
        sample["scale_factor"] = (w_scale, h_scale)
        return sample

    def __repr__(self) -> str:
        return f"Resize(scale={self.scale}, keep_ratio={self.keep_ratio}, size_rule={self.size_rule!r})"


def _resize_masks(masks: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    """uint8 [n, H, W] -> uint8 [n, new_h, new_w] with nearest-neighbour interpolation."""
    n, h, w = masks.shape
    if (h, w) == (new_h, new_w):
        return masks
    out = np.zeros((n, new_h, new_w), dtype=np.uint8)
    for i in range(n):
        out[i] = cv2.resize(masks[i], (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    return out


class RandomChoiceResize:
    """Resize to one of ``scales`` chosen uniformly (mmdet's multi-scale training)."""

    def __init__(self, scales: Sequence[Sequence[int]] = ((1333, 800),), keep_ratio: bool = True,
                 size_rule: str = "mmcv"):
        if not scales:
            raise ConfigError("RandomChoiceResize: scales must not be empty")
        self.resizes = [Resize(scale, keep_ratio, size_rule) for scale in scales]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return self.resizes[int(rng.integers(len(self.resizes)))](sample, rng)

    def __repr__(self) -> str:
        return f"RandomChoiceResize(scales={[r.scale for r in self.resizes]}, keep_ratio={self.resizes[0].keep_ratio})"


class RandomFlip:
    """Horizontal flip with probability ``prob``: x1' = W - x2, x2' = W - x1 (mmdet 3.x, no -1)."""

    def __init__(self, prob: float = 0.5):
        if not 0.0 <= float(prob) <= 1.0:
            raise ConfigError(f"RandomFlip: prob must be in [0, 1], got {prob}")
        self.prob = float(prob)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        flip = bool(rng.random() < self.prob)
        sample["flip"] = flip
        if flip:
            hflip(sample)
        return sample

    def __repr__(self) -> str:
        return f"RandomFlip(prob={self.prob})"


def hflip(sample: Sample) -> Sample:
    """Flip image, boxes and masks horizontally in place (deterministic; shared by RandomFlip and tests)."""
    w = sample["image"].shape[1]
    sample["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
    if "boxes" in sample:
        boxes = sample["boxes"].copy()
        boxes[:, 0] = w - sample["boxes"][:, 2]
        boxes[:, 2] = w - sample["boxes"][:, 0]
        sample["boxes"] = boxes
    if "masks" in sample:
        sample["masks"] = np.ascontiguousarray(sample["masks"][:, :, ::-1])
    return sample


class RandomCrop:
    """Random crop with mmdet 3.x ``RandomCrop`` semantics.

    crop_type:
      'absolute'        crop (h, w) = (crop_size[1], crop_size[0]) clipped to the image
      'absolute_range'  crop h and w drawn independently from [crop_size[0], crop_size[1]] (clipped to the image)
      'relative'        crop (h, w) = (H * crop_size[1], W * crop_size[0])
      'relative_range'  crop (h, w) = (H, W) * (crop_size + U[0,1) * (1 - crop_size)), crop_size = (h_frac, w_frac)
    Boxes are shifted and clipped; instances whose clipped box lies outside the crop or has width or
    height < 1 px are removed; masks are cropped. ``recompute_bbox`` replaces boxes by the tight boxes
    of the cropped masks. If the crop keeps no instance and ``allow_negative_crop`` is False, the
    sample is returned uncropped (mmdet instead re-draws another image; that would break determinism).
    """

    CROP_TYPES = ("absolute", "absolute_range", "relative", "relative_range")

    def __init__(
        self,
        crop_size: Sequence[float] = (384, 600),
        crop_type: str = "absolute_range",
        allow_negative_crop: bool = True,
        recompute_bbox: bool = False,
    ):
        if crop_type not in self.CROP_TYPES:
            raise ConfigError(f"RandomCrop: unknown crop_type '{crop_type}' (known: {', '.join(self.CROP_TYPES)})")
        if not (isinstance(crop_size, (list, tuple)) and len(crop_size) == 2):
            raise ConfigError(f"RandomCrop: crop_size must be a pair, got {crop_size!r}")
        if crop_type.startswith("relative") and not all(0 < c <= 1 for c in crop_size):
            raise ConfigError(f"RandomCrop: relative crop_size must be in (0, 1], got {crop_size!r}")
        if crop_type.startswith("absolute") and not all(c > 0 for c in crop_size):
            raise ConfigError(f"RandomCrop: absolute crop_size must be positive, got {crop_size!r}")
        if crop_type == "absolute_range" and crop_size[0] > crop_size[1]:
            raise ConfigError(f"RandomCrop: absolute_range crop_size must be (min, max), got {crop_size!r}")
        self.crop_size = tuple(crop_size)
        self.crop_type = crop_type
        self.allow_negative_crop = bool(allow_negative_crop)
        self.recompute_bbox = bool(recompute_bbox)

    def _crop_hw(self, h: int, w: int, rng: np.random.Generator) -> Tuple[int, int]:
        if self.crop_type == "absolute":
            return min(int(self.crop_size[1]), h), min(int(self.crop_size[0]), w)
        if self.crop_type == "absolute_range":
            lo, hi = int(self.crop_size[0]), int(self.crop_size[1])
            crop_h = int(rng.integers(min(h, lo), min(h, hi) + 1))
            crop_w = int(rng.integers(min(w, lo), min(w, hi) + 1))
            return crop_h, crop_w
        if self.crop_type == "relative":
            crop_w, crop_h = self.crop_size
            return int(h * crop_h + 0.5), int(w * crop_w + 0.5)
        frac = np.asarray(self.crop_size, dtype=np.float32)  # relative_range: (h_frac, w_frac)
        crop_h, crop_w = frac + rng.random(2) * (1 - frac)
        return int(h * crop_h + 0.5), int(w * crop_w + 0.5)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        h, w = sample["image"].shape[:2]
        crop_h, crop_w = self._crop_hw(h, w, rng)
        y1 = int(rng.integers(0, max(h - crop_h, 0) + 1))
        x1 = int(rng.integers(0, max(w - crop_w, 0) + 1))
        y2, x2 = y1 + crop_h, x1 + crop_w

        keep = None
        boxes = None
        if "boxes" in sample:
            boxes = sample["boxes"] - np.array([x1, y1, x1, y1], dtype=np.float32)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, crop_w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, crop_h)
            # mmdet's is_inside after clipping, plus: no degenerate (< 1 px) boxes reach the losses.
            keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
            if not keep.any() and not self.allow_negative_crop:
                return sample

        sample["image"] = np.ascontiguousarray(sample["image"][y1:y2, x1:x2])
        if boxes is not None:
            sample["boxes"] = boxes.astype(np.float32)
        if "masks" in sample:
            sample["masks"] = np.ascontiguousarray(sample["masks"][:, y1:y2, x1:x2])
        if keep is not None:
            keep_instances(sample, keep)
            if self.recompute_bbox and "masks" in sample:
                sample["boxes"] = masks_to_boxes(sample["masks"])
        return sample

    def __repr__(self) -> str:
        return (
            f"RandomCrop(crop_size={self.crop_size}, crop_type='{self.crop_type}', "
            f"allow_negative_crop={self.allow_negative_crop}, recompute_bbox={self.recompute_bbox})"
        )


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes of uint8 [n, H, W] masks, x2 = last column + 1 (mmdet); empty mask -> zeros."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        if len(xs):
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


class RandomChoice:
    """Apply one branch, chosen with probabilities ``prob`` (uniform by default).

    ``transforms`` is a list of branches; each branch is a list of transform configs, e.g. the
    DETR-style crop augmentation: ``[[multi-scale resize], [resize, crop, multi-scale resize]]``.
    """

    def __init__(self, transforms: Sequence[Sequence[Any]] = (), prob: Optional[Sequence[float]] = None):
        if not transforms:
            raise ConfigError("RandomChoice: transforms must be a non-empty list of branches")
        self.branches = [Compose(branch if isinstance(branch, (list, tuple)) else [branch]) for branch in transforms]
        if prob is not None:
            if len(prob) != len(self.branches) or abs(sum(prob) - 1.0) > 1e-6 or min(prob) < 0:
                raise ConfigError(f"RandomChoice: prob must have one non-negative entry per branch summing to 1, got {prob!r}")
            prob = [float(p) for p in prob]
        self.prob = prob

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        index = int(rng.choice(len(self.branches), p=self.prob))
        return self.branches[index](sample, rng)

    def __repr__(self) -> str:
        return f"RandomChoice(branches={self.branches}, prob={self.prob})"


class Compose:
    """Apply transforms in order. Items are configs (dicts with 'type', built from TRANSFORMS) or callables."""

    def __init__(self, transforms: Optional[Sequence[Any]] = None):
        self.transforms = []
        for item in transforms or []:
            if isinstance(item, Mapping):
                self.transforms.append(build(TRANSFORMS, item, "transform"))
            elif callable(item):
                self.transforms.append(item)
            else:
                raise ConfigError(f"transform must be a dict with 'type' or a callable, got {item!r}")

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for transform in self.transforms:
            sample = transform(sample, rng)
        return sample

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


# name -> class, used by `vis.config.build` for every transform config (other modules may add entries).
TRANSFORMS: Dict[str, Any] = {
    "Resize": Resize,
    "RandomChoiceResize": RandomChoiceResize,
    "RandomFlip": RandomFlip,
    "RandomCrop": RandomCrop,
    "RandomChoice": RandomChoice,
    "Compose": Compose,
}
