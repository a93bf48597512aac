"""The trackers' state table (`Tracks`, vis/tracking/base.py) and the one paste of the tracked masks."""
import numpy as np
import pytest
import torch

import vis.models.mask_ops as mask_ops
from vis.inference import track_video
from vis.models.mask_ops import DeferredMasks
from vis.structures import Instances
from vis.tracking import OnlineTracker, QueryTracker, Tracks
from vis.tracking.query_tracker import MASK_IOU_STRIDE

H, W, DIM = 48, 96, 8


def table(ids, masks=None):
    """Tracks whose every column is a function of the id, so a row read anywhere tells whose it is."""
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    return Tracks(ids=ids, embeds=np.repeat(ids[:, None], DIM, 1).astype(np.float32),
                  boxes=np.repeat(ids[:, None], 4, 1).astype(np.float64), labels=ids.copy(),
                  scores=ids.astype(np.float64), last_seen=ids.copy(),
                  masks=None if masks is None else np.repeat(ids[:, None], masks, 1).astype(np.float32),
                  has_mask=None if masks is None else np.ones(n, dtype=bool))


def assert_aligned(tracks):
    for name, value in tracks.columns().items():
        if value is not None and name != "has_mask":
            assert (value.reshape(len(tracks), -1) == tracks.ids[:, None]).all(), name


def test_tracks_select_append_and_put_keep_rows_together():
    tracks = table([0, 1, 2, 3], masks=5)
    tracks = tracks[np.array([True, False, True, True])].cat(table([7, 8]))  # forget 1, births without masks
    assert tracks.ids.tolist() == [0, 2, 3, 7, 8] and tracks.has_mask.tolist() == [True, True, True, False, False]
    assert_aligned(tracks[tracks.has_mask])
    assert not tracks.masks[~tracks.has_mask].any()
    match = table([5], masks=5)
    match.masks[:] = 7.0
    match.last_seen[:] = 9
    tracks.put(np.array([3]), match)  # a detection continuing track 7 writes every column but the id
    assert tracks.has_mask.tolist() == [True, True, True, True, False] and tracks.last_seen[3] == 9
    assert_aligned(tracks[np.array([0, 1, 2])])
    assert tracks.masks[3].tolist() == [7.0] * 5 and tracks.ids[3] == 7 and tracks.boxes[3].tolist() == [5.0] * 4
    assert len(Tracks.empty()) == 0 and Tracks.empty().cat(table([4])).ids.tolist() == [4]


def box_frame(objects, size=(H, W)):
    """objects: {obj: x} -> Instances: a 16x16 box at x per object, its mask, a one-hot embedding."""
    n = len(objects)
    boxes = torch.tensor([[x, 8, x + 16, 24] for x in objects.values()], dtype=torch.float32).view(n, 4)
    masks = torch.zeros((n, *size), dtype=torch.bool)
    for i, x in enumerate(objects.values()):
        masks[i, 8:24, x:x + 16] = True
    embeds = torch.zeros((n, DIM))
    embeds[torch.arange(n), torch.tensor(list(objects), dtype=torch.int64)] = 1.0
    return Instances(size, boxes=boxes, scores=torch.full((n,), 0.9), labels=torch.zeros(n, dtype=torch.int64),
                     masks=masks, embeds=embeds, query_index=torch.arange(n))


def test_rows_stay_aligned_after_forget_and_births():
    """Each track's id, box, embedding and mask stay in one row while older rows are forgotten and new ones
    appended."""
    tracker = QueryTracker(num_frames_retain=2)
    last = {}
    script = [{0: 0, 1: 30, 2: 60}, {1: 32, 2: 62}, {1: 34, 2: 64}, {2: 66, 3: 0},  # 0 forgotten, 3 born
              {2: 68, 3: 2, 4: 80}, {2: 70, 3: 4, 4: 80, 5: 34},  # 1 forgotten, 4 and 5 born
              {2: 72, 3: 6, 5: 36}, {2: 74, 3: 8, 5: 38}]  # 4 (a middle row) forgotten
    for objects in script:
        inst = box_frame(objects)
        out = tracker.update(inst)
        assert out.track_ids.tolist() == list(objects)  # every object has its own id
        for tid, box, mask in zip(out.track_ids.tolist(), out.boxes, out.masks):
            last[tid] = (box.numpy().astype(np.float64), mask[::MASK_IOU_STRIDE, ::MASK_IOU_STRIDE])
    tracks = tracker.tracks
    assert tracks.ids.tolist() == [2, 3, 5] and tracks.has_mask.all() and tracker.next_id == 6
    for row, tid in enumerate(tracks.ids.tolist()):
        box, mask = last[tid]
        assert int(np.argmax(tracks.embeds[row])) == tid and (tracks.boxes[row] == box).all()
        assert (tracks.masks[row] == mask.reshape(-1).numpy()).all()


def deferred_frame(rng, num, size=(H, W)):
    """`predict(..., defer_masks=True)`'s kind of frame: masks as DeferredMasks, not pasted yet."""
    x = torch.from_numpy(rng.uniform(0, size[1] - 20, num)).float()
    boxes = torch.stack([x, torch.full_like(x, 6.0), x + 18, torch.full_like(x, 30.0)], 1)
    probs = torch.from_numpy(rng.uniform(0.3, 1.0, (num, 14, 14))).float()
    embeds = torch.from_numpy(rng.standard_normal((num, DIM))).float()
    return Instances(size, boxes=boxes, scores=torch.from_numpy(rng.uniform(0.2, 1.0, num)).float(),
                     labels=torch.from_numpy(rng.integers(0, 2, num)), embeds=embeds, track_embeds=embeds,
                     query_index=torch.arange(num), masks=DeferredMasks(probs, boxes.clone(), size, 0.5))


class ScriptedSegmenter(torch.nn.Module):
    """Hands out scripted frames as `model.predict(..., defer_masks=True)` would."""

    def __init__(self, frames):
        super().__init__()
        self.frames = list(frames)

    def predict(self, images, orig_sizes, defer_masks=False, **options):
        assert defer_masks
        return [self.frames.pop(0) for _ in images]


@pytest.mark.parametrize("tracker", [QueryTracker(), QueryTracker(iou_type="box"), OnlineTracker()],
                         ids=["query-mask-iou", "query-box-iou", "online"])
def test_tracked_masks_are_pasted_once(tracker, monkeypatch):
    """QueryTracker pastes the kept masks for its mask IoU; the inference step must not paste them again. The
    masks yielded are the same bits as pasting the tracked rows."""
    rng = np.random.default_rng(0)
    frames = [deferred_frame(rng, n) for n in (4, 6, 0, 5)]
    expected = [(f.query_index.clone(), f.masks) for f in frames]
    calls = []
    paste = mask_ops.paste_masks_in_image

    def counting_paste(masks, *args, **kwargs):
        calls.append(len(masks))
        return paste(masks, *args, **kwargs)

    monkeypatch.setattr(mask_ops, "paste_masks_in_image", counting_paste)
    images = ((i, np.zeros((H, W, 3), dtype=np.uint8)) for i in range(len(frames)))
    results = list(track_video(ScriptedSegmenter(frames), images, tracker, device=torch.device("cpu")))
    assert len([c for c in calls if c]) == 3  # one paste per frame with detections
    for (_, _, tracked), (query, deferred) in zip(results, expected):
        rows = [query.tolist().index(q) for q in tracked.query_index.tolist()]
        assert isinstance(tracked.masks, torch.Tensor) and tracked.masks.dtype == torch.bool
        assert torch.equal(tracked.masks, paste(deferred.probs[rows], deferred.boxes[rows], (H, W), threshold=0.5))


def test_query_tracker_output_carries_its_paste():
    """The tracker's output masks are the pasted tensor (full frame size), equal to pasting the kept rows."""
    inst = deferred_frame(np.random.default_rng(1), 12)
    out = QueryTracker(nms_iou_thr=None).update(inst)
    assert isinstance(out.masks, torch.Tensor) and 0 < len(out) == 10  # max_per_frame
    kept = [inst.query_index.tolist().index(q) for q in out.query_index.tolist()]
    assert torch.equal(out.masks, inst.masks[torch.tensor(kept)].paste())
    assert isinstance(OnlineTracker().update(inst).masks, DeferredMasks)  # it pastes nothing itself
