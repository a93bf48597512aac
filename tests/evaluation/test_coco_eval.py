"""COCO results format and pycocotools evaluation on a small hand-made ground truth."""
import copy
import json
import os

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from vis.evaluation import (
    encode_mask_rle,
    encode_masks_rle,
    evaluate_coco,
    format_table,
    instances_to_coco_results,
    load_coco_gt,
    write_coco_results,
)
from vis.structures import Instances

CAT_IDS = [3, 7]  # label 0 -> category 3, label 1 -> category 7 (non-consecutive ids)
H, W = 160, 200


def _rect(y0, x0, h, w):
    mask = np.zeros((H, W), dtype=bool)
    mask[y0 : y0 + h, x0 : x0 + w] = True
    return mask


def _disk(cy, cx, r):
    yy, xx = np.mgrid[:H, :W]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def make_gt():
    """3 images; small (<32^2), medium and large objects of two categories; one polygon annotation."""
    masks = {
        1: [(_rect(10, 10, 20, 15), 3), (_disk(80, 120, 30), 7)],  # small 300 px, medium ~2800 px
        2: [(_rect(20, 30, 110, 120), 7), (_rect(5, 170, 12, 12), 3)],  # large 13200 px, small 144 px
        3: [(_disk(60, 60, 22), 3)],  # medium ~1500 px
    }
    images, annotations = [], []
    ann_id = 1
    for image_id, objects in masks.items():
        images.append({"id": image_id, "file_name": f"{image_id:03d}.png", "height": H, "width": W})
        for mask, cat_id in objects:
            rle = _rle(mask)
            x, y, w, h = mask_util.toBbox(mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))).tolist()
            annotations.append({
                "id": ann_id, "image_id": image_id, "category_id": cat_id, "iscrowd": 0,
                "segmentation": rle, "area": float(mask.sum()), "bbox": [x, y, w, h],
            })
            ann_id += 1
    # A polygon triangle in image 3 (category 7), area ~ 50*40/2 = 1000 < 32^2: small.
    poly = [150.0, 20.0, 190.0, 20.0, 150.0, 70.0]
    annotations.append({
        "id": ann_id, "image_id": 3, "category_id": 7, "iscrowd": 0, "segmentation": [poly],
        "area": 1000.0, "bbox": [150.0, 20.0, 40.0, 50.0],
    })
    categories = [{"id": 3, "name": "cat3"}, {"id": 7, "name": "cat7"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def gt_coco(data=None):
    coco = COCO()
    coco.dataset = copy.deepcopy(data or make_gt())
    coco.createIndex()
    return coco


def perfect_instances(coco, image_id, swap_labels=False):
    """Instances reproducing the ground truth of one image (boxes xyxy, bool masks, score 1)."""
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
    masks = np.stack([coco.annToMask(a).astype(bool) for a in anns])
    boxes = []
    for m in masks:
        x, y, w, h = mask_util.toBbox(mask_util.encode(np.asfortranarray(m.astype(np.uint8)))).tolist()
        boxes.append([x, y, x + w, y + h])
    labels = [CAT_IDS.index(a["category_id"]) for a in anns]
    if swap_labels:
        labels = [1 - label for label in labels]
    return Instances(
        (H, W),
        boxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.ones(len(anns)),
        labels=torch.tensor(labels, dtype=torch.int64),
        masks=torch.from_numpy(masks),
    )


def perfect_results(coco, swap_labels=False):
    results = []
    for image_id in coco.getImgIds():
        results += instances_to_coco_results(perfect_instances(coco, image_id, swap_labels), image_id, CAT_IDS)
    return results


AP_NAMES = ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"]


def test_perfect_predictions_give_ap_one():
    coco = gt_coco()
    metrics = evaluate_coco(coco, perfect_results(coco))
    for iou_type in ("bbox", "segm"):
        for name in AP_NAMES:
            assert metrics[f"{iou_type}_{name}"] == pytest.approx(1.0), (iou_type, name, metrics)
    assert "Average Precision" in metrics.summary
    assert all(isinstance(v, float) for v in metrics.values())


def test_wrong_category_gives_zero():
    coco = gt_coco()
    metrics = evaluate_coco(coco, perfect_results(coco, swap_labels=True))
    for iou_type in ("bbox", "segm"):
        assert metrics[f"{iou_type}_mAP"] == 0.0
        assert metrics[f"{iou_type}_mAP_50"] == 0.0


def test_empty_results_give_zero_without_crashing():
    metrics = evaluate_coco(gt_coco(), [])
    assert set(metrics) == {f"{t}_{n}" for t in ("bbox", "segm") for n in AP_NAMES}
    assert all(v == 0.0 for v in metrics.values())
    assert "no results" in metrics.summary
    assert "bbox" in format_table(metrics)


def test_segm_area_ranges_use_mask_area_not_bbox():
    """A small false-positive mask with a large (inconsistent) bbox must count in segm mAP_s.

    pycocotools would take the bbox area if the bbox field were kept, file the false positive under
    "large" and report a perfect small-object mask AP.
    """
    small = _rect(10, 10, 20, 20)
    data = {
        "images": [{"id": 1, "height": H, "width": W, "file_name": "a.png"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "iscrowd": 0, "segmentation": _rle(small),
                         "area": 400.0, "bbox": [10.0, 10.0, 20.0, 20.0]}],
        "categories": [{"id": 3, "name": "cat3"}],
    }
    results = [
        {"image_id": 1, "category_id": 3, "score": 0.9, "bbox": [10.0, 10.0, 20.0, 20.0], "segmentation": _rle(small)},
        {"image_id": 1, "category_id": 3, "score": 0.95, "bbox": [40.0, 40.0, 150.0, 110.0],
         "segmentation": _rle(_rect(130, 150, 20, 20))},
    ]
    before = copy.deepcopy(results)
    metrics = evaluate_coco(gt_coco(data), results)
    assert metrics["segm_mAP_s"] == pytest.approx(0.5, abs=0.01)
    assert metrics["bbox_mAP_s"] == pytest.approx(1.0)  # the FP box is large: ignored for small objects
    assert results == before  # loadRes mutates its input; evaluate_coco must not pass ours


def test_img_ids_restricts_evaluation():
    coco = gt_coco()
    only_image_1 = [r for r in perfect_results(coco) if r["image_id"] == 1]
    assert evaluate_coco(coco, only_image_1)["bbox_mAP"] < 1.0  # images 2 and 3 missed
    assert evaluate_coco(coco, only_image_1, iou_types=("bbox",), img_ids=[1])["bbox_mAP_50"] == pytest.approx(1.0)


def test_unknown_image_id_is_a_data_error():
    from vis.errors import DataError

    bad = [{"image_id": 99, "category_id": 3, "score": 1.0, "bbox": [0, 0, 5, 5]}]
    with pytest.raises(DataError, match="image id 99"):
        evaluate_coco(gt_coco(), bad)


def test_rle_counts_are_str_and_decode_back():
    mask = _disk(70, 90, 25) | _rect(0, 0, 3, 7)
    rle = encode_mask_rle(mask)
    assert rle["size"] == [H, W] and isinstance(rle["counts"], str)
    json.dumps(rle)
    decoded = mask_util.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")})
    np.testing.assert_array_equal(decoded.astype(bool), mask)
    # tensors, float probabilities and the vectorised form agree
    assert encode_mask_rle(torch.from_numpy(mask)) == rle
    assert encode_mask_rle(torch.from_numpy(mask).float() * 0.9) == rle
    masks = np.stack([mask, ~mask, np.zeros_like(mask)])
    assert encode_masks_rle(masks) == [encode_mask_rle(m) for m in masks]
    assert encode_masks_rle(np.zeros((0, H, W), dtype=bool)) == []


def test_instances_to_coco_results_fields():
    masks = torch.zeros((2, H, W), dtype=torch.bool)
    masks[0, 10:20, 30:50] = True
    inst = Instances(
        (H, W),
        boxes=torch.tensor([[30.0, 10.0, 50.0, 20.0], [1.234567, 2.5, 11.0, 8.0]]),
        scores=torch.tensor([0.987654321, 0.1]),
        labels=torch.tensor([1, 0]),
        masks=masks,
    )
    for mapping in (CAT_IDS, {0: 3, 1: 7}, lambda label: CAT_IDS[label]):
        results = instances_to_coco_results(inst, 5, mapping)
        assert [r["category_id"] for r in results] == [7, 3]
    assert results[0]["bbox"] == [30.0, 10.0, 20.0, 10.0]
    assert results[1]["bbox"] == [1.23, 2.5, 9.77, 5.5]
    assert results[0]["score"] == pytest.approx(0.98765, abs=1e-6)
    assert results[0]["image_id"] == 5 and isinstance(results[0]["image_id"], int)
    assert isinstance(results[0]["segmentation"]["counts"], str)
    json.dumps(results)
    no_masks = Instances((H, W), boxes=inst.boxes, scores=inst.scores, labels=inst.labels)
    assert "segmentation" not in instances_to_coco_results(no_masks, 5, CAT_IDS)[0]
    assert instances_to_coco_results(Instances((H, W)), 5, CAT_IDS) == []


def test_results_file_is_atomic_and_loadable(tmp_path):
    coco = gt_coco()
    results = perfect_results(coco)
    path = str(tmp_path / "results.json")
    write_coco_results(path, results)
    assert sorted(os.listdir(tmp_path)) == ["results.json"]  # no temporary left behind
    with open(path) as f:
        assert json.load(f) == results
    dt = coco.loadRes(path)
    assert len(dt.getAnnIds()) == len(results)
    # a failure while writing leaves the previous file intact and no temporary
    with pytest.raises(TypeError):
        write_coco_results(path, [{"image_id": 1, "bad": {1, 2}}])
    assert sorted(os.listdir(tmp_path)) == ["results.json"]
    with open(path) as f:
        assert json.load(f) == results


def test_ground_truth_from_path(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(make_gt()))
    coco = load_coco_gt(str(path))
    metrics = evaluate_coco(str(path), perfect_results(coco), iou_types="segm")
    assert set(metrics) == {f"segm_{n}" for n in AP_NAMES}
    assert metrics["segm_mAP"] == pytest.approx(1.0)


def test_format_table_is_readable():
    coco = gt_coco()
    metrics = evaluate_coco(coco, perfect_results(coco))
    table = format_table(metrics)
    lines = table.splitlines()
    assert lines[0].split(" | ")[0].strip() == "type" and "mAP_50" in lines[0]
    assert lines[2].startswith("bbox") and lines[3].startswith("segm")
    assert "100.0" in lines[2]
    assert "-" in format_table({"bbox_mAP": 0.5, "bbox_mAP_l": -1.0})
    assert "loss" in format_table({"loss": 0.25})
