"""Batching of contract samples for the DataLoader."""
from __future__ import annotations

from typing import Any, Dict, List

from ..structures import ImageBatch


def collate(batch: List[Dict[str, Any]]) -> Dict[str, Any]:
    """List of samples -> {"images": ImageBatch, "targets": [target, ...]} (+ "ref_images", "ref_targets"
    when the samples are key/reference frame pairs).

    Images stay raw RGB 0..255 and are padded with 0 at the bottom/right to a multiple of 32; the
    true sizes live in ``ImageBatch.image_sizes``. mmdet pads *after* normalising, so the model
    normalises and then re-zeroes the padding (``ImageBatch.valid_mask``) to match. Targets are not
    padded: boxes and masks refer to each unpadded image.
    """
    if not batch:
        raise ValueError("collate needs at least one sample")
    images = ImageBatch.from_tensors([sample["image"] for sample in batch], size_divisibility=32, pad_value=0.0)
    out = {"images": images, "targets": [sample["target"] for sample in batch]}
    if "ref_image" in batch[0]:  # (key, reference) frame pairs for the track head
        ref = [sample["ref_image"] for sample in batch]
        out["ref_images"] = ImageBatch.from_tensors(ref, size_divisibility=32, pad_value=0.0)
        out["ref_targets"] = [sample["ref_target"] for sample in batch]
    return out
