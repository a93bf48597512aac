"""`FrameTransform`: the one way from a frame to a model's input and from its detections back to the frame.

Every path goes through it, as torchvision detection models go through their ``GeneralizedRCNNTransform``:

    [3, h, w] 0..255 images --forward (normalise, pad to size_divisibility, batch)--> ImageBatch  (training, inference)
    detections in input pixels --to_frame (rescale, clip when asked, paste masks once)--> Instances at the frame

Resizing a frame to the model's test scale is the config's test pipeline (`vis.inference.build_preprocess`), as
resizing a training image is the training pipeline's: both are data transforms, which this layer does not know.

The segmenters' post-processing stops at detections in input pixels, with each mask as probabilities in its
box (``mask_probs``); a track head embeds those boxes as the network saw them. Only `to_frame` rescales, clips
and pastes, so none of that is done twice.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..structures import ImageBatch, Instances
from ..timing import inference_part
from .mask_ops import DeferredMasks, paste_masks_in_image

IMAGENET_PIXEL_MEAN = (123.675, 116.28, 103.53)
IMAGENET_PIXEL_STD = (58.395, 57.12, 57.375)

Images = Union[ImageBatch, Sequence[torch.Tensor]]


def clip_boxes(boxes: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """xyxy boxes [N, 4] -> a copy clamped to an image of ``size`` (h, w)."""
    height, width = size
    clipped = boxes.clone()
    clipped[:, 0::2] = clipped[:, 0::2].clamp(min=0, max=width)
    clipped[:, 1::2] = clipped[:, 1::2].clamp(min=0, max=height)
    return clipped


class FrameTransform(nn.Module):
    """Normalisation, padding and batching on the way in; rescaling, clipping and mask pasting on the way out.

    Args:
        pixel_mean, pixel_std: RGB normalisation of 0..255 inputs.
        size_divisibility: padded batch sides are multiples of this (1: pad only to the largest image, DETR).
        mask_threshold: a pasted mask keeps the pixels whose probability is at least this.
    """

    def __init__(self, pixel_mean: Sequence[float] = IMAGENET_PIXEL_MEAN,
                 pixel_std: Sequence[float] = IMAGENET_PIXEL_STD, size_divisibility: int = 32,
                 mask_threshold: float = 0.5):
        super().__init__()
        if not 0.0 <= float(mask_threshold) <= 1.0:
            raise ConfigError(f"model: mask_threshold must be in [0, 1] (a probability), got {mask_threshold}")
        self.size_divisibility = int(size_divisibility)
        self.mask_threshold = float(mask_threshold)
        # Not persistent: the checkpoint layout mirrors the reference models, which keep these in their config.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(3, 1, 1),
                             persistent=False)

    # -- in ----------------------------------------------------------------------------------------
    def forward(self, images: Images) -> ImageBatch:
        """Raw 0..255 RGB images (an ``ImageBatch`` padded with anything, or a list of [3, h, w]) -> normalised
        ``ImageBatch`` on the transform's device, padded with 0 AFTER normalising to a multiple of
        ``size_divisibility`` (so the padding is the mean colour, as in mmdet). An ``ImageBatch`` padded further
        than that (the data loader pads to 32) is cropped to it: DETR-family models pad only to the largest image."""
        device = self.pixel_mean.device
        if isinstance(images, ImageBatch):
            d = self.size_divisibility
            height = -(-max(h for h, _ in images.image_sizes) // d) * d
            width = -(-max(w for _, w in images.image_sizes) // d) * d
            tensor = images.tensor[..., :height, :width].to(device, torch.float32)
            tensor = (tensor - self.pixel_mean) / self.pixel_std
            pad_h, pad_w = height - tensor.shape[-2], width - tensor.shape[-1]
            if pad_h or pad_w:
                tensor = F.pad(tensor, (0, pad_w, 0, pad_h))
            batch = ImageBatch(tensor, images.image_sizes)
            # Re-zero the padding, which held normalised raw zeros.
            return ImageBatch(tensor * batch.valid_mask()[:, None].to(tensor.dtype), images.image_sizes)
        if len(images) == 0:
            raise ValueError("the transform needs at least one image")
        normalised = [(im.to(device, torch.float32) - self.pixel_mean) / self.pixel_std for im in images]
        return ImageBatch.from_tensors(normalised, self.size_divisibility, pad_value=0.0)

    # -- back --------------------------------------------------------------------------------------
    def to_frame(self, detections: Sequence[Instances], frame_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                 defer_masks: bool = False, clip: bool = False) -> List[Instances]:
        """Detections in input pixels (``boxes`` xyxy, ``mask_probs`` [n, s, s] in each box, any other fields)
        -> `Instances` at each frame size (default: the input sizes) with ``masks`` in place of ``mask_probs``.

        Boxes are scaled by frame/input size per axis, then clipped to the frame only with ``clip``: the
        references leave them as predicted, a tracker and a drawing need them inside the frame. Masks are
        pasted with the scaled boxes before clipping (as the references paste) and thresholded at
        ``mask_threshold``; with ``defer_masks`` they stay a `DeferredMasks` that pastes the same bits once the
        caller has chosen which detections to keep."""
        if frame_sizes is None:
            frame_sizes = [found.image_size for found in detections]
        if len(frame_sizes) != len(detections):
            raise ValueError(f"got {len(frame_sizes)} frame sizes for {len(detections)} images")
        return [self.one_to_frame(found, size, defer_masks, clip) for found, size in zip(detections, frame_sizes)]

    def one_to_frame(self, found: Instances, frame_size: Tuple[int, int], defer_masks: bool, clip: bool
                     ) -> Instances:
        """`to_frame` for one image."""
        (in_h, in_w), (out_h, out_w) = found.image_size, (int(frame_size[0]), int(frame_size[1]))
        scale = found.boxes.new_tensor([out_w / in_w, out_h / in_h, out_w / in_w, out_h / in_h])
        boxes = found.boxes * scale
        if defer_masks:
            masks = DeferredMasks(found.mask_probs, boxes, (out_h, out_w), self.mask_threshold)
        else:
            with inference_part("paste"):
                masks = paste_masks_in_image(found.mask_probs, boxes, (out_h, out_w), threshold=self.mask_threshold)
        if clip and len(boxes):
            # In float32 (a no-op without autocast): a frame side need not be a float16 / bfloat16 number.
            boxes = clip_boxes(boxes.float(), (out_h, out_w))
        # The fields keep their order, ``masks`` where ``mask_probs`` was.
        replaced = {"boxes": ("boxes", boxes), "mask_probs": ("masks", masks)}
        return Instances((out_h, out_w), **dict(replaced.get(name, (name, value))
                                                for name, value in found.fields().items()))

    def extra_repr(self) -> str:
        return f"size_divisibility={self.size_divisibility}, mask_threshold={self.mask_threshold}"
