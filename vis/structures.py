"""`Instances`: the one result type shared by segmenters, the tracker, sinks and evaluators.

Modelled on detectron2's ``structures/instances.py``: an image size plus any number of
per-instance fields that all have the same length. Conventional field names:

    boxes         float [N, 4]   xyxy, absolute pixels of ``image_size``
    scores        float [N]
    labels        int64 [N]      contiguous 0..K-1 (dataset ids live outside the model)
    masks         bool  [N, H, W] at ``image_size`` (or float logits / probabilities; or deferred, see
                                 `image_masks`)
    embeds        float [N, C]   per-instance feature consumed by the track head
    track_ids     int64 [N]

Fields may be tensors, numpy arrays or lists; anything that supports ``len`` and indexing.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

import numpy as np
import torch


def to_numpy(value: Any, dtype=None) -> np.ndarray:
    """A field of `Instances` (tensor on any device) or array-like -> numpy array, for code that runs on the CPU
    (trackers, sinks, rendering)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB -> float32 [3, H, W] 0..255, the layout every model takes."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def image_masks(masks: Any) -> Any:
    """A ``masks`` field as image masks [N, H, W]: a deferred one (it has ``paste()``, e.g. the
    `vis.models.mask_ops.DeferredMasks` of ``predict(..., defer_masks=True)``) is pasted, anything else is
    returned as it is. Readers of masks that may be deferred call this after selecting their rows."""
    paste = getattr(masks, "paste", None)
    return paste() if callable(paste) else masks


class Instances:
    """Per-instance fields of equal length attached to one image of size ``(height, width)``."""

    def __init__(self, image_size: Tuple[int, int], **fields: Any):
        self._image_size = (int(image_size[0]), int(image_size[1]))
        self._fields: Dict[str, Any] = {}
        for name, value in fields.items():
            self.set(name, value)

    @property
    def image_size(self) -> Tuple[int, int]:
        """(height, width) of the image the boxes and masks refer to."""
        return self._image_size

    # -- field access ---------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            super().__setattr__(name, value)
        else:
            self.set(name, value)

    def __getattr__(self, name: str) -> Any:
        # Read _fields through __dict__: while unpickling (copy, DataLoader workers, all_gather_object) it
        # does not exist yet, and self._fields would call __getattr__ again without end.
        fields = self.__dict__.get("_fields", {})
        if name.startswith("_") or name not in fields:
            raise AttributeError(f"Instances has no field '{name}' (fields: {sorted(fields)})")
        return fields[name]

    def set(self, name: str, value: Any) -> None:
        length = len(value)
        if self._fields and length != len(self):
            raise ValueError(f"field '{name}' has length {length}, other fields have {len(self)}")
        self._fields[name] = value

    def has(self, name: str) -> bool:
        return name in self._fields

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields.get(name, default)

    def remove(self, name: str) -> None:
        del self._fields[name]

    def fields(self) -> Dict[str, Any]:
        return dict(self._fields)

    # -- container behaviour --------------------------------------------------------------------
    def __len__(self) -> int:
        for value in self._fields.values():
            return len(value)
        return 0

    def __iter__(self):
        raise NotImplementedError("Instances is not iterable; index it or read its fields")

    def __getitem__(self, item) -> "Instances":
        """Index every field with an int, slice, bool mask or index tensor."""
        if isinstance(item, int):
            if item >= len(self) or item < -len(self):
                raise IndexError(f"index {item} out of range for {len(self)} instances")
            item = item % len(self)
            item = slice(item, item + 1)  # keep the instance dimension
        out = Instances(self._image_size)
        for name, value in self._fields.items():
            if isinstance(value, list):
                if isinstance(item, slice):
                    out.set(name, value[item])
                else:
                    index = torch.as_tensor(item)
                    if index.dtype == torch.bool:
                        index = index.nonzero().flatten()
                    out.set(name, [value[i] for i in index.tolist()])
            elif isinstance(item, torch.Tensor) and not isinstance(value, torch.Tensor):
                out.set(name, value[item.cpu().numpy()])  # numpy reads a 1-element tensor as a scalar
            else:
                out.set(name, value[item])
        return out

    def to(self, *args: Any, **kwargs: Any) -> "Instances":
        out = Instances(self._image_size)
        for name, value in self._fields.items():
            out.set(name, value.to(*args, **kwargs) if hasattr(value, "to") else value)
        return out

    @staticmethod
    def cat(instance_lists: Iterable["Instances"]) -> "Instances":
        """Concatenate instances of the same image size field by field."""
        items: List[Instances] = list(instance_lists)
        if not items:
            raise ValueError("Instances.cat needs at least one Instances")
        image_size = items[0].image_size
        if any(i.image_size != image_size for i in items):
            raise ValueError("Instances.cat: all items must have the same image_size")
        out = Instances(image_size)
        for name, first in items[0]._fields.items():
            values = [i._fields[name] for i in items]
            if isinstance(first, torch.Tensor):
                out.set(name, torch.cat(values, dim=0))
            elif isinstance(first, list):
                out.set(name, [v for value in values for v in value])
            else:
                import numpy as np

                out.set(name, np.concatenate(values, axis=0))
        return out

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}: {tuple(v.shape) if hasattr(v, 'shape') else len(v)}" for k, v in self._fields.items()
        )
        return f"Instances(num={len(self)}, image_size={self._image_size}, {fields})"


ImageSizes = Union[torch.Tensor, Sequence[Tuple[int, int]]]  # (h, w) per image: a list, or a tensor [N, 2]


def image_whwh(image_sizes: ImageSizes, like: torch.Tensor) -> torch.Tensor:
    """Image sizes, a list of (h, w) or a tensor [N, 2] of (h, w), -> [N, 1, 4] (w, h, w, h) with ``like``'s dtype
    and device: the scale from normalised to absolute xyxy boxes. A tensor stays a tensor all the way (an
    exported graph keeps the sizes as an input instead of freezing them)."""
    sizes = image_sizes if isinstance(image_sizes, torch.Tensor) else torch.tensor(
        [[float(h), float(w)] for h, w in image_sizes]).view(-1, 2)
    sizes = sizes.to(device=like.device, dtype=like.dtype)
    return sizes[:, [1, 0, 1, 0]][:, None, :]


class ImageBatch:
    """A padded batch of images that remembers each image's true size (detectron2's ``ImageList``).

    ``tensor``: float [B, 3, Hp, Wp], Hp and Wp multiples of ``size_divisibility``; the padding is 0.
    ``image_sizes``: list of (h, w) of the unpadded images, so padding never leaks into results.
    """

    def __init__(self, tensor: torch.Tensor, image_sizes: List[Tuple[int, int]]):
        self.tensor = tensor
        self.image_sizes = [(int(h), int(w)) for h, w in image_sizes]

    def __len__(self) -> int:
        return len(self.image_sizes)

    def to(self, *args: Any, **kwargs: Any) -> "ImageBatch":
        return ImageBatch(self.tensor.to(*args, **kwargs), self.image_sizes)

    @staticmethod
    def from_tensors(images: List[torch.Tensor], size_divisibility: int = 32, pad_value: float = 0.0) -> "ImageBatch":
        """Pad a list of [3, h, w] tensors to a common size rounded up to ``size_divisibility``."""
        if not images:
            raise ValueError("ImageBatch.from_tensors needs at least one image")
        max_h = max(int(im.shape[-2]) for im in images)
        max_w = max(int(im.shape[-1]) for im in images)
        if size_divisibility > 1:
            max_h = (max_h + size_divisibility - 1) // size_divisibility * size_divisibility
            max_w = (max_w + size_divisibility - 1) // size_divisibility * size_divisibility
        first = images[0]
        tensor = first.new_full((len(images), first.shape[0], max_h, max_w), pad_value)
        for i, im in enumerate(images):
            tensor[i, :, : im.shape[-2], : im.shape[-1]].copy_(im)
        return ImageBatch(tensor, [(int(im.shape[-2]), int(im.shape[-1])) for im in images])

    def size_tensor(self) -> torch.Tensor:
        """float [B, 2]: the unpadded (h, w) of each image, on the batch's device (the per-frame network takes the
        sizes as a tensor, so that an exported graph keeps them as an input)."""
        return torch.tensor(self.image_sizes, dtype=torch.float32, device=self.tensor.device).view(-1, 2)

    def valid_mask(self) -> torch.Tensor:
        """bool [B, Hp, Wp]: True inside each image, False in the padding."""
        b, _, hp, wp = self.tensor.shape
        mask = torch.zeros((b, hp, wp), dtype=torch.bool, device=self.tensor.device)
        for i, (h, w) in enumerate(self.image_sizes):
            mask[i, :h, :w] = True
        return mask
