"""COCO bbox / segm evaluation with pycocotools, and the COCO results format.

Results follow the official COCO format: one dict per detected instance with ``image_id``,
``category_id`` (dataset id, not the model's contiguous label), ``bbox`` (xywh, absolute pixels),
``score`` and, when the model predicts masks, ``segmentation`` as compressed RLE whose ``counts`` is
a str (so the list is JSON-serialisable as is).

Evaluation reproduces mmdetection's ``CocoMetric``:
- ``params.maxDets = [100, 300, 1000]`` (mmdet's ``proposal_nums``). ``mAP`` uses 100 detections per
  image; pycocotools' ``summarize`` uses the last entry (1000) for mAP_50/75/s/m/l.
- For segm the ``bbox`` field is dropped from the results before ``loadRes``: with a bbox present
  pycocotools takes the *box* area as the instance area, which changes the small/medium/large split
  of mask AP (overall mask AP is unaffected).
- Metric names are ``{iou_type}_mAP``, ``_mAP_50``, ``_mAP_75``, ``_mAP_s``, ``_mAP_m``, ``_mAP_l``,
  as fractions in 0..1; -1.0 (pycocotools' marker) where the ground truth has no instance of that
  area range.
"""
from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from ..errors import DataError, VisError
from ..formats import LabelMap, encode_masks_rle, is_torch_tensor, label_mapper
from ..io.files import atomic_write_json, read_json

if TYPE_CHECKING:  # evaluating a results file must not import torch (`vis.formats.is_torch_tensor`)
    from ..structures import Instances

IOU_TYPES = ("bbox", "segm")
# cocoeval.stats index of each reported metric (mmdet's coco_metric_names, AP part).
METRIC_STATS = {"mAP": 0, "mAP_50": 1, "mAP_75": 2, "mAP_s": 3, "mAP_m": 4, "mAP_l": 5}
MAX_DETS = [100, 300, 1000]


class CocoMetrics(dict):
    """``{name: float}`` metrics plus ``summary``: the text pycocotools' ``summarize`` printed.

    A dict subclass so callers (trainer logging, JSON) see plain float values, while the full
    12-line COCO summary stays available for printing.
    """

    def __init__(self, values: Mapping[str, float] = (), summary: str = ""):
        super().__init__(values)
        self.summary = summary


# -- instances -> results --------------------------------------------------------------------------
def _as_list(values: Any) -> list:
    if is_torch_tensor(values):
        return values.detach().cpu().tolist()
    return np.asarray(values).tolist()


def instances_to_coco_results(
    instances: Instances,
    image_id: int,
    label_to_cat_id: LabelMap,
) -> List[Dict[str, Any]]:
    """Per-image ``Instances`` (boxes xyxy at the original size, scores, labels, optional masks) -> COCO results.

    ``label_to_cat_id`` maps the model's contiguous label to the dataset category id: a list
    indexed by label, a dict, or a function. Boxes are rounded to 0.01 px and scores to 1e-5:
    far below anything AP can see, and it keeps results files small.
    """
    n = len(instances)
    if n == 0:
        return []
    to_cat = label_mapper(label_to_cat_id)
    boxes = _as_list(instances.boxes)
    scores = _as_list(instances.scores)
    labels = _as_list(instances.labels)
    rles = encode_masks_rle(instances.masks) if instances.has("masks") else None
    results = []
    for i in range(n):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        result = {
            "image_id": int(image_id),
            "category_id": to_cat(int(labels[i])),
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "score": round(float(scores[i]), 5),
        }
        if rles is not None:
            result["segmentation"] = rles[i]
        results.append(result)
    return results


# -- results files ---------------------------------------------------------------------------------
def write_coco_results(path: str, results: List[Dict[str, Any]]) -> None:
    """Write a COCO results list to ``path`` atomically (never a truncated results file)."""
    atomic_write_json(path, results)


def read_coco_results(path: str) -> List[Dict[str, Any]]:
    """A COCO results file -> its list, every entry checked for the fields COCOeval reads (one-line errors
    instead of a KeyError from inside pycocotools)."""
    results = read_json(path, "COCO results file")
    if not isinstance(results, list):
        raise DataError(f"COCO results file {path} must hold a JSON list of detections, got {type(results).__name__}")
    for index, entry in enumerate(results):
        if not isinstance(entry, dict) or not {"image_id", "category_id", "score"} <= set(entry):
            raise DataError(f"entry {index} of {path} needs image_id, category_id and score: {str(entry)[:80]}")
        if "bbox" not in entry and "segmentation" not in entry:
            raise DataError(f"entry {index} of {path} has neither 'bbox' nor 'segmentation'")
    return results


def load_coco_gt(coco_gt: Any):
    """A pycocotools ``COCO`` or the path of an instances JSON -> ``COCO``, quietly and with one-line errors."""
    from pycocotools.coco import COCO

    if not isinstance(coco_gt, str):
        return coco_gt
    data = read_json(coco_gt, "COCO annotation file")
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise DataError(f"COCO annotation file {coco_gt} needs 'images', 'annotations' and 'categories'")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


# -- evaluation ------------------------------------------------------------------------------------
def _results_for(iou_type: str, results: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Copies of the results fit for ``loadRes`` (which mutates its input) for one IoU type."""
    if iou_type == "bbox":
        return [dict(r) for r in results if "bbox" in r]
    # segm: drop bbox so pycocotools uses the mask area for the small/medium/large split.
    return [{k: v for k, v in r.items() if k != "bbox"} for r in results if "segmentation" in r]


def evaluate_coco(
    coco_gt: Any,
    results: List[Dict[str, Any]],
    iou_types: Sequence[str] = IOU_TYPES,
    img_ids: Optional[Iterable[int]] = None,
) -> CocoMetrics:
    """Run COCOeval for each IoU type; return mmdet-named metrics (fractions) with the summary text.

    ``coco_gt``: pycocotools ``COCO`` or path to the annotation JSON. ``img_ids``: the images that were
    evaluated (default: every image of the ground truth); images without any result count as misses.
    With no results at all (for an IoU type) its metrics are 0.0: pycocotools cannot load an empty list.
    """
    from pycocotools.cocoeval import COCOeval

    if isinstance(iou_types, str):
        iou_types = (iou_types,)
    unknown = [t for t in iou_types if t not in IOU_TYPES]
    if unknown:
        raise VisError(f"unknown COCO metric '{unknown[0]}' (known: {', '.join(IOU_TYPES)})")
    coco = load_coco_gt(coco_gt)
    known_images = set(coco.getImgIds())
    img_ids = sorted(known_images) if img_ids is None else sorted({int(i) for i in img_ids})
    stray = sorted({int(r["image_id"]) for r in results} - known_images)
    if stray:
        raise DataError(
            f"results refer to image id {stray[0]}, which is not in the ground truth ({len(stray)} unknown ids)"
        )

    metrics: Dict[str, float] = {}
    summary: List[str] = []
    for iou_type in iou_types:
        dets = _results_for(iou_type, results)
        if not dets:
            metrics.update({f"{iou_type}_{name}": 0.0 for name in METRIC_STATS})
            summary.append(f"Evaluate annotation type *{iou_type}*: no results, every metric is 0.0\n")
            continue
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            coco_dt = coco.loadRes(dets)
            evaluator = COCOeval(coco, coco_dt, iou_type)
            evaluator.params.imgIds = img_ids
            evaluator.params.maxDets = list(MAX_DETS)
            evaluator.evaluate()
            evaluator.accumulate()
            summary_start = text.tell()
            evaluator.summarize()
        summary.append(f"Evaluate annotation type *{iou_type}*\n" + text.getvalue()[summary_start:])
        for name, index in METRIC_STATS.items():
            metrics[f"{iou_type}_{name}"] = float(evaluator.stats[index])
    return CocoMetrics(metrics, "".join(summary))


# -- printing --------------------------------------------------------------------------------------
def format_table(metrics: Mapping[str, Any]) -> str:
    """Metrics -> a fixed-width table: one row per IoU type with the six AP columns, then any other values.

    Values are shown as percentages with one decimal, the way COCO numbers are usually quoted;
    -1 (no ground truth in that range) is shown as "-".
    """
    columns = list(METRIC_STATS)
    rows = []
    used = set()
    for iou_type in IOU_TYPES:
        keys = [f"{iou_type}_{c}" for c in columns]
        if any(k in metrics for k in keys):
            rows.append([iou_type] + [_fmt(metrics.get(k)) for k in keys])
            used.update(keys)
    lines = []
    if rows:
        header = ["type"] + columns
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

        def fmt_row(row):
            return " | ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths)))

        lines.append(fmt_row(header))
        lines.append("-+-".join("-" * w for w in widths))
        lines.extend(fmt_row(r) for r in rows)
    others = [(k, v) for k, v in metrics.items() if k not in used]
    if others:
        if lines:
            lines.append("")
        width = max(len(k) for k, _ in others)
        for key, value in others:
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            lines.append(f"{key.ljust(width)} : {shown}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    return "-" if value < 0 else f"{100.0 * value:.1f}"
