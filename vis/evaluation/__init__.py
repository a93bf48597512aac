"""Evaluation: COCO bbox/segm metrics and the COCO results format (YouTube-VIS evaluation goes next to it)."""
from ..formats import encode_mask_rle, encode_masks_rle  # the one RLE encoder, re-exported for users
from .coco_eval import (
    IOU_TYPES,
    CocoMetrics,
    evaluate_coco,
    format_table,
    instances_to_coco_results,
    load_coco_gt,
    write_coco_results,
)

__all__ = [
    "IOU_TYPES",
    "CocoMetrics",
    "encode_mask_rle",
    "encode_masks_rle",
    "evaluate_coco",
    "format_table",
    "instances_to_coco_results",
    "load_coco_gt",
    "write_coco_results",
]
