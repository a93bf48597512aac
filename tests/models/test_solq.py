"""SOLQ: reference layout of the R-50 model (parameter count, state-dict keys, official checkpoint loading),
training and inference contracts on a tiny CPU configuration, a few iterations through tools/train.py, and the
VideoSegmenter wrapping SOLQ trained with reference frames."""
import json
import math
import os
import subprocess
import sys

import cv2
import pytest
import torch
from torchvision.ops import box_convert

from inputs import TINY_SOLQ, make_empty_target, make_two_rectangles
from vis.data import collate
from vis.data.synthetic import make_coco_split, make_ytvis_split
from vis.engine.loading import load_checkpoint
from vis.errors import ConfigError
from vis.models import SEGMENTERS, SOLQ, build_model
from vis.models.dct_codec import zigzag_order
from vis.models.mask_ops import crop_and_resize_masks, paste_masks_in_image
from vis.models.segmenters.solq import COCO_THING_IDS
from vis.structures import Instances
from vis.utils.model_info import model_param_info

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_TOOL = os.path.join(REPO, "tools", "train.py")

TINY = TINY_SOLQ


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model(dict(type="SOLQ", **TINY))


# ------------------------------------------------------------------------------------------------
# Reference layout of the R-50 model (meta device: no memory, no init cost)
# ------------------------------------------------------------------------------------------------
def test_r50_non_backbone_parameter_count():
    """Every parameter of everything but the ResNet, each shared tensor once (the vector MLP is one module listed
    6 times; ``transformer.decoder.bbox_embed`` is ``bbox_embed``): 30,738,748 with the official 91-slot head
    (reference: 30.74M), 30,713,338 with 80 contiguous classes (6 x 11 x 385 fewer)."""
    with torch.device("meta"):
        official = build_model(dict(type="SOLQ", num_classes=91))
        coco = build_model(dict(type="SOLQ"))  # 80 classes
    assert model_param_info(official) == {
        "params": 54_193_660, "parts": {"backbone": 23_454_912, "non_backbone": 30_738_748}
    }
    assert model_param_info(coco)["parts"] == {"backbone": 23_454_912, "non_backbone": 30_713_338}
    count = lambda m: sum(p.numel() for p in m.parameters())
    # Hand count of the parts (reference_models.md §4.1, §4.5).
    assert count(official.input_proj) == (512 + 1024 + 2048) * 384 + 2048 * 384 * 9 + 4 * 3 * 384 == 8_458_752
    assert count(official.transformer.encoder) == 6 * 1_232_896
    assert count(official.transformer.decoder.layers) == 6 * 1_825_024
    assert count(official.vector_embed) == 384 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 256 + 256 == 1_706_240
    # The backbone has no BN parameters (frozen BN keeps them as buffers): its convolutions only.
    assert count(official.backbone) == 23_454_912


def test_r50_state_dict_keys_mirror_the_official_checkpoint():
    with torch.device("meta"):
        model = build_model(dict(type="SOLQ", num_classes=91))
    state = model.state_dict()
    non_backbone = [k for k in state if not k.startswith("backbone.")]
    assert len(non_backbone) == 368  # reference_models.md §4.5
    named = dict(model.named_parameters(remove_duplicate=False))
    assert set(non_backbone) <= set(named)  # every non-backbone entry is a parameter
    assert len({id(named[k]) for k in non_backbone}) == 302  # unique tensors
    assert len(state) - len(non_backbone) == 53 + 53 * 4  # ResNet-50 convs + FrozenBN buffers, no num_batches_tracked
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    expected = {
        "backbone.0.body.conv1.weight": (64, 3, 7, 7),
        "backbone.0.body.layer2.0.downsample.1.running_var": (512,),
        "backbone.0.body.layer4.2.conv3.weight": (2048, 512, 1, 1),
        "input_proj.0.0.weight": (384, 512, 1, 1),
        "input_proj.2.0.weight": (384, 2048, 1, 1),
        "input_proj.3.0.weight": (384, 2048, 3, 3),
        "input_proj.3.1.weight": (384,),
        "query_embed.weight": (300, 768),
        "transformer.level_embed": (4, 384),
        "transformer.reference_points.weight": (2, 384),
        "transformer.encoder.layers.5.self_attn.sampling_offsets.weight": (256, 384),
        "transformer.encoder.layers.0.self_attn.attention_weights.weight": (128, 384),
        "transformer.encoder.layers.0.self_attn.value_proj.weight": (384, 384),
        "transformer.encoder.layers.0.self_attn.output_proj.bias": (384,),
        "transformer.encoder.layers.0.norm1.weight": (384,),
        "transformer.encoder.layers.0.linear1.weight": (1024, 384),
        "transformer.encoder.layers.0.linear2.weight": (384, 1024),
        "transformer.encoder.layers.0.norm2.bias": (384,),
        "transformer.decoder.layers.5.cross_attn.sampling_offsets.bias": (256,),
        "transformer.decoder.layers.0.self_attn.in_proj_weight": (1152, 384),
        "transformer.decoder.layers.0.self_attn.in_proj_bias": (1152,),
        "transformer.decoder.layers.0.self_attn.out_proj.weight": (384, 384),
        "transformer.decoder.layers.0.norm3.weight": (384,),
        "transformer.decoder.bbox_embed.5.layers.2.weight": (4, 384),
        "class_embed.5.weight": (91, 384),
        "bbox_embed.0.layers.0.weight": (384, 384),
        "bbox_embed.5.layers.2.bias": (4,),
        "vector_embed.0.layers.0.weight": (1024, 384),
        "vector_embed.5.layers.1.weight": (1024, 1024),
        "vector_embed.3.layers.2.weight": (256, 1024),
    }
    for key, shape in expected.items():
        assert shapes.get(key) == shape, key
    assert not any("num_batches_tracked" in k or k.startswith("backbone.0.body.fc.") for k in state)
    assert not any(k.startswith(("codec.", "matcher.")) for k in state)  # derived buffers are not saved
    # Shared modules, as in the reference.
    assert all(model.vector_embed[i] is model.vector_embed[0] for i in range(6))
    assert model.transformer.decoder.bbox_embed is model.bbox_embed
    assert len({id(m) for m in model.class_embed}) == 6 and len({id(m) for m in model.bbox_embed}) == 6
    assert model.classifier_param_names() == [f"class_embed.{l}.{k}" for l in range(6) for k in ("weight", "bias")]


def test_reference_initialisation(tiny_model):
    m = tiny_model
    for layer in m.class_embed:
        assert torch.allclose(layer.bias, torch.full((3,), -math.log(99.0)))
        assert torch.equal(layer.weight, m.class_embed[0].weight)  # clones of one initialised head
    assert torch.all(m.bbox_embed[2].layers[-1].weight == 0) and torch.all(m.bbox_embed[2].layers[-1].bias == 0)
    assert torch.equal(m.bbox_embed[0].layers[-1].bias, torch.tensor([0.0, 0.0, -2.0, -2.0]))  # first layer only
    last = m.vector_embed[0].layers[-1]
    assert torch.all(last.weight == 0) and torch.all(last.bias[:2] == 0) and torch.all(last.bias[2:] == -2)
    assert torch.all(m.transformer.reference_points.bias == 0)
    assert torch.all(m.input_proj[0][0].bias == 0)
    assert m.feature_strides == (8, 16, 32, 64) and m.feature_channels == 64


def test_official_checkpoint_loads_with_coco_rows_picked(tmp_path):
    """An official-layout file ({'model', 'optimizer', 'epoch', ...}, 91-slot head) loads into an 80-class model
    with nothing missing: row ``COCO_THING_IDS[label]`` becomes ``label``."""
    torch.manual_seed(0)
    source = build_model(dict(type="SOLQ", **{**TINY, "num_classes": 80}))
    official = {}
    for key, value in source.state_dict().items():
        if key.startswith("class_embed."):
            wide = torch.randn((91,) + tuple(value.shape[1:]))
            wide[list(COCO_THING_IDS)] = value
            value = wide
        official[key] = value
    path = tmp_path / "solq_r50.pth"
    torch.save({"model": official, "optimizer": {}, "lr_scheduler": {}, "epoch": 49, "args": None}, path)
    fresh = build_model(dict(type="SOLQ", **{**TINY, "num_classes": 80}))
    report = load_checkpoint(fresh, str(path))
    assert not report.missing and not report.unexpected and not report.mismatched
    for key, value in source.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    # The model's own checkpoints pass through unchanged.
    own = source.state_dict()
    assert fresh.convert_state_dict(own) is own


def test_frozen_bn_backbone_loads_imagenet_weights_at_init_weights(tmp_path):
    """DETR backbone: FrozenBatchNorm2d (statistics and affine as buffers); a torchvision ResNet state dict (with
    ``num_batches_tracked`` and ``fc``) loads in `init_weights`, never at construction."""
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        source.bn1.running_mean.uniform_()
        source.layer3[1].bn2.weight.uniform_()
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    backbone = dict(depth=18, norm="frozen_bn", pretrained=str(path))
    model = build_model(dict(type="SOLQ", **{**TINY, "backbone": backbone}))
    body = model.backbone[0].body
    assert isinstance(body.bn1, torchvision.ops.FrozenBatchNorm2d)
    assert not any("bn" in n or "downsample.1" in n for n, _ in body.named_parameters())
    assert not torch.equal(body.layer3[1].bn2.weight, source.layer3[1].bn2.weight)
    model.init_weights()
    assert torch.equal(body.bn1.running_mean, source.bn1.running_mean)
    assert torch.equal(body.layer3[1].bn2.weight, source.layer3[1].bn2.weight)
    assert torch.equal(body.layer4[0].conv2.weight, source.layer4[0].conv2.weight)


def test_build_model_and_config_errors():
    assert SEGMENTERS["SOLQ"] is SOLQ
    model = build_model(dict(type="SOLQ", **TINY))
    assert isinstance(model, SOLQ) and model.num_classes == 3
    with pytest.raises(ConfigError, match="num_querys"):
        build_model(dict(type="SOLQ", num_querys=10))
    with pytest.raises(ConfigError, match="detph"):
        build_model(dict(type="SOLQ", **{**TINY, "backbone": dict(detph=18)}))
    with pytest.raises(ConfigError, match="mask"):
        build_model(dict(type="SOLQ", **{**TINY, "loss_weights": dict(mask=1.0)}))
    with pytest.raises(ConfigError, match="num_feature_levels"):
        build_model(dict(type="SOLQ", **{**TINY, "num_feature_levels": 2}))
    with pytest.raises(ConfigError, match="GroupNorm"):
        build_model(dict(type="SOLQ", **{**TINY, "hidden_dim": 48, "num_heads": 4}))


# ------------------------------------------------------------------------------------------------
# Training contract
# ------------------------------------------------------------------------------------------------
def test_forward_losses_and_backward(tiny_model):
    torch.manual_seed(0)
    tiny_model.train()
    tiny_model.zero_grad()
    image, target = make_two_rectangles()
    other = torch.rand(3, 96, 112) * 255
    losses = tiny_model([image, other], [target, make_empty_target(96, 112)])
    names = ("loss_cls", "loss_bbox", "loss_giou", "loss_vector")
    assert set(losses) == {f"s{i}.{n}" for n in names for i in range(3)}  # every decoder layer
    assert all(v.dim() == 0 and torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    grad = lambda p: p.grad is not None and p.grad.abs().sum() > 0
    m = tiny_model
    assert grad(m.backbone[0].body.layer2[0].conv1.weight)
    assert m.backbone[0].body.layer1[0].conv1.weight.grad is None  # frozen stage
    for seq in m.input_proj:
        assert grad(seq[0].weight)
    assert grad(m.query_embed.weight) and grad(m.transformer.reference_points.weight)
    # The level embedding only enters the encoder's offset / weight linears, which start at zero (reference
    # init): in the graph, but with a zero gradient at the first step.
    assert m.transformer.level_embed.grad is not None
    assert grad(m.transformer.encoder.layers[0].self_attn.sampling_offsets.weight)
    assert grad(m.transformer.decoder.layers[0].cross_attn.sampling_offsets.weight)
    for layer in range(3):
        assert grad(m.class_embed[layer].weight) and grad(m.bbox_embed[layer].layers[2].weight)
    assert grad(m.vector_embed[0].layers[2].weight)


def test_loss_values_follow_the_reference_formulas(tiny_model):
    """loss_vector = 3 x mean |pred - cv2.dct(GT mask cut by its GT box at 128x128)| in zig-zag order;
    loss_bbox = 5 x L1 on normalised cxcywh / num_boxes; loss_cls = 2 x the reference's focal form (its loss_ce)."""
    tiny_model.train()
    image, target = make_two_rectangles()
    batch = tiny_model.transform([image])
    with torch.no_grad():
        _, out = tiny_model._run(batch)
        sets = tiny_model.prediction_sets(out, batch.image_sizes)
        inputs = tiny_model.loss_inputs([target], batch.image_sizes)
        losses, _ = tiny_model.criterion(sets, inputs)
        matches = tiny_model.criterion.match(sets[-1], inputs)
    losses = {name.split(".", 1)[1]: value for name, value in losses.items() if name.startswith("s2.")}
    pred_idx, gt_idx = matches[0]
    assert len(pred_idx) == 2
    num_boxes = 2.0
    crops = crop_and_resize_masks(target["masks"], target["boxes"][gt_idx], gt_idx, size=128)
    table = [r * 128 + c for r, c in zigzag_order(128, 256)]
    target_vec = torch.stack([torch.from_numpy(cv2.dct(c.numpy()).flatten()[table]) for c in crops])
    assert abs(float(target_vec[:, 0].min()) - 128.0) < 0.1  # rectangles almost fill their boxes: DC ~ 128
    vectors = out.vectors[-1][0, pred_idx]
    assert torch.allclose(losses["loss_vector"], 3 * (vectors - target_vec).abs().mean(), rtol=1e-4)
    gt = box_convert(target["boxes"][gt_idx] / 128.0, "xyxy", "cxcywh")
    boxes = out.boxes[-1][0, pred_idx]
    assert torch.allclose(losses["loss_bbox"], 5 * (boxes - gt).abs().sum() / num_boxes, rtol=1e-5)
    logits = out.logits[-1][0]
    onehot = torch.zeros_like(logits)
    onehot[pred_idx, target["labels"][gt_idx]] = 1
    p = logits.sigmoid()
    focal = torch.nn.functional.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    focal = focal * (0.25 * onehot + 0.75 * (1 - onehot)) * ((1 - p) * onehot + p * (1 - onehot)) ** 2
    # The reference: focal.mean(1).sum() / num_boxes * num_queries.
    assert torch.allclose(losses["loss_cls"], 2 * focal[None].mean(1).sum() / num_boxes * logits.shape[0], rtol=1e-5)


def test_references_are_detached_between_layers(tiny_model):
    """The last layer's box depends on the previous layer's box only through a detached reference."""
    tiny_model.train()
    tiny_model.zero_grad()
    image, target = make_two_rectangles()
    losses = tiny_model([image], [target])
    losses["s2.loss_bbox"].backward()  # last layer (index 2)
    first = tiny_model.bbox_embed[0].layers[0].weight.grad
    assert first is None or torch.all(first == 0)
    assert tiny_model.bbox_embed[2].layers[2].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------
# Inference contract
# ------------------------------------------------------------------------------------------------
def test_predict_contract(tiny_model):
    tiny_model.eval()
    images = [torch.rand(3, 100, 120) * 255, torch.rand(3, 128, 96) * 255]
    detections, features = tiny_model.detect(images)
    assert [d.image_size for d in detections] == [(100, 120), (128, 96)]  # in input pixels, masks not pasted
    assert detections[0].mask_probs.shape[1:] == (128, 128)  # the DCT codec's mask size
    results = tiny_model.transform.to_frame(detections, [(200, 240), (64, 48)])
    assert len(results) == 2
    for result, size in zip(results, [(200, 240), (64, 48)]):
        assert isinstance(result, Instances) and result.image_size == size
        assert len(result) == 15  # max_per_img <= Q*K = 36; no threshold, no NMS
        assert result.masks.dtype == torch.bool and result.masks.shape == (15,) + size
        assert result.boxes.shape == (15, 4) and torch.all(result.boxes[:, 2:] > result.boxes[:, :2])
        assert torch.all(result.scores[:-1] >= result.scores[1:])
        assert torch.all((result.labels >= 0) & (result.labels < 3))
        assert result.embeds.shape == (15, 64) and result.query_index.max() < 12
    assert [tuple(m.shape[-2:]) for m in features.maps] == [(16, 15), (8, 8), (4, 4), (2, 2)]  # padded to 128x120
    assert features.strides == [8, 16, 32, 64] and features.maps[0].shape[:2] == (2, 64)
    assert tiny_model.predict(images)[1].image_size == (128, 96)  # default: the input sizes


def test_predicted_masks_are_decoded_vectors_pasted_in_the_boxes(tiny_model):
    """mask = paste(decode(vector of the query), box at the output size, threshold 0.5); box = cxcywh * size."""
    tiny_model.eval()
    image, _ = make_two_rectangles()
    batch = tiny_model.transform([image])
    with torch.no_grad():
        _, out = tiny_model._run(batch)
    (result,) = tiny_model.predict([image], orig_sizes=[(256, 192)])
    query = result.query_index
    boxes = box_convert(out.boxes[-1][0, query], "cxcywh", "xyxy") * torch.tensor([192.0, 256, 192, 256])
    assert torch.allclose(result.boxes, boxes, atol=1e-4)
    decoded = tiny_model.codec.decode(out.vectors[-1][0, query])  # [k, 128, 128] in {0, 1}
    assert torch.equal(result.masks, paste_masks_in_image(decoded, result.boxes, (256, 192), threshold=0.5))
    scores = out.logits[-1][0].sigmoid()
    assert torch.allclose(result.scores, scores[query, result.labels])
    assert torch.allclose(result.embeds, out.hidden[-1][0, query])


def test_overfits_one_image():
    """Boxes, classes and DCT masks of two rectangles are learned in a few dozen steps."""
    torch.manual_seed(0)
    model = build_model(dict(type="SOLQ", **{**TINY, "num_queries": 8}))
    image, target = make_two_rectangles()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    history = []
    for _ in range(20):
        losses = model([image], [target])
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(float(total.detach()))
    assert history[-1] < 0.5 * history[0], history


# ------------------------------------------------------------------------------------------------
# Through the tools, on generated shapes data
# ------------------------------------------------------------------------------------------------
def _run_train(args):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, TRAIN_TOOL, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _cli(opts):
    return [f"{k}={v}".replace(" ", "") for k, v in opts.items()]


COMMON = {"schedule.max_iters": 3, "schedule.milestones": [], "schedule.warmup_iters": 1,
          "data.samples_per_gpu": 2, "data.workers_per_gpu": 0, "runtime.log_interval": 1,
          "runtime.checkpoint_interval": 3, "runtime.eval_interval": 0, "runtime.progress_bar": False,
          "runtime.tensorboard": False, "model.num_queries": 10,
          "model.backbone.pretrained": None}  # the shipped config starts from work/pretrained/r18_shapes.pth


def test_train_tool_runs_a_few_iterations(tmp_path):
    root = str(tmp_path / "shapes")
    make_coco_split(root, "train", num_images=4, seed=3, min_size=64, max_size=96, progress=False)
    coco = os.path.join(root, "coco")
    work = str(tmp_path / "work")
    opts = dict(COMMON, **{"data.train.ann_file": os.path.join(coco, "annotations", "instances_train.json"),
                           "data.train.img_dir": os.path.join(coco, "train"), "data.val": None})
    _run_train([os.path.join(REPO, "configs", "shapes", "solq_tiny_shapes.py"), "--work-dir", work,
                "--cfg-options", *_cli(opts)])
    with open(os.path.join(work, "metrics.jsonl")) as f:
        events = [json.loads(line) for line in f if '"train"' in line]
    assert len(events) == 3 and all(math.isfinite(e["loss"]) for e in events)
    checkpoint = torch.load(os.path.join(work, "iter_3.pth"), map_location="cpu", weights_only=True)
    assert checkpoint["meta"]["model_type"] == "SOLQ" and "vector_embed.2.layers.2.weight" in checkpoint["model"]


def test_video_segmenter_wrapping_solq_trains_with_reference_frames(tmp_path):
    """One joint step on a (key, reference) pair trains the track head on the encoder memory, and predict adds
    track embeddings; then the tiny SOLQ-VIS config trains on generated videos through the training pipeline
    (in process: tools/train.py is exercised by the test above)."""
    torch.manual_seed(0)
    video = build_model(
        dict(type="VideoSegmenter", segmenter=dict(type="SOLQ", **TINY), track_head=dict(fc_channels=32))
    )
    assert video.track_head.roi_pool.strides == (8, 16, 32, 64)
    key_image, key_target = make_two_rectangles()
    ref_image, ref_target = make_two_rectangles()
    for t, ids in ((key_target, [11, 12]), (ref_target, [12, 99])):
        t.update(instance_ids=torch.tensor(ids), image_id=0, orig_size=(128, 128), image_size=(128, 128), file_name="x")
    batch = collate([{"image": key_image, "target": key_target, "ref_image": ref_image, "ref_target": ref_target}])
    video.train()
    losses = video(batch["images"], batch["targets"], batch["ref_images"], batch["ref_targets"])
    assert "loss_track" in losses and torch.isfinite(losses["loss_track"]) and "s1.loss_vector" in losses
    sum(losses.values()).backward()
    assert video.track_head.fcs[0].weight.grad.abs().sum() > 0
    video.eval()
    (inst,) = video.predict([key_image], orig_sizes=[(64, 64)])
    assert inst.track_embeds.shape == (15, 32) and inst.masks.shape == (15, 64, 64)

    root = str(tmp_path / "shapes")
    make_ytvis_split(root, "train", num_videos=2, seed=5, num_frames=(5, 6), height=64, width=80, progress=False)
    ytvis = os.path.join(root, "ytvis")
    work = str(tmp_path / "video")
    opts = dict(COMMON, **{"data.train.ann_file": os.path.join(ytvis, "train.json"),
                           "data.train.img_dir": os.path.join(ytvis, "train", "JPEGImages"), "data.test": None,
                           "model.segmenter.num_queries": 10, "model.segmenter.backbone.pretrained": None})
    del opts["model.num_queries"], opts["model.backbone.pretrained"]
    from pipelines.train import train_from_config

    train_from_config(os.path.join(REPO, "configs", "shapes", "solq_vis_tiny_shapes.py"), work_dir=work,
                      cfg_options=opts)
    with open(os.path.join(work, "metrics.jsonl")) as f:
        events = [json.loads(line) for line in f if '"train"' in line]
    assert len(events) == 3 and all("loss_track" in e and math.isfinite(e["loss"]) for e in events)


def test_batches_are_padded_only_to_the_largest_image(tiny_model):
    """DETR's nested_tensor_from_tensor_list: no rounding to 32; a loader batch padded to 32 is cut back, so a
    single 370x500 image is not padded at all and predicts the same alone or from a padded ImageBatch."""
    from vis.structures import ImageBatch

    torch.manual_seed(0)
    a, b = torch.rand(3, 370, 500) * 255, torch.rand(3, 300, 520) * 255
    single = tiny_model.transform([a])
    assert tuple(single.tensor.shape) == (1, 3, 370, 500) and bool(single.valid_mask().all())
    pair = tiny_model.transform([a, b])
    assert tuple(pair.tensor.shape) == (2, 3, 370, 520)
    assert pair.valid_mask()[1, :300, :520].all() and not pair.valid_mask()[1, 300:].any()
    assert not pair.valid_mask()[0, :, 500:].any()
    loader = ImageBatch.from_tensors([a], size_divisibility=32)  # what collate gives: 384 x 512
    assert tuple(loader.tensor.shape[-2:]) == (384, 512)
    assert tuple(tiny_model.transform(loader).tensor.shape) == (1, 3, 370, 500)
    tiny_model.eval()
    alone = tiny_model.predict([a])[0]
    padded = tiny_model.predict(loader)[0]
    assert torch.equal(alone.boxes, padded.boxes) and torch.equal(alone.scores, padded.scores)
    # The rounding mmdet does would change the input: padding is real input to DETR-family encoders.
    with torch.no_grad():
        rounded = build_model(dict(type="SOLQ", **{**TINY, "size_divisibility": 32}))
        rounded.load_state_dict(tiny_model.state_dict())
        rounded.eval()
        assert not torch.equal(rounded.predict([a])[0].scores, alone.scores)


def test_unused_labels_are_never_emitted():
    torch.manual_seed(0)
    model = build_model(dict(type="SOLQ", **{**TINY, "num_classes": 5, "unused_labels": [0, 3], "max_per_img": 30}))
    model.eval()
    labels = model.predict([torch.rand(3, 96, 128) * 255])[0].labels
    assert len(labels) == 30 and not ({0, 3} & set(labels.tolist()))
    with pytest.raises(ConfigError, match="unused_labels must lie in 0..4"):
        build_model(dict(type="SOLQ", **{**TINY, "num_classes": 5, "unused_labels": [5]}))
