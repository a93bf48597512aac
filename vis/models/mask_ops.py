"""Box-relative masks <-> image masks.

- `paste_masks_in_image`: put fixed-size per-box mask probabilities back into the image (inference).
- `DeferredMasks`: the same paste, done later for only the detections that were kept (`vis.structures.image_masks`).
  detectron2 / mmdet ``_do_paste_mask`` semantics: every image pixel centre ``(x + 0.5, y + 0.5)`` is mapped
  into its box, the mask is sampled there with ``grid_sample(align_corners=False)`` (zero outside the mask) and
  thresholded with ``>= threshold``.
- `crop_and_resize_masks`: cut each GT mask to a box and resize it to ``size`` x ``size`` (training targets),
  mmdet ``BitmapMasks.crop_and_resize`` semantics: aligned RoIAlign on the 0/1 mask, then ``>= 0.5``.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from ..timing import inference_part

# Bound on the float32 grid-sample output of one chunk (GPU); on CPU masks are pasted one at a time.
_PASTE_BYTES_LIMIT = 1 << 30


def _paste_chunk(
    masks: torch.Tensor, boxes: torch.Tensor, image_size: Tuple[int, int], threshold: float, crop_to_boxes: bool
) -> Tuple[torch.Tensor, slice, slice]:
    """masks [n, h, w] float, boxes [n, 4] -> (bool [n, y1-y0, x1-x0], rows, cols) of the pasted region.

    With ``crop_to_boxes`` only the region covering the chunk's boxes (+1 pixel) is computed; outside it
    ``grid_sample`` would read only zero padding, so the result is the same as pasting the whole image.
    """
    img_h, img_w = image_size
    if crop_to_boxes:
        x0 = max(int(math.floor(boxes[:, 0].min().item())) - 1, 0)
        y0 = max(int(math.floor(boxes[:, 1].min().item())) - 1, 0)
        x1 = min(int(math.ceil(boxes[:, 2].max().item())) + 1, img_w)
        y1 = min(int(math.ceil(boxes[:, 3].max().item())) + 1, img_h)
    else:
        x0, y0, x1, y1 = 0, 0, img_w, img_h
    x0, y0 = min(x0, x1), min(y0, y1)  # a box entirely outside the image pastes nothing
    bx0, by0, bx1, by1 = boxes.split(1, dim=1)  # each [n, 1]
    # Pixel centres in the box's normalised [-1, 1] frame: [n, W'] and [n, H'].
    xs = torch.arange(x0, x1, device=masks.device, dtype=torch.float32) + 0.5
    ys = torch.arange(y0, y1, device=masks.device, dtype=torch.float32) + 0.5
    gx = (xs - bx0) / (bx1 - bx0) * 2 - 1
    gy = (ys - by0) / (by1 - by0) * 2 - 1
    # A zero-width/height box gives inf; the references map it to 0 (the mask's centre).
    gx = torch.where(torch.isinf(gx), torch.zeros_like(gx), gx)
    gy = torch.where(torch.isinf(gy), torch.zeros_like(gy), gy)
    n = masks.shape[0]
    grid = torch.stack(
        [gx[:, None, :].expand(n, gy.shape[1], gx.shape[1]), gy[:, :, None].expand(n, gy.shape[1], gx.shape[1])],
        dim=3,
    )  # [n, H', W', 2] as (x, y)
    pasted = F.grid_sample(masks[:, None].float(), grid, align_corners=False)[:, 0]  # [n, H', W']
    return pasted >= threshold, slice(y0, y1), slice(x0, x1)


def paste_masks_in_image(
    masks: torch.Tensor,
    boxes: torch.Tensor,
    image_size: Tuple[int, int],
    threshold: float = 0.5,
    chunk_size: Optional[int] = None,
) -> torch.Tensor:
    """masks: [N, h, w] probabilities in box coordinates, boxes: [N, 4] xyxy in the target image,
    image_size: (H, W) -> bool [N, H, W].

    Works in chunks to bound memory: on CPU one mask at a time over its box region (as detectron2 does),
    elsewhere as many masks as fit in ~1 GiB of float32 over the whole image.
    """
    img_h, img_w = int(image_size[0]), int(image_size[1])
    num = masks.shape[0]
    out = torch.zeros((num, img_h, img_w), dtype=torch.bool, device=masks.device)
    if num == 0 or img_h == 0 or img_w == 0:
        return out
    on_cpu = masks.device.type == "cpu"
    if chunk_size is None:
        chunk_size = 1 if on_cpu else max(1, min(num, _PASTE_BYTES_LIMIT // (4 * img_h * img_w)))
    boxes = boxes.to(torch.float32)
    for start in range(0, num, chunk_size):
        chunk = slice(start, min(start + chunk_size, num))
        pasted, rows, cols = _paste_chunk(masks[chunk], boxes[chunk], (img_h, img_w), threshold, crop_to_boxes=on_cpu)
        out[chunk, rows, cols] = pasted
    return out


class DeferredMasks:
    """A ``masks`` field not pasted yet: per-box probabilities ``probs`` [N, h, w], the boxes to paste them into
    ``boxes`` [N, 4] (xyxy at ``image_size``, as the model scaled them, before any clipping) and ``threshold``.

    Why: a segmenter returns its top-k detections (30 for the demo model, 100 for the COCO ones) and pasting each
    mask at the frame's size is most of post-processing's memory (bool, 0.9 MB a mask at 720p) and a good part
    of its time, while the tracker keeps at most ``max_per_frame`` of them (10). The streaming pipeline asks
    ``predict(..., defer_masks=True)``, lets the score filter and the tracker select, and pastes only the kept
    ones (`vis.structures.image_masks`): the same bits as pasting every mask first. It indexes like a tensor (int, slice, bool or
    integer index, numpy or torch), so it travels as an `Instances` field through any selection.
    """

    def __init__(self, probs: torch.Tensor, boxes: torch.Tensor, image_size: Tuple[int, int], threshold: float):
        if len(probs) != len(boxes):
            raise ValueError(f"{len(probs)} masks for {len(boxes)} boxes")
        self.probs, self.boxes = probs, boxes
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.threshold = float(threshold)

    def __len__(self) -> int:
        return len(self.probs)

    @property
    def shape(self) -> Tuple[int, int, int]:
        """The shape the pasted masks will have, [N, H, W]."""
        return (len(self.probs),) + self.image_size

    def __getitem__(self, item: Any) -> "DeferredMasks":
        if isinstance(item, int):
            item = slice(item, item + 1) if item != -1 else slice(-1, None)
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(item)
        if isinstance(item, torch.Tensor):
            item = item.to(self.probs.device)
        return DeferredMasks(self.probs[item], self.boxes[item], self.image_size, self.threshold)

    def to(self, *args: Any, **kwargs: Any) -> "DeferredMasks":
        return DeferredMasks(self.probs.to(*args, **kwargs), self.boxes.to(*args, **kwargs), self.image_size,
                             self.threshold)

    def paste(self) -> torch.Tensor:
        """-> bool [N, H, W], exactly what `paste_masks_in_image` gives for these masks and boxes."""
        with inference_part("paste"):
            return paste_masks_in_image(self.probs, self.boxes, self.image_size, threshold=self.threshold)


def crop_and_resize_masks(
    gt_masks: torch.Tensor,
    boxes: torch.Tensor,
    gt_index: torch.Tensor,
    size: int = 28,
    threshold: float = 0.5,
) -> torch.Tensor:
    """gt_masks: bool [M, H, W]; boxes: [N, 4] xyxy in mask pixels; gt_index: int64 [N] (which GT mask each box
    cuts) -> float [N, size, size] in {0, 1}.

    Boxes are first clipped to the mask's extent (mmdet ``mask_target`` clips to the GT mask size, which is the
    padded batch size when masks are padded with the images). Sampling: aligned RoIAlign, adaptive sampling
    ratio, then ``>= threshold``.
    """
    num = boxes.shape[0]
    if num == 0:
        return gt_masks.new_zeros((0, size, size), dtype=torch.float32)
    height, width = gt_masks.shape[-2:]
    boxes = boxes.detach().to(torch.float32).clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0, max=width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0, max=height)
    rois = torch.cat([gt_index.to(boxes.dtype)[:, None], boxes], dim=1)  # [N, 5] = (mask index, x1, y1, x2, y2)
    resized = roi_align(
        gt_masks[:, None].to(torch.float32),
        rois,
        output_size=(size, size),
        spatial_scale=1.0,
        sampling_ratio=0,
        aligned=True,
    )[:, 0]
    return (resized >= threshold).to(torch.float32)


def crop_masks_by_own_boxes(target: dict, size: int) -> torch.Tensor:
    """A target's GT masks, each cut by its own GT box and resized -> float [G, size, size] in {0, 1} (the mask
    targets of ISTR's PCA codec and SOLQ's DCT codec)."""
    index = torch.arange(target["boxes"].shape[0], device=target["boxes"].device)
    return crop_and_resize_masks(target["masks"], target["boxes"], index, size=size)
