"""COCO 2017 class tables: the 80 thing names, their category ids, and the 91-slot layout of DETR-family heads.

Official checkpoints carry their label space in two ways. mmdetection and detectron2 heads have 80 rows in
category-id order (label ``i`` is ``COCO_CLASSES[i]``, category id ``COCO_THING_IDS[i]``); mmdet files also store
the names in their meta. DETR-family heads (SOLQ) have 91 rows indexed by the category id itself, 11 of which
(0 and the ids COCO 2017 dropped) are never annotated. Configs name these tables by string
(`vis.data.label_space.named_categories`): ``class_names='coco'`` (80) or ``'coco_id_slots'`` (91, unused
slots named 'N/A').
"""
from __future__ import annotations

from typing import List, Optional, Tuple

COCO_CLASSES: Tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

# Category ids of the 80 classes, in id order (ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 are unused).
COCO_THING_IDS: Tuple[int, ...] = tuple(i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83})
NUM_COCO_ID_SLOTS = 91
UNUSED_COCO_ID_SLOTS: Tuple[int, ...] = tuple(i for i in range(NUM_COCO_ID_SLOTS) if i not in set(COCO_THING_IDS))
UNUSED_NAME = "N/A"


def coco_id_slot_names() -> List[str]:
    """91 names: slot ``category id`` holds that category's name, unused slots 'N/A' (as DETR's table)."""
    names = [UNUSED_NAME] * NUM_COCO_ID_SLOTS
    for cat_id, name in zip(COCO_THING_IDS, COCO_CLASSES):
        names[cat_id] = name
    return names


def coco_category_id(name: str) -> Optional[int]:
    """COCO category id of a class name ('tennis racket' or 'tennis_racket'), None if not a COCO class."""
    key = str(name).replace("_", " ").strip().lower()
    for cat_id, coco_name in zip(COCO_THING_IDS, COCO_CLASSES):
        if coco_name == key:
            return cat_id
    return None
