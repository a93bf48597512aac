"""ISTR (v1, PCA-60 masks): reference layout (head parameter count, official key names), training and inference
contracts on a tiny CPU configuration, the codec's life cycle (config file -> init_weights -> checkpoint),
tools/train.py on tiny synthetic data, and a VideoSegmenter built around ISTR."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from torchvision.ops import generalized_box_iou

from inputs import rectangle_masks
from official_layouts import to_detectron2_istr
from vis.data import collate
from vis.data.synthetic import make_coco_split
from vis.engine.loading import load_checkpoint
from vis.errors import CheckpointError, ConfigError
from vis.models import SEGMENTERS, build_model
from vis.models.pca_codec import fit_pca_codec, save_codec
from vis.models.matcher import cosine_embedding_cost
from vis.models.segmenters.istr import ISTR, ISTRStage, convert_istr_state_dict, image_feature
from vis.models.set_criterion import LossInputs
from vis.structures import Instances
from vis.utils.model_info import model_param_info

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable
R50_HEAD_PARAMS = 81_486_432  # reference_models.md §3.1: 80 classes, 300 proposals, 6 stages

TINY = dict(
    type="ISTR",
    num_classes=3,
    num_proposals=10,
    num_stages=2,
    backbone=dict(depth=18, frozen_stages=1, norm_eval=True, norm="bn"),
    hidden_dim=32,
    num_heads=4,
    feedforward_channels=64,
    dynamic_channels=8,
    num_cls_fcs=1,
    num_reg_fcs=1,
    num_mask_fcs=1,
    max_per_img=15,
)


@pytest.fixture(scope="module")
def codec_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("codec") / "rect_pca60.pth")
    save_codec(path, fit_pca_codec([rectangle_masks()], dim=60, seed=0))
    return path


def _tiny(codec_file=None, **overrides):
    torch.manual_seed(0)
    cfg = {**TINY, **overrides}
    if codec_file is not None:
        cfg["mask_codec"] = codec_file
    model = build_model(cfg)
    if codec_file is not None:
        model.init_weights()  # what the trainer does for a run from scratch: loads the codec file
    return model


def _two_shapes(height=96, width=112, shift=0, ids=(1, 2)):
    """An image with a rectangle and a disc, and its target (labels 1 and 2)."""
    image = torch.full((3, height, width), 40.0)
    masks = torch.zeros(2, height, width, dtype=torch.bool)
    masks[0, 10:50, 12 + shift:60 + shift] = True
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    masks[1] = (yy - 65) ** 2 + (xx - 80 - shift) ** 2 <= 20 ** 2
    image[:, masks[0]] = torch.tensor([220.0, 30.0, 30.0])[:, None]
    image[:, masks[1]] = torch.tensor([30.0, 200.0, 60.0])[:, None]
    target = {
        "boxes": torch.tensor([[12.0 + shift, 10, 60 + shift, 50], [60.0 + shift, 45, 101 + shift, 86]]),
        "labels": torch.tensor([1, 2]),
        "masks": masks,
        "instance_ids": torch.tensor(list(ids)),
        "image_id": 0,
        "orig_size": (height, width),
        "image_size": (height, width),
        "file_name": "x",
    }
    return image, target


# ------------------------------------------------------------------------------------------------
# Reference layout (R-50 built on the meta device: no memory, no codec file needed)
# ------------------------------------------------------------------------------------------------
def test_r50_head_parameter_count_and_official_key_layout():
    assert SEGMENTERS["ISTR"] is ISTR
    with torch.device("meta"):
        model = build_model(dict(type="ISTR"))  # ISTR-R50-3x: 80 classes, 300 proposals, 6 stages, PCA-60 on 28x28
    info = model_param_info(model)
    assert info["parts"]["head"] == R50_HEAD_PARAMS, info
    assert sum(info["parts"].values()) == info["params"]
    assert info["parts"]["proposals"] == 300 * 256 + 300 * 4
    assert sum(p.numel() for p in model.head.head_series[0].parameters()) == R50_HEAD_PARAMS // 6

    state = model.state_dict()
    # The PCA basis is in the state dict (checkpoints carry it) but not counted as parameters.
    assert tuple(state["mask_encoding.components"].shape) == (60, 784)
    assert tuple(state["mask_encoding.explained_variances"].shape) == (60,)
    assert tuple(state["mask_encoding.means"].shape) == (784,)
    assert tuple(state["pos_embeddings.weight"].shape) == (300, 256)
    assert tuple(state["init_proposal_boxes.weight"].shape) == (300, 4)
    # Head keys of stage 0 are the official ones (§3.1 table) once the shared DynamicConv names are mapped.
    official = {
        "self_attn.in_proj_weight": (768, 256), "self_attn.in_proj_bias": (768,),
        "self_attn.out_proj.weight": (256, 256), "self_attn.out_proj.bias": (256,),
        "inst_interact.dynamic_layer.weight": (32768, 256), "inst_interact.dynamic_layer.bias": (32768,),
        "inst_interact.norm1.weight": (64,), "inst_interact.norm1.bias": (64,),
        "inst_interact.norm2.weight": (256,), "inst_interact.norm2.bias": (256,),
        "inst_interact.out_layer.weight": (256, 12544), "inst_interact.out_layer.bias": (256,),
        "inst_interact.norm3.weight": (256,), "inst_interact.norm3.bias": (256,),
        "linear1.weight": (2048, 256), "linear1.bias": (2048,), "linear2.weight": (256, 2048), "linear2.bias": (256,),
        "mask_logits.weight": (60, 256), "mask_logits.bias": (60,),
        "class_logits.weight": (80, 256), "class_logits.bias": (80,),
        "bboxes_delta.weight": (4, 256), "bboxes_delta.bias": (4,),
    }
    for norm in ("norm1", "norm2", "norm3"):
        official.update({f"{norm}.weight": (256,), f"{norm}.bias": (256,)})
    for branch in ("cls_module", "reg_module", "mask_module"):
        for i in (0, 3, 6):
            official[f"{branch}.{i}.weight"] = (256, 256)
            official.update({f"{branch}.{i + 1}.weight": (256,), f"{branch}.{i + 1}.bias": (256,)})
    converted = convert_istr_state_dict({f"head.head_series.0.{k}": torch.empty(0) for k in official})
    ours = {k: tuple(v.shape) for k, v in state.items() if k.startswith("head.head_series.0.")}
    assert set(converted) == set(ours)
    for official_key, shape in official.items():
        our_key = list(convert_istr_state_dict({f"head.head_series.0.{official_key}": torch.empty(0)}))[0]
        assert ours[our_key] == shape, official_key
    # FrozenBN backbone (detectron2): BN weights are buffers, so nothing in a BN is trained.
    assert not any("bn" in name or "downsample.1" in name for name, _ in model.backbone.named_parameters())


def test_model_info_tool_reports_the_head(tmp_path):
    proc = subprocess.run([PYTHON, os.path.join(REPO, "tools", "model_info.py"),
                           os.path.join(REPO, "configs", "istr", "istr_r50_fpn_3x_coco.py"), "--json"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["parts"]["head"] == R50_HEAD_PARAMS  # no codec file needed to build


def test_convert_detectron2_checkpoint_keys():
    official = {
        "backbone.bottom_up.stem.conv1.weight": "backbone.conv1.weight",
        "backbone.bottom_up.stem.conv1.norm.running_var": "backbone.bn1.running_var",
        "backbone.bottom_up.res2.0.conv1.weight": "backbone.layer1.0.conv1.weight",
        "backbone.bottom_up.res3.1.conv3.norm.bias": "backbone.layer2.1.bn3.bias",
        "backbone.bottom_up.res5.0.shortcut.weight": "backbone.layer4.0.downsample.0.weight",
        "backbone.bottom_up.res4.0.shortcut.norm.running_mean": "backbone.layer3.0.downsample.1.running_mean",
        "backbone.fpn_lateral2.weight": "neck.inner_blocks.0.0.weight",
        "backbone.fpn_output5.bias": "neck.layer_blocks.3.0.bias",
        "head.head_series.4.inst_interact.norm1.weight": "head.head_series.4.inst_interact.norm_in.weight",
        "head.head_series.4.inst_interact.out_layer.bias": "head.head_series.4.inst_interact.fc_layer.bias",
        "head.head_series.4.norm3.weight": "head.head_series.4.norm3.weight",
        "mask_encoding.means": "mask_encoding.means",
        "pos_embeddings.weight": "pos_embeddings.weight",
    }
    converted = convert_istr_state_dict({k: torch.zeros(1) for k in official})
    assert sorted(converted) == sorted(official.values())

    # A whole detectron2-layout checkpoint of the tiny model (FrozenBN, as detectron2) loads strictly.
    model = _tiny(backbone=dict(depth=18, frozen_stages=1, norm="frozen_bn"))
    d2 = to_detectron2_istr(model.state_dict())
    assert not any(k.startswith(("neck.", "backbone.layer")) for k in d2)
    assert model.convert_state_dict(model.state_dict()).keys() == model.state_dict().keys()  # identity on ours
    assert model.convert_state_dict(d2).keys() == model.state_dict().keys()


# ------------------------------------------------------------------------------------------------
# Pieces
# ------------------------------------------------------------------------------------------------
def test_stage_structure_and_initialisation():
    stage = ISTRStage(num_classes=5, hidden_dim=32, num_heads=4, feedforward_channels=64, dynamic_channels=8)
    assert len(stage.cls_module) == len(stage.reg_module) == len(stage.mask_module) == 9  # 3 x (Linear, LN, ELU)
    assert all(stage.cls_module[i].bias is None for i in (0, 3, 6))
    assert isinstance(stage.cls_module[2], torch.nn.ELU) and isinstance(stage.inst_interact.activation, torch.nn.ELU)
    assert isinstance(stage.activation, torch.nn.ELU)
    cls, deltas, obj, embeds = stage(torch.randn(2 * 6, 32, 7, 7), torch.randn(2, 6, 32))
    assert cls.shape == (12, 5) and deltas.shape == (12, 4)  # per RoI, image-major
    assert obj.shape == (12, 32) and embeds.shape == (12, 60)
    model = _tiny()
    for s in model.head.head_series:
        assert torch.allclose(s.class_logits.bias, torch.full((3,), -math.log(99.0)))
    assert torch.all(model.init_proposal_boxes.weight == torch.tensor([0.5, 0.5, 1.0, 1.0]))
    # Box coder: Sparse R-CNN weights (2, 2, 1, 1), dw/dh clamped only from above.
    coder = model.head.box_coder
    big = coder.decode(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[0.0, 0, -6.0, 20.0]]))
    assert math.isclose(big[0, 2] - big[0, 0], 10 * math.exp(-6.0), rel_tol=1e-3)  # no lower clamp
    assert math.isclose(big[0, 3] - big[0, 1], 10 * 1e5 / 16, rel_tol=1e-4)  # upper clamp ln(1e5/16)


def test_initial_queries_are_summed_level_means_plus_position_embeddings():
    model = _tiny()
    feats = [torch.randn(2, 32, 24 // s, 28 // s) for s in (1, 2, 4, 8)]
    boxes, queries, whwh = model.initial_proposals(feats, [(90, 100), (60, 80)])
    expected = sum(f.mean(dim=(2, 3)) for f in feats)  # [2, 32]: SUM of per-level global means
    assert torch.allclose(image_feature(feats), expected, atol=1e-6)
    assert torch.allclose(queries, expected[:, None] + model.pos_embeddings.weight[None], atol=1e-6)
    assert torch.allclose(boxes[1, 0], torch.tensor([0.0, 0, 80, 60]))  # full unpadded image
    assert whwh.shape == (2, 1, 4)


# ------------------------------------------------------------------------------------------------
# Training and inference contracts
# ------------------------------------------------------------------------------------------------
def test_forward_train_losses_backward_and_matched_predictions(codec_file):
    model = _tiny(codec_file).train()
    image, target = _two_shapes()
    image2, target2 = _two_shapes(height=80, width=128, shift=8)
    losses, features, matched = model.forward_train([image, image2], [target, target2])
    names = {f"s{s}.loss_{n}" for s in range(2) for n in ("cls", "bbox", "giou", "feat", "dice")}
    assert set(losses) == names
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    assert all(losses[f"s{s}.loss_{n}"] > 0 for s in range(2) for n in ("cls", "bbox", "giou", "feat", "dice"))
    assert len(features.maps) == 4 and features.image_sizes == [(96, 112), (80, 128)]
    assert [len(b) for b in matched.boxes] == [2, 2] and sorted(matched.gt_index[0].tolist()) == [0, 1]
    sum(losses.values()).backward()
    stage = model.head.head_series[0]
    for param in (stage.mask_logits.weight, stage.class_logits.weight, stage.bboxes_delta.weight,
                  model.pos_embeddings.weight, model.init_proposal_boxes.weight, model.neck.inner_blocks[0][0].weight,
                  model.backbone.layer4[0].conv1.weight):
        assert param.grad is not None and param.grad.abs().sum() > 0
    assert model.mask_encoding.components.grad is None  # a fixed basis


def test_criterion_follows_the_reference_formulas(codec_file):
    """§3 / §3.1 losses for a known matching: all sums divided by num_boxes, then weighted (2, 5, 2, 2, 2)."""
    model = _tiny(codec_file)
    codec = model.mask_encoding
    gen = torch.Generator().manual_seed(0)
    out = {
        "logits": torch.randn(1, 3, 3, generator=gen),
        "boxes": torch.tensor([[[10.0, 10, 50, 40], [0, 0, 20, 20], [30, 20, 90, 70]]]),
        "obj_feats": torch.zeros(1, 3, 32),
        "mask_embeds": torch.randn(1, 3, 60, generator=gen),
    }
    target = {"labels": torch.tensor([2, 0]), "boxes": torch.tensor([[25.0, 15, 95, 75], [12.0, 8, 48, 44]])}
    gt_masks = [rectangle_masks(2, seed=4)]
    matches = [(torch.tensor([0, 2]), torch.tensor([1, 0]))]
    whwh = torch.tensor([[[100.0, 80, 100, 80]]])
    inputs = LossInputs([target], [(80, 100)], {"gt_masks": gt_masks})
    num_boxes = torch.tensor(2.0)
    torch.manual_seed(7)
    losses = {}
    for key, term in model.criterion.terms.items():  # the set criterion's terms for a known matching
        values = term(out, inputs, matches, num_boxes)
        losses.update(values if isinstance(values, dict) else {key: values})
    losses = {f"loss_{k}": v * model.criterion.weights[k] for k, v in losses.items()}
    assert model.criterion.count == "gt"

    p = out["logits"].sigmoid()
    t = torch.zeros_like(p)
    t[0, 0, 0] = t[0, 2, 2] = 1
    focal = -(0.25 * t * (1 - p) ** 2 * p.log() + 0.75 * (1 - t) * p ** 2 * (1 - p).log())
    assert math.isclose(losses["loss_cls"].item(), focal.sum().item() / 2 * 2.0, rel_tol=1e-5)
    pred, gt = out["boxes"][0, [0, 2]], target["boxes"][[0, 1]][[1, 0]]
    assert math.isclose(losses["loss_bbox"].item(), ((pred - gt) / whwh[0]).abs().sum().item() / 2 * 5.0, rel_tol=1e-5)
    giou = torch.diag(generalized_box_iou(pred, gt))
    assert math.isclose(losses["loss_giou"].item(), (1 - giou).sum().item() / 2 * 2.0, rel_tol=1e-5)
    x, y = codec.decode(out["mask_embeds"][0, [0, 2]]).flatten(1), gt_masks[0][[1, 0]].flatten(1)
    dice = 1 - 2 * (x * y).sum(1) / ((x * x).sum(1) + (y * y).sum(1) + 1e-5)
    assert math.isclose(losses["loss_dice"].item(), dice.sum().item() / 2 * 2.0, rel_tol=1e-5)
    torch.manual_seed(7)  # the same logit noise as inside the criterion
    encoded = codec.encode(gt_masks[0][[1, 0]])
    feat = ((out["mask_embeds"][0, [0, 2]] - encoded) ** 2).sum() / 60
    assert math.isclose(losses["loss_feat"].item(), feat.item() / 2 * 2.0, rel_tol=1e-5)
    # The matching cost: cosine between embeddings, mapped to [-1, 0].
    cost = cosine_embedding_cost(out["mask_embeds"][0], encoded)
    assert cost.shape == (3, 2) and cost.min() >= -1 and cost.max() <= 0
    assert math.isclose(cosine_embedding_cost(encoded[:1], encoded[:1]).item(), -1.0, abs_tol=1e-6)


def test_forward_train_needs_the_codec_and_handles_images_without_gt(codec_file):
    image, target = _two_shapes()
    with pytest.raises(ConfigError, match="mask codec is not loaded"):
        _tiny().train().forward_train([image], [target])
    model = _tiny(codec_file).train()
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
             "masks": torch.zeros(0, 96, 112, dtype=torch.bool)}
    losses = model([image, image], [target, empty])
    assert all(torch.isfinite(v) for v in losses.values())
    losses = model([image], [empty])  # no GT in the whole batch: zeros that still backpropagate
    assert all(torch.isfinite(v) for v in losses.values()) and losses["s1.loss_cls"] > 0
    assert losses["s0.loss_dice"] == 0
    sum(losses.values()).backward()


def test_predict_instances_at_the_original_size(codec_file):
    model = _tiny(codec_file).eval()
    with torch.no_grad():  # no box refinement: every query keeps the full-image box
        for stage in model.head.head_series:
            stage.bboxes_delta.weight.zero_()
            stage.bboxes_delta.bias.zero_()
    image, _ = _two_shapes()
    (inst,) = model.predict([image], orig_sizes=[(192, 224)])
    assert isinstance(inst, Instances) and inst.image_size == (192, 224)
    assert len(inst) == 15  # top-k over P x K = 30, no NMS
    assert inst.masks.shape == (15, 192, 224) and inst.masks.dtype == torch.bool
    assert torch.allclose(inst.boxes, torch.tensor([0.0, 0, 224, 192]).expand(15, 4))
    assert inst.embeds.shape == (15, 32) and inst.query_index.shape == (15,)
    assert torch.all(inst.scores[:-1] >= inst.scores[1:]) and inst.labels.max() < 3
    # The same query may appear under several labels; its mask and embedding are the same then.
    q = inst.query_index
    first = {}
    for i, qi in enumerate(q.tolist()):
        if qi in first:
            assert torch.equal(inst.masks[i], inst.masks[first[qi]])
            assert torch.equal(inst.embeds[i], inst.embeds[first[qi]])
        first.setdefault(qi, i)
    # detectron2 postprocess: boxes clipped to the image, detections with empty boxes dropped.
    with torch.no_grad():
        stage = model.head.head_series[-1]
        stage.bboxes_delta.bias.copy_(torch.tensor([4.0, 0.0, 0.0, 0.0]))  # every box moves 2 widths right
    (gone,) = model.predict([image])
    assert len(gone) == 0 and gone.masks.shape == (0, 96, 112)


# ------------------------------------------------------------------------------------------------
# Codec life cycle and checkpoints
# ------------------------------------------------------------------------------------------------
def test_codec_loads_at_init_weights_and_travels_in_checkpoints(codec_file, tmp_path):
    model = build_model({**TINY, "mask_codec": codec_file})
    assert not model.mask_encoding.is_fitted()  # building never reads the file
    model.init_weights()
    assert model.mask_encoding.is_fitted()
    path = str(tmp_path / "istr.pth")
    torch.save({"model": model.state_dict()}, path)
    fresh = build_model({**TINY, "mask_codec": str(tmp_path / "does_not_exist.pth")})
    report = load_checkpoint(fresh, path, strict=True)
    assert not report.missing and fresh.mask_encoding.is_fitted()
    assert torch.equal(fresh.mask_encoding.components, model.mask_encoding.components)
    with pytest.raises(CheckpointError, match="mask codec file not found.*fit_mask_codec"):
        fresh.init_weights()


def test_video_segmenter_wraps_istr_and_trains_with_reference_frames(codec_file):
    torch.manual_seed(0)
    video = build_model(dict(type="VideoSegmenter", segmenter={**TINY, "mask_codec": codec_file},
                             track_head=dict(fc_channels=64)))
    video.init_weights()  # reaches the segmenter's codec
    assert video.segmenter.mask_encoding.is_fitted()
    assert model_param_info(video)["parts"]["head"] == model_param_info(video.segmenter)["parts"]["head"]
    key_image, key_target = _two_shapes(ids=(11, 12))
    ref_image, ref_target = _two_shapes(shift=4, ids=(12, 99))
    batch = collate([{"image": key_image, "target": key_target, "ref_image": ref_image, "ref_target": ref_target}])
    video.train()
    losses = video(batch["images"], batch["targets"], batch["ref_images"], batch["ref_targets"])
    assert "loss_track" in losses and torch.isfinite(losses["loss_track"]) and losses["loss_track"] > 0
    assert "s1.loss_dice" in losses
    sum(losses.values()).backward()
    assert video.track_head.fcs[0].weight.grad.abs().sum() > 0
    video.eval()
    (inst,) = video.predict([key_image], orig_sizes=[(96, 112)])
    assert inst.track_embeds.shape == (len(inst), 64)
    assert video.classifier_param_names()[0] == "segmenter.head.head_series.0.class_logits.weight"


# ------------------------------------------------------------------------------------------------
# tools/train.py on tiny synthetic data
# ------------------------------------------------------------------------------------------------
def _train(args):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([PYTHON, os.path.join(REPO, "tools", "train.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_few_training_iterations_through_the_cli(tmp_path):
    root = str(tmp_path / "shapes")
    split = make_coco_split(root, "train", num_images=8, seed=3, min_size=96, max_size=128, progress=False)
    codec = str(tmp_path / "codecs" / "shapes_pca60.pth")
    fit = subprocess.run([PYTHON, os.path.join(REPO, "tools", "fit_mask_codec.py"), split["ann_file"], "--out", codec,
                          "--dim", "24", "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert fit.returncode == 0, fit.stderr[-2000:]
    opts = {
        "model.mask_codec": codec,
        "model.mask_dim": 24,
        "model.backbone.pretrained": None,  # the shipped config starts from work/pretrained/r18_shapes.pth
        "data.train.ann_file": split["ann_file"],
        "data.train.img_dir": split["img_dir"],
        "data.workers_per_gpu": 0,
        "data.samples_per_gpu": 2,
        "data.val": None,
        "schedule.max_iters": 3,
        "schedule.milestones": "[]",
        "schedule.warmup_iters": 1,
        "runtime.log_interval": 1,
        "runtime.eval_interval": 0,
        "runtime.checkpoint_interval": 3,
        "runtime.progress_bar": False,
        "runtime.tensorboard": False,
    }
    config = os.path.join(REPO, "configs", "shapes", "istr_tiny_shapes.py")
    work = str(tmp_path / "work")
    proc = _train([config, "--work-dir", work, "--cfg-options", *[f"{k}={v}" for k, v in opts.items()]])
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(os.path.join(work, "metrics.jsonl")) as f:
        losses = [json.loads(line)["loss"] for line in f if '"train"' in line]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    checkpoint = torch.load(os.path.join(work, "iter_3.pth"), map_location="cpu", weights_only=True)
    written = torch.load(codec, map_location="cpu", weights_only=True)
    assert torch.equal(checkpoint["model"]["mask_encoding.components"], written["components"])
    assert checkpoint["meta"]["class_names"][0] == "circle"

    opts["model.mask_codec"] = str(tmp_path / "missing.pth")
    bad = _train([config, "--work-dir", str(tmp_path / "bad"), "--cfg-options", *[f"{k}={v}" for k, v in opts.items()]])
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: mask codec file not found")

    opts.update({"model.mask_codec": codec, "model.backbone.pretrained": str(tmp_path / "no_r18.pth")})
    bad = _train([config, "--work-dir", str(tmp_path / "bad2"), "--cfg-options", *[f"{k}={v}" for k, v in opts.items()]])
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: pretrained weights file not found")
