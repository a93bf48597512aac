"""Pseudo-video pairs: two augmented views of one still image stand in for a key and a reference frame.

This lets the track head learn instance embeddings on COCO-format images before (or instead of)
real videos: each view is shifted / zoomed and rescaled on its own, as if the camera had moved
between two frames, while the annotation id links an object across the views exactly as a
YouTube-VIS track id does. Items have the shape of `YTVISDataset` training items, so the same model
code and `collate_pairs` serve both.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..config import build
from ..errors import ConfigError
from .coco import to_contract
from .collate import collate
from .transforms import Compose, RandomCrop, hflip, keep_instances

def _copy_sample(sample: Dict[str, Any]) -> Dict[str, Any]:
    """Arrays copied, so one view's in-place transforms never reach the other."""
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in sample.items()}


class PseudoVideoPairs(torch.utils.data.Dataset):
    """Still-image dataset -> ``{"image", "target", "ref_image", "ref_target"}`` pseudo key/reference pairs.

    ``dataset``: a built `CocoDataset` (anything with ``load_raw``), or its config dict (``type``
    defaults to 'CocoDataset'); its own ``transforms`` are not used. To relabel COCO into a YouTube-VIS label
    space give the source ``class_map='coco_to_ytvis2019', classes='ytvis2019'`` (`vis.data.label_space`).

    Per item (random stream ``[seed, epoch, idx]``): one horizontal flip decision with ``flip_prob``
    for both views (a flipped clip, not a mirror between frames); then each view on its own stream:
    a crop keeping a random (1 - ``max_shift``)..100% of each side at a random offset (the camera
    shift), then ``transforms`` (e.g. multi-scale resize; a RandomFlip there flips views independently).
    Instances whose mask is empty in a view are dropped from that view only.
    """

    def __init__(
        self,
        dataset: Union[Mapping[str, Any], Any],
        transforms: Optional[Sequence[Any]] = None,
        max_shift: float = 0.1,
        flip_prob: float = 0.5,
        seed: int = 0,
    ):
        if not 0.0 <= float(max_shift) < 1.0:
            raise ConfigError(f"PseudoVideoPairs: max_shift must be in [0, 1), got {max_shift}")
        if not 0.0 <= float(flip_prob) <= 1.0:
            raise ConfigError(f"PseudoVideoPairs: flip_prob must be in [0, 1], got {flip_prob}")
        self.dataset = self._build_source(dataset)
        self.transforms = transforms if isinstance(transforms, Compose) else Compose(transforms)
        self.max_shift = float(max_shift)
        self.flip_prob = float(flip_prob)
        self.seed = int(seed)
        self.epoch = 0
        self._shift = None
        if self.max_shift > 0:
            keep = 1.0 - self.max_shift
            # allow_negative_crop=False: a crop that would lose every instance leaves the view uncropped.
            self._shift = RandomCrop(crop_size=(keep, keep), crop_type="relative_range", allow_negative_crop=False)

    @staticmethod
    def _build_source(dataset: Any) -> Any:
        if isinstance(dataset, Mapping):
            from . import DATASETS  # here, not at import time: vis.data imports this module

            dataset = build(DATASETS, {"type": "CocoDataset", **dict(dataset)}, "dataset")
        if not callable(getattr(dataset, "load_raw", None)):
            raise ConfigError(f"PseudoVideoPairs: dataset {type(dataset).__name__} has no load_raw (a still-image "
                              "dataset such as CocoDataset is needed)")
        return dataset

    # -- labels (those of the source dataset) -----------------------------------------------------
    @property
    def cat_ids(self) -> List[int]:
        return self.dataset.cat_ids

    @property
    def class_names(self) -> List[str]:
        return self.dataset.class_names

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def label_to_cat_id(self, label: int) -> int:
        return self.dataset.label_to_cat_id(label)

    # -- samples --------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream; call before each epoch (in every worker process)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def _view(self, raw: Dict[str, Any], rng: np.random.Generator) -> Dict[str, Any]:
        sample = _copy_sample(raw)
        if self._shift is not None:
            sample = self._shift(sample, rng)
        sample = self.transforms(sample, rng)
        keep = sample["masks"].reshape(len(sample["masks"]), -1).any(axis=1)
        return to_contract(keep_instances(sample, keep))

    def __getitem__(self, item) -> Dict[str, Any]:
        """``dataset[idx]`` (epoch from `set_epoch`) or ``dataset[(epoch, idx)]`` as `TrainBatchSampler` yields."""
        epoch, idx = item if isinstance(item, tuple) else (None, item)
        epoch = self.epoch if epoch is None else int(epoch)
        raw = self.dataset.load_raw(idx)
        if np.random.default_rng([self.seed, epoch, int(idx)]).random() < self.flip_prob:
            hflip(raw)
        key = self._view(raw, np.random.default_rng([self.seed, epoch, int(idx), 1]))
        ref = self._view(raw, np.random.default_rng([self.seed, epoch, int(idx), 2]))
        return {"image": key["image"], "target": key["target"], "ref_image": ref["image"], "ref_target": ref["target"]}


# Pairs are batched by the one `collate`, which adds "ref_images" / "ref_targets" when it sees them.
collate_pairs = collate
