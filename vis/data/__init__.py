"""Datasets, transforms and batching; components are named in the DATASETS and TRANSFORMS tables."""
from __future__ import annotations

from typing import Any, Dict, Mapping

from ..config import build
from .coco import CocoDataset
from .collate import collate
from .pairs import PseudoVideoPairs
from .transforms import TRANSFORMS, Compose
from .ytvis import YTVISDataset

# name -> dataset class, for `build_dataset` (other dataset modules add their entries here).
DATASETS: Dict[str, Any] = {
    "CocoDataset": CocoDataset,
    "YTVISDataset": YTVISDataset,
    "PseudoVideoPairs": PseudoVideoPairs,
}


def build_dataset(cfg: Mapping[str, Any], **extra: Any):
    """Build ``DATASETS[cfg['type']](**cfg)``; an unknown key or type is a one-line ConfigError."""
    return build(DATASETS, cfg, "dataset", **extra)


__all__ = ["DATASETS", "TRANSFORMS", "CocoDataset", "Compose", "build_dataset", "collate"]
