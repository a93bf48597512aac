"""Identity switches of YouTube-VIS results, on scripted two-object videos with hand-counted answers."""
import json
import subprocess
import sys

import pytest

from test_ytvis_eval import det, make_gt, rect, track
from vis.evaluation.identity import count_identity_switches

H, W, T = 20, 30, 6
A = rect(2, 2, 6, 6)     # left object
B = rect(10, 20, 6, 6)   # right object, far from A


def two_objects(length=T):
    return make_gt([(1, length, H, W)], [(1, 1, track(length, {f: A for f in range(length)})),
                                         (1, 2, track(length, {f: B for f in range(length)}))])


def test_perfect_tracks_have_no_switches():
    gt = two_objects()
    results = [det(1, 1, 0.9, track(T, {f: A for f in range(T)})), det(1, 2, 0.9, track(T, {f: B for f in range(T)}))]
    assert count_identity_switches(gt, results) == {"IDSW": 0.0, "IDSW_per_video": 0.0, "matched_fraction": 1.0}


def test_track_split_in_two_is_one_switch_per_split():
    gt = two_objects()
    results = [det(1, 1, 0.9, track(T, {f: A for f in range(3)})),        # A's first half
               det(1, 1, 0.8, track(T, {f: A for f in range(3, T)})),     # A's second half: new id -> 1 switch
               det(1, 2, 0.9, track(T, {f: B for f in range(T)}))]
    assert count_identity_switches(gt, results)["IDSW"] == 1.0


def test_swapped_identities_count_for_both_objects():
    gt = two_objects()
    # track 0 follows A then jumps to B at frame 3; track 1 does the opposite -> A and B each switch once.
    results = [det(1, 1, 0.9, track(T, {f: (A if f < 3 else B) for f in range(T)})),
               det(1, 1, 0.9, track(T, {f: (B if f < 3 else A) for f in range(T)}))]
    assert count_identity_switches(gt, results)["IDSW"] == 2.0


def test_gap_then_same_track_is_not_a_switch_and_category_is_ignored():
    gt = two_objects()
    frames = [0, 1, 4, 5]  # the track loses A for frames 2-3 (occlusion) and finds it again
    results = [det(1, 2, 0.9, track(T, {f: A for f in frames}))]  # wrong category on purpose
    out = count_identity_switches(gt, results)
    assert out["IDSW"] == 0.0
    assert out["matched_fraction"] == pytest.approx(4 / 12)


def test_low_score_tracks_and_poor_overlap_do_not_count():
    gt = two_objects()
    shifted = rect(2, 6, 6, 6)  # IoU with A = 12/60 = 0.2 < 0.5
    results = [det(1, 1, 0.9, track(T, {f: A for f in range(3)})),
               det(1, 1, 0.1, track(T, {f: A for f in range(3, T)})),    # below score_thr: ignored
               det(1, 1, 0.9, track(T, {f: shifted for f in range(3, T)}))]
    out = count_identity_switches(gt, results, score_thr=0.3)
    assert out["IDSW"] == 0.0 and out["matched_fraction"] == pytest.approx(3 / 12)
    assert count_identity_switches(gt, results, score_thr=0.0)["IDSW"] == 1.0


def test_per_video_mean(tmp_path):
    gt = make_gt([(1, T, H, W), (2, T, H, W)], [(1, 1, track(T, {f: A for f in range(T)})),
                                               (2, 1, track(T, {f: A for f in range(T)}))])
    results = [det(1, 1, 0.9, track(T, {f: A for f in range(2)})), det(1, 1, 0.9, track(T, {f: A for f in range(2, 4)})),
               det(1, 1, 0.9, track(T, {f: A for f in range(4, T)})), det(2, 1, 0.9, track(T, {f: A for f in range(T)}))]
    out = count_identity_switches(gt, results)
    assert out["IDSW"] == 2.0 and out["IDSW_per_video"] == 1.0
    # the command line prints the same numbers next to AP
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    proc = subprocess.run([sys.executable, "tools/eval_ytvis.py", "--ann", str(tmp_path / "gt.json"),
                           "--results", str(tmp_path / "res.json"), "--json", "--identity"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout)
    assert line["IDSW"] == 2.0 and line["IDSW_per_video"] == 1.0 and 0.0 <= line["AP"] <= 1.0
