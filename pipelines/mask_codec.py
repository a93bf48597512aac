"""Fitting ISTR's PCA mask codec on a COCO-format annotation file: the body of ``tools/fit_mask_codec.py``.

A composition of three layers, which is why it lives here: the instances come from
`vis.data.coco.usable_instances_by_image` (the same keep-rule as the dataset's training targets,
`usable_instance`), they are cut by their GT boxes with the aligned-RoIAlign crop that makes ISTR's training
targets (`vis.models.mask_ops.crop_and_resize_masks`), and the whitened PCA is
`vis.models.pca_codec.fit_pca_codec`. So the codec is fitted on exactly the masks it encodes.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, Optional

import torch

from vis.data.coco import instance_masks, usable_instances_by_image
from vis.errors import VisError
from vis.models.mask_ops import crop_and_resize_masks
from vis.models.pca_codec import fit_pca_codec, save_codec


def coco_box_masks(ann_file: str, mask_size: int = 28, progress: bool = False) -> Iterator[torch.Tensor]:
    """The usable instances of a COCO-format file, each cut by its GT box -> batches [n, S, S] in {0, 1}, one
    batch per image."""
    from tqdm import tqdm

    for image, anns in tqdm(usable_instances_by_image(ann_file), desc="masks", unit="img", disable=not progress):
        masks, boxes = instance_masks(image, anns, ann_file)
        index = torch.arange(len(boxes))
        yield crop_and_resize_masks(torch.from_numpy(masks).bool(), torch.from_numpy(boxes), index, size=mask_size)


def fit_codec_from_coco(ann_file: str, dim: int = 60, mask_size: int = 28, seed: int = 0,
                        max_instances: Optional[int] = None, progress: bool = False) -> Dict[str, Any]:
    """`fit_pca_codec` on the masks of a COCO-format annotation file; records the source file and seed."""
    fitted = fit_pca_codec(coco_box_masks(ann_file, mask_size, progress), dim, seed, max_instances)
    fitted["mask_size"] = int(mask_size)
    fitted["source"] = os.path.abspath(ann_file)
    fitted["seed"] = int(seed)
    return fitted


def fit_codec_file(ann_file: str, out: str, dim: int = 60, mask_size: int = 28, seed: int = 0,
                   max_instances: Optional[int] = None, progress: bool = False) -> Dict[str, Any]:
    """The body of ``tools/fit_mask_codec.py``: check the sizes, fit (`fit_codec_from_coco`), write ``out``
    atomically (`save_codec`); -> the fitted codec. Out-of-range sizes are one-line errors before any reading."""
    if mask_size < 2 or not 1 <= dim <= mask_size ** 2:
        raise VisError(f"need --mask-size >= 2 and 1 <= --dim <= mask_size^2, got {dim} and {mask_size}")
    if max_instances is not None and max_instances <= dim:
        raise VisError(f"--max-instances must be larger than --dim ({dim})")
    fitted = fit_codec_from_coco(ann_file, dim=dim, mask_size=mask_size, seed=seed, max_instances=max_instances,
                                 progress=progress)
    save_codec(out, fitted)
    return fitted
