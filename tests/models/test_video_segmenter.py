"""Track head + VideoSegmenter: joint training step, targets, inference embeddings, loading image checkpoints."""
import pytest
import torch

from vis.data import collate
from vis.engine.loading import load_checkpoint
from vis.models import build_model
from vis.models.segmenters.base import FeatureMaps
from vis.models.track_head import TrackHead

from inputs import TINY_QUERYINST_CONFIG as TINY_SEGMENTER, TINY_VIDEO_SEGMENTER as VIDEO


def frame(shift, ids):
    """A 96x96 frame with two rectangles (ids[0], ids[1]) moved right by ``shift`` pixels."""
    image = torch.full((3, 96, 96), 30.0)
    boxes = torch.tensor([[10.0 + shift, 10, 40 + shift, 50], [50.0 + shift, 40, 80 + shift, 90]])
    masks = torch.zeros(2, 96, 96, dtype=torch.bool)
    for m, (x1, y1, x2, y2) in zip(masks, boxes.long().tolist()):
        m[y1:y2, x1:x2] = True
    image[0][masks[0]] = 220.0
    image[2][masks[1]] = 200.0
    target = {"boxes": boxes, "labels": torch.tensor([0, 2]), "masks": masks, "instance_ids": torch.tensor(ids),
              "image_id": 0, "orig_size": (96, 96), "image_size": (96, 96), "file_name": "x"}
    return image, target


def pair_batch():
    key_image, key_target = frame(0, [11, 12])
    ref_image, ref_target = frame(4, [12, 99])  # object 12 is in both frames, 11 only in the key frame
    return collate([{"image": key_image, "target": key_target, "ref_image": ref_image, "ref_target": ref_target}])


def test_track_loss_targets_new_object_and_match():
    head = TrackHead(in_channels=4, strides=[4], fc_channels=8)
    key = torch.tensor([[1.0, 0, 0, 0, 0, 0, 0, 0], [0, 5.0, 0, 0, 0, 0, 0, 0]])
    ref = torch.tensor([[0, 5.0, 0, 0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0, 0, 0, 0]])
    logits = head.match_logits(key, ref)
    assert logits.shape == (2, 3) and torch.all(logits[:, 0] == 0) and logits[1, 1] == 25.0
    # key 0 (id 11) is new -> target 0; key 1 (id 12) is ref 0 -> target 1; divide by #targets > 0 (= 1).
    loss = head.loss([key], [ref], [torch.tensor([11, 12])], [torch.tensor([12, 99])])
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1]), reduction="sum") / 1
    assert torch.allclose(loss, expected)


def test_track_head_shapes_and_empty_input():
    head = TrackHead(in_channels=16, strides=[4, 8], fc_channels=32)
    maps = [torch.randn(2, 16, 24, 24), torch.randn(2, 16, 12, 12)]
    feats = FeatureMaps(maps, [4, 8], [(96, 96), (90, 80)])
    out = head(feats, [torch.tensor([[0.0, 0, 30, 30], [10, 10, 90, 90]]), torch.zeros(0, 4)])
    assert out[0].shape == (2, 32) and out[1].shape == (0, 32)
    assert torch.all(out[0] >= 0)  # mmtrack: ReLU after the last fc
    empty = head(feats, [torch.zeros(0, 4), torch.zeros(0, 4)])
    assert all(e.shape == (0, 32) for e in empty)


def test_joint_training_step_trains_the_track_head():
    torch.manual_seed(0)
    model = build_model(VIDEO)
    model.train()
    batch = pair_batch()
    losses = model(batch["images"], batch["targets"], batch["ref_images"], batch["ref_targets"])
    assert "loss_track" in losses and torch.isfinite(losses["loss_track"]) and losses["loss_track"] > 0
    assert any(k.endswith("loss_mask") for k in losses)
    sum(losses.values()).backward()
    assert model.track_head.fcs[0].weight.grad is not None and model.track_head.fcs[0].weight.grad.abs().sum() > 0
    # Without reference frames (still images) only the segmenter losses are returned.
    image_losses = model(batch["images"], batch["targets"])
    assert "loss_track" not in image_losses


def test_track_loss_falls_when_overfitting_one_pair():
    torch.manual_seed(0)
    model = build_model(VIDEO)
    model.train()
    batch = pair_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history = []
    for _ in range(30):
        losses = model(batch["images"], batch["targets"], batch["ref_images"], batch["ref_targets"])
        history.append(float(losses["loss_track"].detach()))
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    assert min(history[-5:]) < 0.5 * history[0], history


def test_predict_adds_track_embeds_at_any_output_size():
    torch.manual_seed(0)
    model = build_model(VIDEO).eval()
    image, _ = frame(0, [1, 2])
    (inst,) = model.predict([image], orig_sizes=[(192, 192)])
    assert inst.image_size == (192, 192)
    assert inst.track_embeds.shape == (len(inst), 64) and inst.masks.shape[1:] == (192, 192)


def test_image_checkpoint_loads_into_video_model(tmp_path):
    torch.manual_seed(0)
    image_model = build_model(TINY_SEGMENTER)
    path = tmp_path / "coco.pth"
    torch.save({"model": image_model.state_dict()}, path)
    video = build_model(VIDEO)
    report = load_checkpoint(video, str(path))
    assert all(k.startswith("track_head.") for k in report.missing) and len(report.missing) == 4
    assert not report.unexpected and not report.mismatched
    assert torch.equal(video.segmenter.rpn_head.init_proposal_features.weight,
                       image_model.rpn_head.init_proposal_features.weight)
    assert video.classifier_param_names()[0].startswith("segmenter.roi_head.")


def test_track_loss_with_an_empty_reference_frame_treats_every_key_instance_as_new():
    head = TrackHead(in_channels=4, strides=[4], fc_channels=8)
    key = torch.randn(2, 8, requires_grad=True)
    loss = head.loss([key], [torch.zeros(0, 8)], [torch.tensor([1, 2])], [torch.zeros(0, dtype=torch.long)])
    assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-6)  # one class ("new"): log 1 = 0
    loss.backward()
