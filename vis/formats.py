"""The conversions every output format shares: bool masks -> COCO compressed RLE, model labels -> dataset ids.

COCO results, YouTube-VIS results, the JSONL sink, the synthetic generator's annotations and the video results
accumulator all write masks as the same compressed RLE and labels as the same category ids, so the one encoder
and the one label mapper live here, below every layer that writes them.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Mapping, Sequence, Union

import numpy as np

from .errors import DataError


def is_torch_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor, answered without importing torch.

    The metric and validation tools read and write these formats from JSON files; importing torch for them would
    cost seconds and hundreds of MB. A tensor can only exist once torch has been imported, so looking the module
    up in ``sys.modules`` answers the question for free.
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


# -- masks -----------------------------------------------------------------------------------------
def masks_to_bool(masks: Any) -> np.ndarray:
    """Tensor or array (bool, or float probabilities thresholded at 0.5) -> numpy bool."""
    if is_torch_tensor(masks):
        masks = masks.detach()
        if masks.dtype != sys.modules["torch"].bool:
            masks = masks >= 0.5 if masks.is_floating_point() else masks != 0
        return masks.cpu().numpy()
    masks = np.asarray(masks)
    if masks.dtype != np.bool_:
        masks = masks >= 0.5 if np.issubdtype(masks.dtype, np.floating) else masks != 0
    return masks


def encode_mask_rle(mask: Any) -> Dict[str, Any]:
    """One bool mask [H, W] -> ``{"size": [H, W], "counts": str}`` (COCO compressed RLE)."""
    return encode_masks_rle(masks_to_bool(mask)[None])[0]


def encode_masks_rle(masks: Any) -> List[Dict[str, Any]]:
    """Bool masks [N, H, W] -> N compressed RLEs in one pycocotools call.

    pycocotools wants a Fortran-ordered uint8 [H, W, N] array; ``counts`` comes back as bytes and
    is decoded to str so results can go straight into JSON.
    """
    from pycocotools import mask as mask_util

    masks = masks_to_bool(masks)
    if masks.ndim != 3:
        raise ValueError(f"encode_masks_rle expects [N, H, W] masks, got shape {tuple(masks.shape)}")
    if masks.shape[0] == 0:
        return []
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    out = []
    for rle in rles:
        counts = rle["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        out.append({"size": [int(s) for s in rle["size"]], "counts": counts})
    return out


def encode_mask_uncompressed_rle(mask: Any) -> Dict[str, Any]:
    """One bool mask [H, W] -> ``{"size": [H, W], "counts": [int, ...]}`` (COCO uncompressed RLE).

    The form of the official YouTube-VIS train.json (and of the synthetic train splits, which copy it): run
    lengths over the column-major mask, starting with a run of zeros.
    """
    mask = masks_to_bool(mask)
    h, w = mask.shape
    flat = mask.ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]]))
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    return {"size": [int(h), int(w)], "counts": [int(r) for r in runs]}


# -- labels ----------------------------------------------------------------------------------------
LabelMap = Union[Sequence[int], Mapping[int, int], Callable[[int], int]]


def label_mapper(label_to_cat_id: LabelMap) -> Callable[[int], int]:
    """A label table (list indexed by label, dict, or function) -> a function; a label the table lacks is a
    one-line DataError naming it."""
    if callable(label_to_cat_id):
        return lambda label: int(label_to_cat_id(label))
    table = label_to_cat_id

    def lookup(label: int) -> int:
        try:
            return int(table[label])
        except (IndexError, KeyError):
            raise DataError(f"predicted label {label} has no dataset category id ({len(table)} categories)") from None

    return lookup
