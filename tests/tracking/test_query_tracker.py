"""QueryTracker: association on query embeddings + IoU to the last appearance + class, on hand-made frames."""
import numpy as np
import pytest
import torch

from vis.errors import ConfigError
from vis.structures import Instances
from vis.tracking import QueryTracker, Tracks, build_tracker
from vis.tracking.query_tracker import MASK_IOU_STRIDE

H, W, DIM = 64, 160, 16
# Two well-separated "identities" in embedding space, plus a third for newcomers.
BASIS = np.eye(DIM, dtype=np.float32)


def embedding(obj, noise=0.0, rng=None):
    e = BASIS[obj].copy()
    if noise:
        e += noise * rng.standard_normal(DIM).astype(np.float32)
    return e


def frame(dets, with_masks=True):
    """dets: dicts with obj (identity), box [x1, y1, x2, y2], optional score, label, query, noise, rng."""
    n = len(dets)
    masks = np.zeros((n, H, W), dtype=bool)
    for i, d in enumerate(dets):
        x1, y1, x2, y2 = (int(v) for v in d["box"])
        masks[i, y1:y2, x1:x2] = True
    fields = dict(
        boxes=torch.tensor([d["box"] for d in dets], dtype=torch.float32).reshape(n, 4),
        scores=torch.tensor([d.get("score", 0.9) for d in dets], dtype=torch.float32),
        labels=torch.tensor([d.get("label", 0) for d in dets], dtype=torch.int64),
        embeds=torch.from_numpy(np.stack([embedding(d["obj"], d.get("noise", 0.0), d.get("rng"))
                                          for d in dets]).reshape(n, DIM)),
        query_index=torch.tensor([d.get("query", i) for i, d in enumerate(dets)], dtype=torch.int64),
    )
    if with_masks:
        fields["masks"] = torch.from_numpy(masks)
    return Instances((H, W), **fields)


def ids_of(out):
    return out.track_ids.tolist()


def test_two_objects_crossing_keep_their_ids():
    """Boxes swap places through each other (same class, no NMS, no label term): the embeddings tell who is
    who where the boxes coincide."""
    tracker = QueryTracker(nms_iou_thr=None, match_weights=dict(det_label=0.0))
    for t in range(9):
        a = dict(obj=0, box=[10 + 15 * t, 20, 40 + 15 * t, 50])  # left -> right
        b = dict(obj=1, box=[130 - 15 * t, 20, 160 - 15 * t, 50])  # right -> left
        dets = [a, b] if t % 2 == 0 else [b, a]  # input order must not matter
        out = tracker.update(frame(dets))
        by_obj = {int(torch.argmax(e)): tid for e, tid in zip(out.embeds, ids_of(out))}
        assert by_obj == {0: 0, 1: 1}, t


def test_occluded_object_returns_with_its_id_and_death_after_retention():
    tracker = QueryTracker(num_frames_retain=5)
    a, b = dict(obj=0, box=[10, 10, 40, 40]), dict(obj=1, box=[100, 10, 130, 40])
    assert ids_of(tracker.update(frame([a, b]))) == [0, 1]
    for _ in range(3):  # b hidden for 3 frames (< num_frames_retain - 1 = 4)
        assert ids_of(tracker.update(frame([a]))) == [0]
    moved_b = dict(obj=1, box=[70, 20, 100, 50])  # returns elsewhere: no overlap with its last box
    assert ids_of(tracker.update(frame([a, moved_b]))) == [0, 1]
    for _ in range(5):  # now hidden for 5 frames: removed
        tracker.update(frame([a]))
    assert tracker.num_tracks == 1 and tracker.tracks.ids.tolist() == [0] and tracker.tracks.has_mask.all()
    assert ids_of(tracker.update(frame([a, moved_b]))) == [0, 2]  # a new track


def test_births_need_init_score_and_dissimilar_detections_do_not_join():
    tracker = QueryTracker(init_score_thr=0.3)
    out = tracker.update(frame([dict(obj=0, box=[10, 10, 40, 40]), dict(obj=1, box=[100, 10, 130, 40], score=0.2)]))
    assert ids_of(out) == [0] and tracker.num_tracks == 1
    weak = dict(obj=0, box=[12, 10, 42, 40], score=0.2)  # below init_score_thr but continues track 0
    assert ids_of(tracker.update(frame([weak]))) == [0]
    # Same place, same class, another identity: cosine 0 + IoU ~1 + label 0.5 = 1.5 > match_thr 1.0 joins;
    # raising match_thr above it makes it a newcomer.
    stranger = dict(obj=2, box=[12, 10, 42, 40])
    assert ids_of(QueryTracker(match_thr=1.6).update(frame([dict(obj=0, box=[12, 10, 42, 40])]))) == [0]
    strict = QueryTracker(match_thr=1.6)
    strict.update(frame([dict(obj=0, box=[12, 10, 42, 40])]))
    assert ids_of(strict.update(frame([stranger]))) == [1]
    assert ids_of(tracker.update(frame([stranger]))) == [0]


def test_duplicates_are_suppressed_before_association():
    """Two queries on one object (same class, near-identical boxes): per-class NMS keeps the better one."""
    dup = [dict(obj=0, box=[10, 10, 40, 40], score=0.9, query=0),
           dict(obj=0, box=[11, 10, 41, 40], score=0.6, query=5),
           dict(obj=1, box=[100, 10, 130, 40], score=0.8, query=2)]
    out = QueryTracker().update(frame(dup))
    assert ids_of(out) == [0, 1] and out.query_index.tolist() == [0, 2]
    assert len(QueryTracker(nms_iou_thr=None).update(frame(dup))) == 3


def test_noisy_embeddings_track_and_ids_are_never_shared():
    rng = np.random.default_rng(0)
    tracker = QueryTracker()
    for t in range(20):
        dets = [dict(obj=k, box=[10 + 50 * k + t, 10, 40 + 50 * k + t, 40], noise=0.3, rng=rng) for k in range(3)]
        out = tracker.update(frame(dets))
        assert ids_of(out) == [0, 1, 2], t


def test_box_iou_and_frames_without_masks():
    for tracker in (QueryTracker(iou_type="box"), QueryTracker()):
        a, b = dict(obj=0, box=[10, 10, 40, 40]), dict(obj=1, box=[100, 10, 130, 40])
        assert ids_of(tracker.update(frame([a, b], with_masks=False))) == [0, 1]
        assert ids_of(tracker.update(frame([b, a], with_masks=False))) == [1, 0]
        assert ids_of(tracker.update(frame([b, a]))) == [1, 0]


def test_mask_iou_term_uses_the_last_appearance():
    tracker = QueryTracker(match_weights=dict(embed=0.0, det_label=0.0), match_thr=0.5)
    tracker.update(frame([dict(obj=0, box=[8, 8, 40, 40])]))
    half = frame([dict(obj=0, box=[8, 8, 40, 24])]).masks.numpy()[:, ::MASK_IOU_STRIDE, ::MASK_IOU_STRIDE]  # top half
    # The box given as the full one: only the masks say "half". The documented score, checked directly.
    dets = Tracks(ids=np.array([-1]), embeds=np.ones((1, DIM), dtype=np.float32), boxes=np.array([[8.0, 8, 40, 40]]),
                  labels=np.array([0]), scores=np.array([0.9]), last_seen=np.array([1]),
                  masks=half.reshape(1, -1).astype(np.float32), has_mask=np.array([True]))
    s = tracker.match_scores(dets)
    assert s[0, 0] == pytest.approx(0.5)
    assert s[0, 1] == pytest.approx(0.5)


def test_config_errors_and_build():
    tracker = build_tracker(dict(type="QueryTracker", match_thr=0.8, match_weights=dict(iou=2.0)))
    assert isinstance(tracker, QueryTracker) and tracker.match_thr == 0.8 and tracker.w_iou == 2.0
    assert tracker.w_embed == 1.0 and tracker.memory == "momentum" and tracker.embed_field == "embeds"
    with pytest.raises(ConfigError, match="match_weights key 'det_score'"):
        QueryTracker(match_weights=dict(det_score=1.0))
    with pytest.raises(ConfigError, match="iou_type"):
        QueryTracker(iou_type="polygon")
    with pytest.raises(ConfigError, match="unknown tracker 'QueryTracker' key|assignment"):
        build_tracker(dict(type="QueryTracker", assignment="greedy"))
