"""Datasets, transforms and batching; components are named in the DATASETS and TRANSFORMS tables."""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

from ..config import build
from .coco import CocoDataset
from .collate import collate
from .pairs import PseudoVideoPairs
from .serialized import build_apart
from .transforms import TRANSFORMS, Compose
from .ytvis import YTVISDataset

# name -> dataset class, for `build_dataset` (other dataset modules add their entries here).
DATASETS: Dict[str, Any] = {
    "CocoDataset": CocoDataset,
    "YTVISDataset": YTVISDataset,
    "PseudoVideoPairs": PseudoVideoPairs,
}


# Annotation files from this size on are parsed in a child process (`vis.data.serialized.build_apart`).
BUILD_APART_BYTES = 16 * 2 ** 20


def build_dataset(cfg: Mapping[str, Any], apart: Optional[bool] = None, **extra: Any):
    """Build ``DATASETS[cfg['type']](**cfg)``; an unknown key or type is a one-line ConfigError.

    ``apart``: build in a forked child process, so the parse leaves no holes in this process's heap for loader
    workers to fill (`build_apart`); by default when an ``ann_file`` of the config is ``BUILD_APART_BYTES`` or
    larger (COCO train2017's is 448 MB).
    """
    if apart is None:
        apart = _annotation_bytes(cfg) >= BUILD_APART_BYTES
    if apart:
        return build_apart(build, DATASETS, cfg, "dataset", **extra)
    return build(DATASETS, cfg, "dataset", **extra)


def _annotation_bytes(cfg: Any) -> int:
    """The size of the largest ``ann_file`` named anywhere in ``cfg`` (nested datasets included), 0 if none."""
    if isinstance(cfg, Mapping):
        sizes = [_annotation_bytes(value) for value in cfg.values()]
        path = cfg.get("ann_file")
        if isinstance(path, str) and os.path.isfile(path):
            sizes.append(os.path.getsize(path))
        return max(sizes, default=0)
    if isinstance(cfg, (list, tuple)):
        return max((_annotation_bytes(value) for value in cfg), default=0)
    return 0


__all__ = ["DATASETS", "TRANSFORMS", "CocoDataset", "Compose", "build_dataset", "collate"]
