"""YouTube-VIS video AP / AR on tiny hand-made videos, with the expected numbers worked out by hand."""
import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools import mask as mask_util

from vis.errors import DataError
from vis.evaluation.ytvis_eval import (
    TABLE_KEYS,
    evaluate_ytvis,
    format_table,
    video_iou,
)
from vis.evaluation.ytvis_results import frame_rle

H, W = 20, 30


def rect(y0, x0, h, w, height=H, width=W):
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y0 + h, x0:x0 + w] = True
    return mask


def rle(mask):
    encoded = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def uncompressed_rle(mask):
    """COCO uncompressed RLE: run lengths of the column-major pixels, starting with a (maybe empty) run of 0s."""
    flat = mask.flatten(order="F").astype(np.uint8)
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def track(length, masks):
    """{frame: mask} -> per-frame list of compressed RLE / None."""
    return [rle(masks[f]) if f in masks else None for f in range(length)]


def span(mask, frames):
    return {f: mask for f in frames}


def make_gt(videos, tracks, categories=(1, 2)):
    """videos: [(id, length, h, w)]; tracks: [(video_id, category_id, segmentations[, iscrowd])]."""
    annotations = []
    for index, (video_id, cat_id, segms, *crowd) in enumerate(tracks):
        height, width = next((h, w) for v, _, h, w in videos if v == video_id)
        areas = [None if s is None else float(mask_util.area(frame_rle(s, height, width))) for s in segms]
        annotations.append({"id": index + 1, "video_id": video_id, "category_id": cat_id,
                            "iscrowd": int(crowd[0]) if crowd else 0, "segmentations": segms,
                            "areas": areas, "bboxes": [None] * len(segms)})
    return {
        "videos": [{"id": v, "length": n, "height": h, "width": w,
                    "file_names": [f"v{v}/{t:05d}.jpg" for t in range(n)]} for v, n, h, w in videos],
        "annotations": annotations,
        "categories": [{"id": c, "name": f"c{c}"} for c in categories],
    }


def det(video_id, cat_id, score, segms):
    return {"video_id": video_id, "category_id": cat_id, "score": score, "segmentations": segms}


def one_video(gt_segms, dt_segms, length=6, cat_gt=1, cat_dt=1):
    gt = make_gt([(1, length, H, W)], [(1, cat_gt, gt_segms)])
    return evaluate_ytvis(gt, [det(1, cat_dt, 0.9, dt_segms)])


M = rect(2, 3, 8, 10)  # 80 px


def test_perfect_results_score_one():
    gt = make_gt([(1, 5, H, W), (2, 4, H, W)], [
        (1, 1, track(5, span(rect(0, 0, 6, 6), range(5)))),
        (1, 2, track(5, span(rect(10, 10, 5, 12), range(1, 4)))),
        (2, 1, track(4, {0: rect(3, 3, 4, 4), 3: rect(5, 5, 6, 6)})),
    ])
    results = [det(a["video_id"], a["category_id"], 0.5 + 0.1 * i, a["segmentations"])
               for i, a in enumerate(gt["annotations"])]
    metrics = evaluate_ytvis(gt, results)
    for key in ("AP", "AP50", "AP75", "AR1", "AR10", "AR100", "APs"):
        assert metrics[key] == pytest.approx(1.0), key
    assert metrics["APm"] == -1 and metrics["APl"] == -1  # every track here is small


def test_partial_temporal_overlap_is_area_sum_ratio():
    gt_segms = track(6, span(M, range(0, 4)))
    dt_segms = track(6, span(M, range(2, 6)))
    # intersection 2 frames x 80, union 6 frames x 80
    assert video_iou([dt_segms], [gt_segms])[0, 0] == pytest.approx(2 / 6)
    metrics = one_video(gt_segms, dt_segms)
    assert metrics["AP50"] == 0 and metrics["AP"] == 0 and metrics["AR10"] == 0


def test_iou_thresholds():
    # IoU 3/5 = 0.6: a match at 0.50 but not at 0.75
    metrics = one_video(track(5, span(M, range(5))), track(5, span(M, range(3))), length=5)
    assert metrics["AP50"] == pytest.approx(1.0) and metrics["AP75"] == 0
    # IoU 4/6: matched at 0.50, 0.55, 0.60, 0.65 -> AP = AR = 4/10
    metrics = one_video(track(6, span(M, range(6))), track(6, span(M, range(4))))
    assert metrics["AP50"] == pytest.approx(1.0) and metrics["AP75"] == 0
    assert metrics["AP"] == pytest.approx(0.4) and metrics["AR10"] == pytest.approx(0.4)


def test_one_sided_frame_adds_to_union_and_empty_frames_add_nothing():
    small, extra = rect(0, 0, 4, 5), rect(8, 8, 10, 10)  # 20 px and 100 px
    gt_segms = track(6, span(small, range(4)))
    dt_segms = track(6, {**span(small, range(4)), 4: extra})
    assert video_iou([dt_segms], [gt_segms])[0, 0] == pytest.approx(80 / 180)
    assert one_video(gt_segms, dt_segms)["AP50"] == 0
    # frames 4 and 5 are null on both sides: they add nothing, IoU stays 1
    assert video_iou([gt_segms], [gt_segms])[0, 0] == 1.0
    assert one_video(gt_segms, gt_segms)["AP"] == pytest.approx(1.0)


def test_video_iou_equals_brute_force():
    rng = np.random.default_rng(0)
    length, num_dt, num_gt = 6, 5, 4

    def random_track():
        masks = {}
        for f in range(length):
            if rng.random() < 0.7:
                y, x = rng.integers(0, H - 2), rng.integers(0, W - 2)
                masks[f] = rect(y, x, rng.integers(1, H - y), rng.integers(1, W - x)) & (rng.random((H, W)) < 0.8)
        return masks

    dts = [random_track() for _ in range(num_dt)]
    gts = [random_track() for _ in range(num_gt)]
    empty = np.zeros((H, W), dtype=bool)
    expected = np.zeros((num_dt, num_gt))
    for i, d in enumerate(dts):
        for j, g in enumerate(gts):
            inter = sum(np.sum(d.get(f, empty) & g.get(f, empty)) for f in range(length))
            union = sum(np.sum(d.get(f, empty) | g.get(f, empty)) for f in range(length))
            expected[i, j] = inter / union if union else 0.0
    got = video_iou([track(length, d) for d in dts], [track(length, g) for g in gts])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_size_buckets_use_mean_area_and_inclusive_bounds():
    big = rect(10, 10, 270, 270, 300, 300)  # 72900 px >= 256^2: large
    gt = make_gt([(1, 3, 300, 300)], [(1, 1, track(3, span(big, range(3))))])
    metrics = evaluate_ytvis(gt, [det(1, 1, 0.9, gt["annotations"][0]["segmentations"])])
    assert metrics["APs"] == -1 and metrics["APm"] == -1 and metrics["APl"] == pytest.approx(1.0)
    assert metrics["AP"] == pytest.approx(1.0)
    # exactly 128^2 px is small *and* medium (COCO-style: out of range only when area < lo or area > hi)
    edge = rect(1, 1, 128, 128, 130, 130)
    gt = make_gt([(1, 2, 130, 130)], [(1, 1, track(2, span(edge, range(2))))])
    segms = gt["annotations"][0]["segmentations"]
    metrics = evaluate_ytvis(gt, [det(1, 1, 0.9, segms)])
    assert metrics["APs"] == pytest.approx(1.0) and metrics["APm"] == pytest.approx(1.0) and metrics["APl"] == -1
    # without 'areas' the decoded mask areas decide; with them, the annotated areas do
    del gt["annotations"][0]["areas"]
    assert evaluate_ytvis(gt, [det(1, 1, 0.9, segms)])["APs"] == pytest.approx(1.0)
    gt["annotations"][0]["areas"] = [70000.0, None]
    metrics = evaluate_ytvis(gt, [det(1, 1, 0.9, segms)])
    assert metrics["APs"] == -1 and metrics["APl"] == pytest.approx(1.0)


def test_unmatched_detection_outside_the_size_range_is_ignored():
    small = rect(0, 0, 20, 20, 300, 300)
    big = rect(100, 100, 200, 200, 300, 300)  # 40000 px: medium
    gt = make_gt([(1, 2, 300, 300)], [(1, 1, track(2, span(small, range(2))))])
    results = [det(1, 1, 0.9, track(2, span(big, range(2)))),  # false positive, ranked first
               det(1, 1, 0.8, gt["annotations"][0]["segmentations"])]
    metrics = evaluate_ytvis(gt, results)
    assert metrics["APs"] == pytest.approx(1.0)  # the big false positive does not count among small tracks
    assert metrics["AP"] == pytest.approx(0.5)  # but does among all: precision 1/2 at recall 1


def test_max_dets():
    gt_segms = track(4, span(M, range(2)))
    false_positive = track(4, span(M, range(2, 4)))  # present only where the ground truth is not: IoU 0
    results = [det(1, 1, 0.9 - 0.01 * i, false_positive) for i in range(10)] + [det(1, 1, 0.5, gt_segms)]
    gt = make_gt([(1, 4, H, W)], [(1, 1, gt_segms)])
    metrics = evaluate_ytvis(gt, results)
    assert metrics["AR1"] == 0 and metrics["AR10"] == 0 and metrics["AR100"] == pytest.approx(1.0)
    assert metrics["AP"] == pytest.approx(1 / 11)  # precision 1/11 at every recall point


def test_category_mismatch_scores_zero():
    segms = track(4, span(M, range(4)))
    metrics = one_video(segms, segms, length=4, cat_gt=1, cat_dt=2)
    assert metrics["AP"] == 0 and metrics["AR10"] == 0  # category 2 has no ground truth: left out, not 0


def test_categories_without_ground_truth_are_left_out():
    segms = track(4, span(M, range(4)))
    gt = make_gt([(1, 4, H, W)], [(1, 1, segms)], categories=(1, 2, 3))
    other = track(4, span(rect(12, 12, 5, 5), range(4)))
    metrics = evaluate_ytvis(gt, [det(1, 1, 0.9, segms), det(1, 2, 0.95, other)])
    assert metrics["AP"] == pytest.approx(1.0)
    # two categories with ground truth, one found and one missed: the mean over categories
    gt = make_gt([(1, 4, H, W)], [(1, 1, segms), (1, 2, other)])
    assert evaluate_ytvis(gt, [det(1, 1, 0.9, segms)])["AP"] == pytest.approx(0.5)
    # nothing to define any metric
    gt["annotations"] = []
    assert all(v == -1 for v in evaluate_ytvis(gt, [det(1, 1, 0.9, segms)]).values())


def test_crowd_ground_truth_is_an_ignore_region():
    person, crowd = rect(0, 0, 6, 6), rect(8, 10, 10, 15)
    gt_tracks = [(1, 1, track(3, span(person, range(3)))), (1, 1, track(3, span(crowd, range(3))), 1)]
    results = [det(1, 1, 0.9, track(3, span(crowd, range(3)))),
               det(1, 1, 0.85, track(3, span(crowd, range(3)))),  # a crowd region takes any number
               det(1, 1, 0.8, track(3, span(person, range(3))))]
    assert evaluate_ytvis(make_gt([(1, 3, H, W)], gt_tracks), results)["AP"] == pytest.approx(1.0)
    # without the crowd region the two first detections are false positives: precision 1/3 at recall 1
    assert evaluate_ytvis(make_gt([(1, 3, H, W)], gt_tracks[:1]), results)["AP"] == pytest.approx(1 / 3)


def test_ground_truth_formats_agree():
    """Uncompressed RLE (official train.json) and polygons are read like compressed RLE."""
    masks = span(rect(2, 4, 9, 11), range(3))
    compressed = track(3, masks)
    uncompressed = [uncompressed_rle(masks[f]) for f in range(3)]
    assert [frame_rle(u, H, W)["counts"] for u in uncompressed] == [c["counts"].encode() for c in compressed]
    polygon = [[4.0, 2.0, 15.0, 2.0, 15.0, 11.0, 4.0, 11.0]]
    poly_rle = frame_rle(polygon, H, W)
    poly_segms = [{"size": [H, W], "counts": poly_rle["counts"].decode()}] * 3
    for gt_segms, dt_segms in ((uncompressed, compressed), ([polygon] * 3, poly_segms)):
        metrics = one_video(gt_segms, dt_segms, length=3)
        assert metrics["AP"] == pytest.approx(1.0)


def test_matches_pycocotools_on_single_frame_videos():
    """A one-frame video is an image: AP/AR must equal COCOeval's with the video size ranges."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(0)  # every size range has ground truth; scores rounded to 0.1 tie often
    size = 300
    videos, gt_tracks, results, coco_images, coco_anns, coco_dets = [], [], [], [], [], []
    for video_id in range(1, 9):
        videos.append((video_id, 1, size, size))
        coco_images.append({"id": video_id, "height": size, "width": size})
        for _ in range(rng.integers(1, 4)):
            h, w = rng.integers(5, 290, size=2)
            y, x = rng.integers(0, size - h), rng.integers(0, size - w)
            gt_mask, cat_id = rect(y, x, h, w, size, size), int(rng.integers(1, 4))
            gt_tracks.append((video_id, cat_id, [rle(gt_mask)]))
            coco_anns.append({"id": len(coco_anns) + 1, "image_id": video_id, "category_id": cat_id,
                              "iscrowd": 0, "segmentation": rle(gt_mask), "area": float(gt_mask.sum())})
            for _ in range(rng.integers(0, 4)):  # jittered copies, sometimes with the wrong category
                dy, dx = rng.integers(-h // 8 - 1, h // 8 + 1), rng.integers(-w // 8 - 1, w // 8 + 1)
                mask = rect(max(0, y + dy), max(0, x + dx), h, w, size, size)
                cat = cat_id if rng.random() < 0.8 else int(rng.integers(1, 4))
                results.append(det(video_id, cat, round(float(rng.random()), 1), [rle(mask)]))
        for _ in range(rng.integers(0, 12)):  # background false positives (some videos pass 10 detections)
            h, w = rng.integers(5, 200, size=2)
            mask = rect(rng.integers(0, size - h), rng.integers(0, size - w), h, w, size, size)
            results.append(det(video_id, int(rng.integers(1, 4)), round(float(rng.random()), 1), [rle(mask)]))
    for r in results:
        coco_dets.append({"image_id": r["video_id"], "category_id": r["category_id"], "score": r["score"],
                          "segmentation": r["segmentations"][0]})
    metrics = evaluate_ytvis(make_gt(videos, gt_tracks, categories=(1, 2, 3)), results)

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": coco_images, "annotations": coco_anns,
                        "categories": [{"id": c} for c in (1, 2, 3)]}
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(coco_dets), "segm")
        evaluator.params.areaRng = [[0, 1e10], [0, 128 ** 2], [128 ** 2, 256 ** 2], [256 ** 2, 1e10]]
        evaluator.params.maxDets = [1, 10, 100]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    expected = dict(zip(("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"), evaluator.stats[:9]))
    assert 0 < metrics["AP"] < 1 and min(metrics["APs"], metrics["APm"], metrics["APl"]) > -1
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-12), key


def test_bad_input_is_a_one_line_data_error(tmp_path):
    segms = track(4, span(M, range(4)))
    gt = make_gt([(1, 4, H, W)], [(1, 1, segms)])
    bad = tmp_path / "results.json"
    bad.write_text("[{]")
    cases = [
        (str(bad), "malformed"),
        ([det(7, 1, 0.9, segms)], "video id 7"),
        ([det(1, 9, 0.9, segms)], "category id 9"),
        ([det(1, 1, 0.9, segms[:3])], "3 segmentations for a 4-frame video"),
        ([det(1, 1, float("nan"), segms)], "finite"),
        ([det(1, 1, 0.9, [rle(rect(0, 0, 2, 2, 10, 10))] * 4)], "RLE size"),
    ]
    for results, needle in cases:
        with pytest.raises(DataError) as info:
            evaluate_ytvis(gt, results)
        assert needle in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="annotations"):
        evaluate_ytvis({"videos": gt["videos"], "categories": gt["categories"]}, [])


def test_paths_and_table(tmp_path):
    segms = track(4, span(M, range(4)))
    gt_path, results_path = tmp_path / "gt.json", tmp_path / "results.json"
    gt_path.write_text(json.dumps(make_gt([(1, 4, H, W)], [(1, 1, segms)])))
    results_path.write_text(json.dumps([det(1, 1, 0.9, segms)]))
    metrics = evaluate_ytvis(str(gt_path), str(results_path))
    table = format_table(metrics)
    lines = table.splitlines()
    assert len(lines) == 3 and lines[0].split() == " | ".join(TABLE_KEYS).split()
    assert lines[2].split(" | ")[0].strip() == "100.0" and lines[2].split(" | ")[4].strip() == "-"
