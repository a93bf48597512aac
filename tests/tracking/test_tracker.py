"""Online tracker (vis/tracking/tracker.py) and YouTube-VIS aggregation (vis/tracking/video_results.py).

Scripted detections: every object has its own embedding (5 * one-hot - 1 in 8-D, so an object's dot product
with itself is 23 and with any other object -2), a box, a label and a score.
"""
import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util

from vis.errors import ConfigError
from vis.structures import Instances
from vis.tracking import OnlineTracker, VideoResultAccumulator, build_tracker

SIZE = (100, 200)  # (H, W) of the scripted frames
DIM = 8


def embed(obj: int) -> torch.Tensor:
    e = torch.full((DIM,), -1.0)
    e[obj] += 5.0
    return e


def frame(dets, size=SIZE):
    """dets: list of dict(obj, box, score=0.9, label=0[, query]) -> Instances with boxes, scores, labels, masks,
    track_embeds (and query_index when every det gives one)."""
    n = len(dets)
    boxes = torch.tensor([d["box"] for d in dets], dtype=torch.float32).view(n, 4)
    masks = torch.zeros((n, *size), dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes.round().long().tolist()):
        masks[i, y1:y2, x1:x2] = True
    fields = dict(
        boxes=boxes,
        scores=torch.tensor([d.get("score", 0.9) for d in dets], dtype=torch.float32),
        labels=torch.tensor([d.get("label", 0) for d in dets], dtype=torch.int64),
        masks=masks,
        track_embeds=torch.stack([embed(d["obj"]) for d in dets]) if n else torch.zeros(0, DIM),
    )
    if n and all("query" in d for d in dets):
        fields["query_index"] = torch.tensor([d["query"] for d in dets], dtype=torch.int64)
    return Instances(size, **fields)


def ids_by_obj(out, dets):
    """Map each output detection back to its scripted object through its box: {obj: track_id}."""
    result = {}
    for box, tid in zip(out.boxes.tolist(), out.track_ids.tolist()):
        obj = [d["obj"] for d in dets if list(map(float, d["box"])) == box]
        result[obj[0]] = tid
    return result


def crossing_video(num_frames=9):
    """Objects 0 and 1 (same label) swap sides; at the middle frame their boxes coincide."""
    video = []
    for t in range(num_frames):
        x0 = 10 + 20 * t  # object 0 moves right
        x1 = 170 - 20 * t  # object 1 moves left
        dets = [dict(obj=0, box=[x0, 30, x0 + 30, 60]), dict(obj=1, box=[x1, 32, x1 + 30, 62])]
        video.append(dets if t % 2 == 0 else dets[::-1])  # input order must not matter
    return video


def test_crossing_objects_keep_their_ids():
    tracker = OnlineTracker()
    seen = []
    for dets in crossing_video():
        out = tracker.update(frame(dets))
        assert out.track_ids.dtype == torch.int64
        seen.append(ids_by_obj(out, dets))
    assert seen[0] == {0: 0, 1: 1}
    assert all(s == seen[0] for s in seen)


def test_crossing_with_greedy_reference_scheme_too():
    tracker = OnlineTracker(assignment="greedy")
    seen = [ids_by_obj(tracker.update(frame(d)), d) for d in crossing_video()]
    assert all(s == {0: 0, 1: 1} for s in seen)


def _occlusion_ids(gap, retain=5):
    """Object 0 visible at frames 0-2, hidden for `gap` frames, then back; object 1 always visible."""
    tracker = OnlineTracker(num_frames_retain=retain)
    a = dict(obj=0, box=[10, 10, 40, 40])
    b = dict(obj=1, box=[120, 50, 160, 90], label=1)
    ids = []
    for t in range(3 + gap + 1):
        dets = [a, b] if (t < 3 or t == 3 + gap) else [b]
        ids.append(ids_by_obj(tracker.update(frame(dets)), dets))
    return ids


def test_occluded_object_returns_with_same_id_within_retention():
    ids = _occlusion_ids(gap=3)
    assert ids[0] == {0: 0, 1: 1} and ids[-1] == {0: 0, 1: 1}
    # boundary: hidden retain - 1 frames is still recovered (mmdet3: removed once frame - last_seen >= retain)
    assert _occlusion_ids(gap=4)[-1] == {0: 0, 1: 1}


def test_object_gets_new_id_after_retention():
    ids = _occlusion_ids(gap=5)
    assert ids[-1] == {0: 2, 1: 1}


def test_retention_counts_given_frame_indices():
    tracker = OnlineTracker(num_frames_retain=5)
    a = [dict(obj=0, box=[10, 10, 40, 40])]
    assert tracker.update(frame(a), frame_index=0).track_ids.tolist() == [0]
    assert tracker.update(frame(a), frame_index=4).track_ids.tolist() == [0]  # 4 - 0 < 5
    assert tracker.update(frame([]), frame_index=9).track_ids.tolist() == []  # 9 - 4 >= 5: removed
    assert tracker.num_tracks == 0
    assert tracker.update(frame(a), frame_index=10).track_ids.tolist() == [1]
    with pytest.raises(ValueError):
        tracker.update(frame(a), frame_index=10)


def test_new_object_entering_gets_new_id():
    tracker = OnlineTracker()
    a = dict(obj=0, box=[10, 10, 40, 40])
    c = dict(obj=2, box=[100, 10, 130, 40])
    assert ids_by_obj(tracker.update(frame([a])), [a]) == {0: 0}
    assert ids_by_obj(tracker.update(frame([a])), [a]) == {0: 0}
    assert ids_by_obj(tracker.update(frame([c, a])), [c, a]) == {0: 0, 2: 1}
    assert ids_by_obj(tracker.update(frame([a, c])), [a, c]) == {0: 0, 2: 1}


def test_contested_track_goes_to_one_detection_other_starts_new():
    tracker = OnlineTracker()
    tracker.update(frame([dict(obj=0, box=[10, 10, 40, 40])]))
    # Both look like object 0 and overlap its box; the better-scoring one keeps id 0.
    dets = [dict(obj=0, box=[12, 10, 42, 40], score=0.6), dict(obj=0, box=[10, 11, 40, 41], score=0.9)]
    out = tracker.update(frame(dets))
    assert sorted(out.track_ids.tolist()) == [0, 1]
    assert out.track_ids[out.scores.argmax()].item() == 0


def test_greedy_reference_scheme_can_duplicate_ids():
    """Documents the reference quirk the optimal assignment avoids (reference_models.md §5.4)."""
    dets = [dict(obj=0, box=[12, 10, 42, 40], score=0.6), dict(obj=0, box=[10, 11, 40, 41], score=0.9)]
    greedy = OnlineTracker(assignment="greedy")
    greedy.update(frame([dict(obj=0, box=[10, 10, 40, 40])]))
    assert greedy.update(frame(dets)).track_ids.tolist() == [0, 0]
    optimal = OnlineTracker()
    optimal.update(frame([dict(obj=0, box=[10, 10, 40, 40])]))
    assert optimal.update(frame(dets)).track_ids.tolist() == [1, 0]


def test_equal_contest_is_won_by_the_earlier_detection():
    tracker = OnlineTracker()
    tracker.update(frame([dict(obj=0, box=[10, 10, 40, 40])]))
    same = dict(obj=0, box=[10, 10, 40, 40])
    assert tracker.update(frame([same, same])).track_ids.tolist() == [0, 1]


def test_never_duplicate_ids_in_a_frame_random_scenes():
    rng = np.random.default_rng(0)
    tracker = OnlineTracker(init_score_thr=0.05)
    for _ in range(30):
        n = int(rng.integers(0, 8))
        dets = [dict(obj=int(rng.integers(0, 3)), box=[x, 10, x + 30, 40], score=float(rng.uniform(0.05, 1)),
                     label=int(rng.integers(0, 2))) for x in rng.uniform(0, 150, n).tolist()]
        ids = tracker.update(frame(dets)).track_ids.tolist()
        assert len(ids) == len(set(ids)) == n


def test_low_score_detection_does_not_start_a_track_but_can_continue_one():
    tracker = OnlineTracker(score_thr=0.05, init_score_thr=0.3)
    a, b = dict(obj=0, box=[10, 10, 40, 40]), dict(obj=1, box=[100, 10, 130, 40], score=0.2)
    out = tracker.update(frame([a, b]))
    assert out.track_ids.tolist() == [0] and len(out) == 1
    assert tracker.num_tracks == 1
    weak_a = dict(obj=0, box=[12, 10, 42, 40], score=0.2)  # below init_score_thr, continues track 0
    assert tracker.update(frame([weak_a])).track_ids.tolist() == [0]
    too_low = dict(obj=0, box=[12, 10, 42, 40], score=0.04)  # below score_thr: ignored
    assert len(tracker.update(frame([too_low]))) == 0
    assert tracker.update(frame([dict(obj=2, box=[60, 60, 90, 90])])).track_ids.tolist() == [1]


def test_dedup_by_query_index():
    dets = [dict(obj=0, box=[10, 10, 40, 40], score=0.5, label=2, query=7),
            dict(obj=0, box=[10, 10, 40, 40], score=0.9, label=1, query=7),
            dict(obj=1, box=[100, 10, 130, 40], score=0.8, label=0, query=3)]
    out = OnlineTracker().update(frame(dets))
    assert out.labels.tolist() == [1, 0]  # input order kept, one detection per query
    assert out.track_ids.tolist() == [0, 1]
    assert out.query_index.tolist() == [7, 3]
    assert len(OnlineTracker(dedup_by=None).update(frame(dets))) == 3


def test_max_per_frame_keeps_best_scores():
    dets = [dict(obj=i % DIM, box=[10 * i, 10, 10 * i + 8, 20], score=0.1 + 0.05 * i) for i in range(12)]
    out = OnlineTracker(max_per_frame=10).update(frame(dets))
    assert len(out) == 10 and out.scores.min().item() == pytest.approx(0.2)


def test_deterministic_and_reset_restarts_ids():
    video = crossing_video() + [[dict(obj=2, box=[50, 50, 80, 80])]]
    tracker = OnlineTracker()
    first = [tracker.update(frame(d)).track_ids.tolist() for d in video]
    tracker.reset()
    assert tracker.num_tracks == 0
    second = [tracker.update(frame(d)).track_ids.tolist() for d in video]
    third = [OnlineTracker().update(frame(d)).track_ids.tolist() for d in video[:1]]
    assert first == second
    assert first[0] == third[0] == [0, 1]
    assert first[-1] == [2]


def test_momentum_memory_and_numpy_fields():
    tracker = OnlineTracker(memory="momentum", momentum=0.5)
    inst = frame([dict(obj=0, box=[10, 10, 40, 40])])
    np_inst = Instances(SIZE, **{k: v.numpy() for k, v in inst.fields().items()})
    out = tracker.update(np_inst)
    assert isinstance(out.track_ids, np.ndarray) and out.track_ids.tolist() == [0]
    np_inst.track_embeds = np.zeros((1, DIM), dtype=np.float32) + embed(0).numpy() * 3
    tracker.update(np_inst)
    np.testing.assert_allclose(tracker.tracks.embeds[0], embed(0).numpy() * 2)  # 0.5 * e + 0.5 * 3e


def test_empty_frames_and_missing_embeddings():
    tracker = OnlineTracker()
    out = tracker.update(frame([]))
    assert len(out) == 0 and out.track_ids.tolist() == []
    # first frame with detections after an empty one starts ids at 0
    assert tracker.update(frame([dict(obj=0, box=[10, 10, 40, 40])])).track_ids.tolist() == [0]
    inst = frame([dict(obj=0, box=[10, 10, 40, 40])])
    inst.remove("track_embeds")
    with pytest.raises(ConfigError, match="track_embeds"):
        tracker.update(inst)


def test_build_tracker_checks_keys():
    tracker = build_tracker(dict(type="OnlineTracker", init_score_thr=0.3, match_weights=dict(iou=1.0)))
    assert tracker.init_score_thr == 0.3 and tracker.w_iou == 1.0 and tracker.w_lab == 10.0
    with pytest.raises(ConfigError, match="init_thr"):
        build_tracker(dict(type="OnlineTracker", init_thr=0.3))
    with pytest.raises(ConfigError, match="label"):
        OnlineTracker(match_weights=dict(label=1.0))
    with pytest.raises(ConfigError):
        OnlineTracker(assignment="hungarian")


# -- VideoResultAccumulator ------------------------------------------------------------------------
def tracked(size, rows):
    """rows: list of (track_id, label, score, (x1, y1, x2, y2)) -> Instances as the tracker returns them."""
    masks = torch.zeros((len(rows), *size), dtype=torch.bool)
    for i, (_, _, _, (x1, y1, x2, y2)) in enumerate(rows):
        masks[i, y1:y2, x1:x2] = True
    return Instances(size, track_ids=torch.tensor([r[0] for r in rows], dtype=torch.int64),
                     labels=torch.tensor([r[1] for r in rows], dtype=torch.int64),
                     scores=torch.tensor([r[2] for r in rows], dtype=torch.float32), masks=masks)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools decode under numpy 2
def test_video_results_vote_mean_and_absent_frames():
    size = (20, 30)
    acc = VideoResultAccumulator(num_frames=5, frame_size=size)
    acc.add(tracked(size, [(0, 2, 0.9, (1, 1, 5, 5)), (1, 3, 0.4, (10, 2, 20, 12))]))
    acc.add(tracked(size, [(0, 2, 0.6, (2, 1, 6, 5))]))
    acc.add(tracked(size, []))
    acc.add(tracked(size, [(1, 1, 0.2, (10, 2, 20, 12)), (0, 1, 0.3, (3, 1, 7, 5))]))
    acc.add(tracked(size, [(5, 0, 0.7, (0, 0, 30, 20))]), frame_index=4)
    assert len(acc) == 3
    cat_ids = [1, 2, 4, 5]  # non-consecutive dataset ids
    results = acc.results(video_id=7, label_to_category_id=cat_ids)
    json.dumps(results)
    by_score = [(r["category_id"], round(r["score"], 6)) for r in results]
    # track 5: label 0, 0.7; track 0: labels [2, 2, 1] -> 2, mean 0.6; track 1: labels [3, 1] tie -> 1, mean 0.3
    assert by_score == [(1, 0.7), (4, 0.6), (2, 0.3)]
    track0 = results[1]
    assert track0["video_id"] == 7 and len(track0["segmentations"]) == 5
    assert [s is None for s in track0["segmentations"]] == [False, False, True, False, True]
    for t, box in ((0, (1, 1, 5, 5)), (1, (2, 1, 6, 5)), (3, (3, 1, 7, 5))):
        rle = track0["segmentations"][t]
        assert isinstance(rle["counts"], str) and rle["size"] == [20, 30]
        expected = np.zeros(size, dtype=np.uint8)
        expected[box[1]:box[3], box[0]:box[2]] = 1
        decoded = mask_util.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")})
        np.testing.assert_array_equal(decoded, expected)
    assert [r["score"] for r in acc.results(7, cat_ids, top_k=2)] == [r["score"] for r in results[:2]]


def test_video_results_checks_frames_and_duplicate_ids():
    size = (20, 30)
    acc = VideoResultAccumulator(num_frames=2, frame_size=size)
    acc.add(tracked(size, [(0, 0, 0.3, (0, 0, 4, 4)), (0, 1, 0.8, (5, 5, 9, 9))]))  # greedy-tracker duplicate
    (entry,) = acc.results(0, [1, 2])
    assert entry["category_id"] == 2 and entry["score"] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        acc.add(tracked(size, []), frame_index=0)  # frame 0 already added
    with pytest.raises(ValueError):
        acc.add(tracked(size, []), frame_index=2)  # outside the video
    with pytest.raises(ValueError):
        acc.add(tracked((10, 10), [(1, 0, 0.5, (0, 0, 4, 4))]))  # wrong frame size


def test_video_results_spill_to_disk_gives_identical_entries(tmp_path):
    """Past its memory budget the accumulator moves RLEs to a spill file; the results must not change."""
    size = (20, 30)
    spill = tmp_path / "clip.spill"
    in_memory = VideoResultAccumulator(num_frames=12, frame_size=size)
    spilling = VideoResultAccumulator(num_frames=12, frame_size=size, spill_path=str(spill), max_memory_bytes=10)
    for t in range(12):
        rows = [(0, t % 2, 0.5 + 0.01 * t, (t, 1, t + 5, 6)), (3, 2, 0.4, (2, 10, 9, 10 + t % 5 + 1))]
        for acc in (in_memory, spilling):
            acc.add(tracked(size, rows[: 1 + t % 2]))
    assert spill.is_file() and spill.stat().st_size > 0  # it did spill
    assert spilling.results(1, [1, 2, 3]) == in_memory.results(1, [1, 2, 3])
    assert spilling.results(1, [1, 2, 3], top_k=1) == in_memory.results(1, [1, 2, 3], top_k=1)
    spilling.close()
    assert not spill.exists()


def test_benchmark_tracker_tool_reports_ms_per_frame():
    import re
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "tools/benchmark_tracker.py", "--frames", "5", "--objects", "4",
                           "--dim", "16"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"4 tracks x 4 detections.*median ([0-9.]+) ms/frame over 5 frames \(ids used: 4\)", proc.stdout)
    assert match and float(match.group(1)) > 0


def test_nms_removes_same_label_duplicates_before_association():
    """Two queries on one object (box IoU 0.94) with one label: per-class NMS keeps the better one, so the
    object gets one track; a different label or a far box is not suppressed; None keeps all."""
    dets = [dict(obj=0, box=[10, 10, 40, 40], score=0.6, label=1, query=0),
            dict(obj=0, box=[11, 10, 41, 40], score=0.9, label=1, query=1),  # duplicate, better score
            dict(obj=0, box=[10, 11, 40, 41], score=0.5, label=2, query=2),  # same place, other label
            dict(obj=1, box=[100, 10, 130, 40], score=0.4, label=1, query=3)]
    out = OnlineTracker(nms_iou_thr=0.5).update(frame(dets))
    assert out.query_index.tolist() == [1, 2, 3]
    assert out.track_ids.tolist() == [0, 1, 2]
    assert len(OnlineTracker(nms_iou_thr=None).update(frame(dets))) == 4
    assert len(OnlineTracker(nms_iou_thr=0.95).update(frame(dets))) == 4  # IoU 0.94 < 0.95: kept


def test_nms_iou_thr_is_validated():
    with pytest.raises(ConfigError, match="nms_iou_thr"):
        OnlineTracker(nms_iou_thr=1.5)
