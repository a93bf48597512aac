"""COCO-format still-image instance segmentation dataset.

Reads a standard ``instances_*.json``, validates it up front (missing keys, missing image files,
an empty dataset: one-line `DataError`s instead of a crash hours into training) and yields samples
in the contract of ``docs/design.md`` ("Data sample contract").

Augmentation is deterministic: sample ``idx`` in epoch ``e`` is transformed with
``np.random.default_rng([seed, e, idx])``, so a resumed run sees exactly the samples it would have
seen, whatever the number of data-loader workers.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from ..errors import DataError
from ..io.files import read_json
from .label_space import LabelSpaceMixin, build_label_space
from .serialized import SerializedRecords, release_freed_memory
from .transforms import Compose

REQUIRED_KEYS = ("images", "annotations", "categories")


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """COCO segmentation (polygons, compressed RLE or uncompressed RLE) -> uint8 [height, width] 0/1."""
    if isinstance(segmentation, list):  # polygons: [[x0, y0, x1, y1, ...], ...]
        polygons = [p for p in segmentation if len(p) >= 6 and len(p) % 2 == 0]
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation["counts"], list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:  # compressed RLE
        rle = segmentation
    with warnings.catch_warnings():  # pycocotools' decode trips a numpy-2 DeprecationWarning on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(np.uint8)


def _has_segmentation(segmentation: Any) -> bool:
    if isinstance(segmentation, list):
        for polygon in segmentation:  # a loop, not any(): this runs once per instance of the file
            if isinstance(polygon, list) and len(polygon) >= 6 and len(polygon) % 2 == 0:
                return True
        return False
    if isinstance(segmentation, dict):
        return "counts" in segmentation and "size" in segmentation
    return False


def usable_instance(ann: Mapping[str, Any], image: Mapping[str, Any]) -> bool:
    """mmdet's rules for a usable training instance: not crowd, a box of at least 1x1 pixel with positive area
    that overlaps the image, and a valid segmentation. The dataset's targets and the masks ISTR's PCA codec is
    fitted on (`usable_instances_by_image`) follow this one rule, so the codec is fitted on the instances it encodes."""
    if ann.get("iscrowd", 0):
        return False
    x, y, w, h = map(float, ann["bbox"])
    if w < 1 or h < 1 or ann.get("area", 1) <= 0:
        return False
    # min / max written out (the same values): this runs once per instance, and builtin calls are slow here
    right, bottom, width, height = x + w, y + h, image["width"], image["height"]
    overlap_w = (right if right <= width else width) - (x if x >= 0.0 else 0.0)
    overlap_h = (bottom if bottom <= height else height) - (y if y >= 0.0 else 0.0)
    overlap_w, overlap_h = (overlap_w if overlap_w > 0.0 else 0.0), (overlap_h if overlap_h > 0.0 else 0.0)
    if overlap_w * overlap_h == 0:
        return False
    return _has_segmentation(ann.get("segmentation"))


def usable_instances_by_image(ann_file: str) -> SerializedRecords:
    """The usable instances (`usable_instance`) of a COCO-format file, from the JSON alone (no image files
    needed) -> ``[(image record, its usable annotations), ...]`` (a `SerializedRecords`: iterate or index it),
    images without one left out.

    Read and checked at once: malformed records are one-line `DataError`s naming them; decode the masks of
    each image with `instance_masks`. Only the serialized pairs outlive the call: at COCO's size they hold a
    fifth of what the parsed JSON does, for the whole of a codec fit that reads them one image at a time."""
    dataset = read_json(ann_file, what="annotation file")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("annotations"), list) \
            or not isinstance(dataset.get("images"), list):
        raise DataError(f"annotation file {ann_file} must hold a JSON object with 'images' and 'annotations' lists")
    images: Dict[Any, Dict[str, Any]] = {}
    for image in dataset["images"]:
        if not isinstance(image, dict) or not all(k in image for k in ("id", "height", "width")):
            raise DataError(f"image record {str(image)[:80]} in {ann_file} needs 'id', 'height' and 'width'")
        images[image["id"]] = image
    by_image: Dict[Any, List[Dict[str, Any]]] = {}
    for ann in dataset["annotations"]:
        if not isinstance(ann, dict) or "image_id" not in ann or "bbox" not in ann:
            raise DataError(f"annotation {str(ann)[:80]} in {ann_file} needs 'image_id' and 'bbox'")
        if ann["image_id"] not in images:
            raise DataError(f"annotation {ann.get('id')} in {ann_file} refers to unknown image {ann['image_id']}")
        if usable_instance(ann, images[ann["image_id"]]):
            by_image.setdefault(ann["image_id"], []).append(ann)
    pairs = SerializedRecords((images[image_id], anns) for image_id, anns in by_image.items())
    del dataset, images, by_image
    release_freed_memory()
    return pairs


def instance_masks(image: Mapping[str, Any], anns: Sequence[Mapping[str, Any]],
                   ann_file: str = "annotation file") -> Tuple[np.ndarray, np.ndarray]:
    """One image's annotations -> (masks uint8 [n, H, W] 0/1, boxes float32 [n, 4] xyxy pixels)."""
    height, width = int(image["height"]), int(image["width"])
    try:
        masks = np.stack([segmentation_to_mask(a["segmentation"], height, width) for a in anns])
    except Exception as exc:  # malformed polygons / RLE
        raise DataError(f"cannot decode a segmentation of image {image['id']} in {ann_file}: {exc}") from None
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], dtype=np.float32)
    return masks, boxes


class CocoDataset(LabelSpaceMixin, torch.utils.data.Dataset):
    """COCO instances JSON + image folder -> contract samples (see module docstring).

    Annotations kept as training targets: not crowd (``iscrowd=1`` is ignored, as mmdet does), with a
    valid segmentation, ``w >= 1``, ``h >= 1``, positive area and overlapping the image. The same rule
    applies in ``test_mode`` (evaluation reads the JSON through ``coco``); ``test_mode`` only
    stops images from being skipped. With ``filter_empty`` (training only), images left without any
    target are skipped.

    ``class_map`` ({source_category_id: target_category_id}) with ``classes`` ([{id, name}, ...] of the
    target dataset) relabels into another label space, e.g. COCO -> YouTube-VIS; annotations of
    unmapped categories are dropped. ``classes`` alone keeps only those categories of the JSON.
    Labels are contiguous 0..K-1 in ascending target category id.
    """

    def __init__(
        self,
        ann_file: str,
        img_dir: str,
        transforms: Optional[Sequence[Any]] = None,
        test_mode: bool = False,
        filter_empty: bool = True,
        class_map: Optional[Mapping[Any, Any]] = None,
        classes: Optional[Sequence[Mapping[str, Any]]] = None,
        seed: int = 0,
    ):
        self.ann_file = ann_file
        self.img_dir = img_dir
        self.test_mode = bool(test_mode)
        self.filter_empty = bool(filter_empty)
        self.seed = int(seed)
        self.epoch = 0
        self.transforms = transforms if isinstance(transforms, Compose) else Compose(transforms)

        dataset = read_json(ann_file, what="annotation file")
        if not isinstance(dataset, dict):
            raise DataError(f"annotation file {ann_file} must hold a JSON object with {', '.join(REQUIRED_KEYS)}")
        for key in REQUIRED_KEYS:
            if key not in dataset:
                raise DataError(f"annotation file {ann_file} has no '{key}' key")
            if not isinstance(dataset[key], list):
                raise DataError(f"'{key}' in annotation file {ann_file} must be a list")
        self._check_records(dataset)
        self._coco: Optional[COCO] = None  # pycocotools' index, built on first use (`coco`)
        self._build_label_space(dataset["categories"], class_map, classes)
        self._build_index(dataset)
        del dataset  # the parsed file: only the serialized records stay
        release_freed_memory()

    @property
    def coco(self) -> COCO:
        """pycocotools' ``COCO`` over the unmodified annotation file, for evaluation (COCOeval needs it). Built on
        first use, from the file: training never needs it, and its index of Python objects is what a data-loader
        worker would copy page by page (`vis.data.serialized`)."""
        if self._coco is None:
            coco = COCO()
            coco.dataset = read_json(self.ann_file, what="annotation file")
            with contextlib.redirect_stdout(io.StringIO()):
                coco.createIndex()
            self._coco = coco
        return self._coco

    # -- construction ---------------------------------------------------------------------------
    def _check_records(self, dataset: Dict[str, Any]) -> None:
        """Fail early, naming the record, on fields the loader relies on."""
        for image in dataset["images"]:
            for key in ("id", "file_name", "height", "width"):
                if not isinstance(image, dict) or key not in image:
                    raise DataError(f"image record {str(image)[:80]} in {self.ann_file} has no '{key}'")
        for ann in dataset["annotations"]:
            for key in ("id", "image_id", "category_id", "bbox"):
                if not isinstance(ann, dict) or key not in ann:
                    raise DataError(f"annotation {str(ann)[:80]} in {self.ann_file} has no '{key}'")
            if len(ann["bbox"]) != 4:
                raise DataError(f"annotation {ann['id']} in {self.ann_file} has a bbox without 4 numbers")
        for cat in dataset["categories"]:
            for key in ("id", "name"):
                if not isinstance(cat, dict) or key not in cat:
                    raise DataError(f"category {str(cat)[:80]} in {self.ann_file} has no '{key}'")
        if not dataset["categories"]:
            raise DataError(f"annotation file {self.ann_file} has no categories")

    def _build_label_space(self, categories: List[Dict[str, Any]], class_map, classes) -> None:
        self.cat_ids, self.class_names, self._source_to_label = build_label_space(
            categories, class_map, classes, owner="CocoDataset", ann_file=self.ann_file
        )
        self.cat_id_to_label: Dict[int, int] = {cat_id: label for label, cat_id in enumerate(self.cat_ids)}

    def _build_index(self, dataset: Dict[str, Any]) -> None:
        anns_by_image: Dict[int, List[Dict[str, Any]]] = {}
        known_cats = {int(c["id"]) for c in dataset["categories"]}
        for ann in dataset["annotations"]:
            if int(ann["category_id"]) not in known_cats:
                raise DataError(
                    f"annotation {ann['id']} in {self.ann_file} has category_id {ann['category_id']} not in 'categories'"
                )
            anns_by_image.setdefault(ann["image_id"], []).append(ann)

        records = []  # (image record, its kept annotations)
        for image in dataset["images"]:
            kept = [a for a in anns_by_image.get(image["id"], []) if self._keep_annotation(a, image)]
            if not self.test_mode and self.filter_empty and not kept:
                continue
            path = os.path.join(self.img_dir, image["file_name"])
            if not os.path.isfile(path):
                raise DataError(f"image file not found: {path} (listed in {self.ann_file})")
            records.append((image, kept))
        if not records:
            raise DataError(f"no images with annotations in {self.ann_file}")
        self._image_ids = np.array([image["id"] for image, _ in records], dtype=np.int64)
        self._records = SerializedRecords(records)  # one buffer the workers share (vis.data.serialized)

    @property
    def img_ids(self) -> List[int]:
        """The ids of the dataset's images, in sample order."""
        return self._image_ids.tolist()

    def _keep_annotation(self, ann: Dict[str, Any], image: Dict[str, Any]) -> bool:
        """`usable_instance`, in a category the label space maps."""
        return int(ann["category_id"]) in self._source_to_label and usable_instance(ann, image)

    # -- samples --------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream; call before each epoch (in every worker process)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._records)

    def get_image_info(self, idx: int) -> Dict[str, Any]:
        """The JSON image record (id, file_name, height, width, ...) of sample ``idx`` (a copy)."""
        return self._records[idx][0]

    def load_raw(self, idx: int) -> Dict[str, Any]:
        """Sample ``idx`` before transforms: numpy arrays at the size of the file on disk.

        ``{"image": uint8 [H,W,3] RGB, "boxes": float32 [n,4] xyxy, "masks": uint8 [n,H,W],
        "labels": int64 [n], "instance_ids": int64 [n], "image_id", "file_name", "orig_size": (H, W)}``
        """
        info, anns = self._records[idx]
        path = os.path.join(self.img_dir, info["file_name"])
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"cannot read image {path} (missing, corrupt or not an image)")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        if (h, w) != (int(info["height"]), int(info["width"])):
            raise DataError(
                f"image {path} is {h}x{w} but {self.ann_file} says {info['height']}x{info['width']}"
            )

        boxes = np.zeros((len(anns), 4), dtype=np.float32)
        masks = np.zeros((len(anns), h, w), dtype=np.uint8)
        labels = np.zeros((len(anns),), dtype=np.int64)
        instance_ids = np.zeros((len(anns),), dtype=np.int64)
        for i, ann in enumerate(anns):
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            boxes[i] = (x, y, x + bw, y + bh)
            seg = ann["segmentation"]
            if isinstance(seg, dict) and [int(s) for s in seg["size"]] != [h, w]:
                raise DataError(f"annotation {ann['id']} in {self.ann_file}: RLE size {seg['size']} != image size {[h, w]}")
            masks[i] = segmentation_to_mask(seg, h, w)
            labels[i] = self._source_to_label[int(ann["category_id"])]
            instance_ids[i] = int(ann["id"])
        return {
            "image": image,
            "boxes": boxes,
            "masks": masks,
            "labels": labels,
            "instance_ids": instance_ids,
            "image_id": info["id"],
            "file_name": info["file_name"],
            "orig_size": (h, w),
        }

    def rng(self, idx: int, epoch: Optional[int] = None) -> np.random.Generator:
        """The random stream of sample ``idx`` in ``epoch`` (default: the epoch from `set_epoch`)."""
        epoch = self.epoch if epoch is None else int(epoch)
        return np.random.default_rng([self.seed, epoch, int(idx)])

    def __getitem__(self, item) -> Dict[str, Any]:
        """``dataset[idx]`` (epoch from `set_epoch`) or ``dataset[(epoch, idx)]`` as `TrainBatchSampler` yields,
        which works inside DataLoader workers where `set_epoch` from the main process does not reach."""
        epoch, idx = item if isinstance(item, tuple) else (None, item)
        sample = self.transforms(self.load_raw(idx), self.rng(idx, epoch))
        return to_contract(sample)


def to_contract(sample: Dict[str, Any]) -> Dict[str, Any]:
    """Numpy sample after transforms -> {"image": float32 [3,h,w] tensor, "target": {...}} (docs/design.md)."""
    image = sample["image"]
    h, w = image.shape[:2]
    n = len(sample["boxes"])
    masks = sample["masks"]
    if masks.shape[1:] != (h, w):
        raise RuntimeError(f"masks {masks.shape[1:]} and image {(h, w)} disagree after transforms")
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float(),  # [3, h, w]
        "target": {
            "boxes": torch.from_numpy(np.asarray(sample["boxes"], dtype=np.float32).reshape(n, 4)),
            "labels": torch.from_numpy(np.asarray(sample["labels"], dtype=np.int64)),
            "masks": torch.from_numpy(masks.astype(bool)),  # [n, h, w]
            "instance_ids": torch.from_numpy(np.asarray(sample["instance_ids"], dtype=np.int64)),
            "image_id": int(sample["image_id"]),
            "orig_size": tuple(int(s) for s in sample["orig_size"]),
            "image_size": (int(h), int(w)),
            "file_name": str(sample["file_name"]),
        },
    }
