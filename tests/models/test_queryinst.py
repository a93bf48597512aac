"""QueryInst and the shared model pieces: shapes, reference layout (parameter counts, state-dict keys),
training/inference contracts on a tiny CPU configuration, and a single-image overfit."""
import math

import pytest
import torch
from torchvision.ops import box_iou, roi_align

from inputs import make_empty_target, make_two_rectangles
from vis.errors import CheckpointError, ConfigError
from vis.models import SEGMENTERS, QueryInst, build_model
from vis.models.backbone import ResNetTrunk, build_backbone
from vis.models.dynamic_conv import DynamicConv
from vis.models.mask_ops import paste_masks_in_image
from vis.models.roi_pool import MultiLevelRoIAlign, detectron2_roi_levels, mmdet_roi_levels
from vis.models.segmenters.queryinst import DIIHead, DynamicMaskHead, convert_mmdet_queryinst_state_dict
from vis.structures import ImageBatch, Instances

TINY = dict(
    num_classes=3,
    num_proposals=10,
    num_stages=3,
    backbone=dict(depth=18, frozen_stages=1, norm_eval=True),
    hidden_dim=32,
    num_heads=4,
    feedforward_channels=64,
    dynamic_channels=8,
    num_reg_fcs=1,
    mask_num_convs=1,
    max_per_img=15,
)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model(dict(type="QueryInst", **TINY))


# ------------------------------------------------------------------------------------------------
# Pieces
# ------------------------------------------------------------------------------------------------
def test_dynamic_conv_shapes_and_names():
    box = DynamicConv(32, 8, 32, input_feat_shape=7, with_proj=True)
    mask = DynamicConv(32, 8, 32, input_feat_shape=14, with_proj=False)
    istr = DynamicConv(32, 8, 32, input_feat_shape=7, with_proj=True, activation="elu")
    queries = torch.randn(5, 32)
    assert box(queries, torch.randn(5, 32, 7, 7)).shape == (5, 32)
    assert mask(queries, torch.randn(5, 32, 14, 14)).shape == (5, 196, 32)
    assert istr(queries, torch.randn(5, 32, 7, 7)).shape == (5, 32)
    assert isinstance(istr.activation, torch.nn.ELU)
    assert {n.split(".")[0] for n, _ in box.named_parameters()} == {
        "dynamic_layer", "norm_in", "norm_out", "fc_layer", "fc_norm"
    }
    assert {n.split(".")[0] for n, _ in mask.named_parameters()} == {"dynamic_layer", "norm_in", "norm_out"}
    assert box.dynamic_layer.weight.shape == (32 * 8 * 2, 32) and box.fc_layer.weight.shape == (32, 32 * 49)


def test_dynamic_conv_parameter_layout_matches_reference():
    """§1.7: W1 = theta[:in*feat] as [in, feat] (row-major), W2 = theta[in*feat:] as [feat, out];
    RoI features flattened spatial-major (s = y*w + x), projection input index s*out + c."""
    torch.manual_seed(0)
    conv = DynamicConv(4, 3, 4, input_feat_shape=2, with_proj=True)
    query, roi = torch.randn(1, 4), torch.randn(1, 4, 2, 2)
    theta = conv.dynamic_layer(query)[0]
    w1, w2 = theta[:12].view(4, 3), theta[12:].view(3, 4)
    x = torch.stack([roi[0, :, y, xx] for y in range(2) for xx in range(2)])  # [4 positions, 4 channels]
    f = torch.relu(conv.norm_in(x @ w1))
    f = torch.relu(conv.norm_out(f @ w2))
    expected = torch.relu(conv.fc_norm(conv.fc_layer(f.reshape(1, -1))))
    assert torch.allclose(conv(query, roi), expected, atol=1e-6)


def test_dii_head_and_mask_head_shapes():
    head = DIIHead(num_classes=5, in_channels=32, num_heads=4, feedforward_channels=64, dynamic_channels=8)
    cls, deltas, obj, attn = head(torch.randn(2 * 6, 32, 7, 7), torch.randn(2, 6, 32))
    assert cls.shape == (12, 5) and deltas.shape == (12, 4) and obj.shape == (12, 32) and attn.shape == (12, 32)  # per RoI
    assert torch.allclose(head.fc_cls.bias, torch.full((5,), -math.log(99.0)))
    assert len(head.cls_fcs) == 3 and len(head.reg_fcs) == 9  # 1 and 3 x (Linear, LN, ReLU)
    assert head.cls_fcs[0].bias is None and head.reg_fcs[6].bias is None
    mask_head = DynamicMaskHead(num_classes=5, in_channels=32, dynamic_channels=8, roi_size=14, num_convs=4)
    logits = mask_head(torch.randn(7, 32, 14, 14), torch.randn(7, 32))
    assert logits.shape == (7, 5, 28, 28)
    assert mask_head.convs[0].conv.bias is None
    assert torch.all(mask_head.conv_logits.bias == 0)


def test_roi_level_rules():
    sides = torch.tensor([50.0, 111.9, 112.0, 223.0, 224.0, 447.0, 448.0, 2000.0])
    boxes = torch.stack([torch.zeros_like(sides), torch.zeros_like(sides), sides, sides], dim=1)
    assert mmdet_roi_levels(boxes, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # detectron2: canonical 224 -> P4 (index 2); [112, 224) -> P3
    assert detectron2_roi_levels(boxes, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert mmdet_roi_levels(torch.tensor([[0.0, 0.0, 10.0, 90.0]]), 4).tolist() == [0]  # sqrt(w*h) = 30


def test_multi_level_roi_align_uses_aligned_kernel_on_the_assigned_level():
    torch.manual_seed(0)
    feats = [torch.randn(2, 4, 64 // s, 64 // s) for s in (4, 8, 16, 32)]
    pool = MultiLevelRoIAlign(7, strides=(4, 8, 16, 32), sampling_ratio=2)
    boxes = [torch.tensor([[0.0, 0.0, 30.0, 30.0], [0.0, 0.0, 200.0, 200.0]]), torch.tensor([[4.0, 4.0, 60.0, 50.0]])]
    out = pool(feats, boxes)
    assert out.shape == (3, 4, 7, 7)
    rois = torch.tensor([[0.0, 0.0, 0.0, 30.0, 30.0]])
    assert torch.allclose(out[0], roi_align(feats[0], rois, 7, 1 / 4, 2, aligned=True)[0])
    rois = torch.tensor([[0.0, 0.0, 0.0, 200.0, 200.0]])
    assert torch.allclose(out[1], roi_align(feats[1], rois, 7, 1 / 8, 2, aligned=True)[0])
    rois = torch.tensor([[1.0, 4.0, 4.0, 60.0, 50.0]])
    assert torch.allclose(out[2], roi_align(feats[0], rois, 7, 1 / 4, 2, aligned=True)[0])


# ------------------------------------------------------------------------------------------------
# Reference layout of the R-50 model (built on the meta device: no memory, no init cost)
# ------------------------------------------------------------------------------------------------
def test_r50_parameter_counts_and_state_dict_layout():
    with torch.device("meta"):
        # mmdet queryinst_r50_fpn_1x_coco: 100 proposals, 80 classes, 6 stages
        model = build_model(dict(type="QueryInst"))
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(model) == 172_688_808  # every parameter: frozen ones and BN affine included, buffers not
    for stage in range(6):
        assert count(model.roi_head.bbox_head[stage]) == 13_235_412
        assert count(model.roi_head.mask_head[stage]) == 11_066_320

    state = model.state_dict()
    # 780 keys, as the reference checkpoint: BN running stats and num_batches_tracked included,
    # pixel mean/std not (non-persistent buffers).
    assert len(state) == 780
    prefixes = {}
    for key in state:
        top = ".".join(key.split(".")[:3]) if key.startswith("roi_head") else key.split(".")[0]
        prefixes[top] = prefixes.get(top, 0) + 1
    assert prefixes["backbone"] == 318 and prefixes["neck"] == 16 and prefixes["rpn_head"] == 2
    for stage in range(6):
        assert prefixes[f"roi_head.bbox_head.{stage}"] == 40
        assert prefixes[f"roi_head.mask_head.{stage}"] == 34

    shapes = {k: tuple(v.shape) for k, v in state.items()}
    expected = {
        "backbone.conv1.weight": (64, 3, 7, 7),
        "backbone.layer1.0.downsample.1.running_var": (256,),
        "backbone.layer4.2.conv3.weight": (2048, 512, 1, 1),
        "neck.inner_blocks.3.0.weight": (256, 2048, 1, 1),
        "neck.layer_blocks.0.0.weight": (256, 256, 3, 3),
        "rpn_head.init_proposal_bboxes.weight": (100, 4),
        "rpn_head.init_proposal_features.weight": (100, 256),
    }
    for s in range(6):
        b, m = f"roi_head.bbox_head.{s}.", f"roi_head.mask_head.{s}."
        expected.update(
            {
                b + "attention.attn.in_proj_weight": (768, 256),
                b + "attention.attn.in_proj_bias": (768,),
                b + "attention.attn.out_proj.weight": (256, 256),
                b + "attention_norm.weight": (256,),
                b + "instance_interactive_conv.dynamic_layer.weight": (32768, 256),
                b + "instance_interactive_conv.norm_in.weight": (64,),
                b + "instance_interactive_conv.norm_out.bias": (256,),
                b + "instance_interactive_conv.fc_layer.weight": (256, 12544),
                b + "instance_interactive_conv.fc_norm.weight": (256,),
                b + "instance_interactive_conv_norm.bias": (256,),
                b + "ffn.layers.0.0.weight": (2048, 256),
                b + "ffn.layers.1.weight": (256, 2048),
                b + "ffn_norm.weight": (256,),
                b + "cls_fcs.0.weight": (256, 256),
                b + "cls_fcs.1.bias": (256,),
                b + "reg_fcs.0.weight": (256, 256),
                b + "reg_fcs.3.weight": (256, 256),
                b + "reg_fcs.6.weight": (256, 256),
                b + "reg_fcs.7.weight": (256,),
                b + "fc_cls.weight": (80, 256),
                b + "fc_reg.weight": (4, 256),
                m + "instance_interactive_conv.dynamic_layer.weight": (32768, 256),
                m + "convs.3.conv.weight": (256, 256, 3, 3),
                m + "convs.3.bn.num_batches_tracked": (),
                m + "upsample.weight": (256, 256, 2, 2),
                m + "conv_logits.weight": (80, 256, 1, 1),
            }
        )
        assert b + "cls_fcs.0.bias" not in state and m + "convs.0.conv.bias" not in state
        assert m + "instance_interactive_conv.fc_layer.weight" not in state
    for key, shape in expected.items():
        assert shapes.get(key) == shape, key
    assert not any(k.startswith("backbone.fc.") for k in state)
    assert set(model.classifier_param_names()) <= set(state) and len(model.classifier_param_names()) == 24


def test_mmdet_neck_keys_convert_and_load(tiny_model):
    state = tiny_model.state_dict()
    mmdet_state = {}
    for key, value in state.items():
        if key.startswith("neck."):  # neck.inner_blocks.{i}.0.weight -> neck.lateral_convs.{i}.conv.weight
            key = key.replace("neck.inner_blocks.", "neck.lateral_convs.")
            key = key.replace("neck.layer_blocks.", "neck.fpn_convs.")
            key = key.replace(".0.weight", ".conv.weight").replace(".0.bias", ".conv.bias")
        mmdet_state[key] = value
    assert "neck.lateral_convs.0.conv.weight" in mmdet_state and "neck.fpn_convs.3.conv.bias" in mmdet_state
    converted = convert_mmdet_queryinst_state_dict(mmdet_state)
    assert set(converted) == set(state)
    fresh = build_model(dict(type="QueryInst", **TINY))
    fresh.load_state_dict(converted, strict=True)
    assert torch.equal(fresh.neck.inner_blocks[2][0].weight, tiny_model.neck.inner_blocks[2][0].weight)


def test_mmdet_checkpoint_file_loads_through_load_checkpoint(tiny_model, tmp_path):
    """An mmdet-layout file ({'state_dict', 'meta'}, mmdet neck names) loads with nothing missing."""
    from vis.engine.loading import load_checkpoint

    mmdet_state = {}
    for key, value in tiny_model.state_dict().items():
        if key.startswith("neck."):
            block = "lateral_convs" if ".inner_blocks." in key else "fpn_convs"
            index, kind = key.split(".")[2], key.split(".")[-1]
            key = f"neck.{block}.{index}.conv.{kind}"
        mmdet_state[key] = value
    path = tmp_path / "mmdet_queryinst.pth"
    torch.save({"state_dict": mmdet_state, "meta": {"epoch": 12}}, path)
    fresh = build_model(dict(type="QueryInst", **TINY))
    report = load_checkpoint(fresh, str(path))
    assert not report.missing and not report.unexpected and not report.mismatched
    assert torch.equal(fresh.neck.layer_blocks[1][0].bias, tiny_model.neck.layer_blocks[1][0].bias)


# ------------------------------------------------------------------------------------------------
# Config, backbone options, pre-processing
# ------------------------------------------------------------------------------------------------
def test_build_model_and_config_errors():
    assert SEGMENTERS["QueryInst"] is QueryInst
    model = build_model(dict(type="QueryInst", **TINY))
    assert isinstance(model, QueryInst) and model.num_classes == 3 and model.class_names is None
    with pytest.raises(ConfigError, match="num_propsals"):
        build_model(dict(type="QueryInst", num_propsals=10))
    with pytest.raises(ConfigError, match="detph"):
        build_model(dict(type="QueryInst", **{**TINY, "backbone": dict(detph=18)}))
    with pytest.raises(ConfigError, match="dice"):
        build_model(dict(type="QueryInst", **{**TINY, "loss_weights": dict(dice=1.0)}))


def test_backbone_freezing_and_norm_eval(tiny_model):
    tiny_model.train()
    backbone = tiny_model.backbone
    assert not any(p.requires_grad for p in backbone.conv1.parameters())
    assert not any(p.requires_grad for p in backbone.layer1.parameters())
    assert all(p.requires_grad for p in backbone.layer2.parameters())  # BN affine included
    bns = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert backbone.layer2.training  # only the BNs are kept in eval mode
    assert tiny_model.roi_head.mask_head[0].convs[0].bn.training  # the mask head's BN is not norm_eval
    features = build_backbone(depth=18, frozen_stages=-1, norm_eval=False, fpn_channels=16)
    features.train()
    assert features.body.bn1.training and features.body.conv1.weight.requires_grad
    outs = features(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 16, 24), (1, 16, 8, 12), (1, 16, 4, 6), (1, 16, 2, 3)]


def test_pretrained_loading_from_local_file(tmp_path):
    """ImageNet weights named by the config load in `init_weights` (training start), never at construction."""
    source = ResNetTrunk(depth=18)
    state = dict(source.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": state}, path)
    model = build_model(dict(type="QueryInst", **{**TINY, "backbone": dict(depth=18, pretrained=str(path))}))
    assert not torch.equal(model.backbone.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    model.init_weights()
    assert torch.equal(model.backbone.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    missing_path = str(tmp_path / "missing.pth")
    missing = build_model(dict(type="QueryInst", **{**TINY, "backbone": dict(depth=18, pretrained=missing_path)}))
    with pytest.raises(CheckpointError, match="not found"):
        missing.init_weights()
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        build_backbone(depth=18, pretrained=str(tmp_path / "garbage.pth")).body.load_pretrained(str(tmp_path / "garbage.pth"))
    with pytest.raises(CheckpointError, match="does not fit"):
        ResNetTrunk(depth=34).load_pretrained(str(path))


def test_preprocess_normalises_then_pads_with_zero(tiny_model):
    a = torch.rand(3, 50, 70) * 255
    b = torch.rand(3, 64, 40) * 255
    from_list = tiny_model.transform([a, b])
    from_batch = tiny_model.transform(ImageBatch.from_tensors([a, b], 32, pad_value=0.0))
    assert from_list.tensor.shape == (2, 3, 64, 96) and from_list.image_sizes == [(50, 70), (64, 40)]
    assert torch.allclose(from_list.tensor, from_batch.tensor, atol=1e-5)
    assert torch.all(from_list.tensor[0, :, 50:] == 0) and torch.all(from_list.tensor[1, :, :, 40:] == 0)
    expected = (a[:, 0, 0] - torch.tensor([123.675, 116.28, 103.53])) / torch.tensor([58.395, 57.12, 57.375])
    assert torch.allclose(from_list.tensor[0, :, 0, 0], expected, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Training contract
# ------------------------------------------------------------------------------------------------
def test_forward_losses_and_backward(tiny_model):
    torch.manual_seed(0)
    tiny_model.train()
    tiny_model.zero_grad()
    image, target = make_two_rectangles(128, 128)
    other = torch.rand(3, 96, 112) * 255
    losses = tiny_model([image, other], [target, make_empty_target(96, 112)])
    expected = {f"s{s}.loss_{n}" for s in range(3) for n in ("cls", "bbox", "giou", "mask")}
    assert set(losses) == expected
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grad = lambda p: p.grad is not None and p.grad.abs().sum() > 0
    assert grad(tiny_model.backbone.layer2[0].conv1.weight)
    assert tiny_model.backbone.layer1[0].conv1.weight.grad is None
    assert grad(tiny_model.neck.layer_blocks[0][0].weight)
    assert grad(tiny_model.rpn_head.init_proposal_bboxes.weight)  # trained through the stage-0 decoding
    assert grad(tiny_model.rpn_head.init_proposal_features.weight)
    for stage in range(3):
        assert grad(tiny_model.roi_head.bbox_head[stage].fc_cls.weight)
        assert grad(tiny_model.roi_head.bbox_head[stage].instance_interactive_conv.dynamic_layer.weight)
        assert grad(tiny_model.roi_head.mask_head[stage].conv_logits.weight)


def test_boxes_detached_between_stages_queries_not(tiny_model):
    tiny_model.train()
    tiny_model.zero_grad()
    image, target = make_two_rectangles(128, 128)
    losses = tiny_model([image], [target])
    sum(v for k, v in losses.items() if k.startswith("s1.")).backward()
    boxes_grad = tiny_model.rpn_head.init_proposal_bboxes.weight.grad
    assert boxes_grad is None or torch.all(boxes_grad == 0)  # stage-1 RoIs are detached stage-0 boxes
    assert tiny_model.rpn_head.init_proposal_features.weight.grad.abs().sum() > 0  # through obj_feat
    assert tiny_model.roi_head.bbox_head[0].ffn.layers[1].weight.grad.abs().sum() > 0


def test_mask_branch_uses_attn_feats_and_stage_output_boxes(tiny_model, monkeypatch):
    tiny_model.train()
    head = tiny_model.roi_head
    stage_outputs, mask_calls = [], []
    box_stage, forward_mask = head.forward_box_stage, head.forward_mask

    def record_box_stage(*args):
        out = box_stage(*args)
        stage_outputs.append(out)
        return out

    def record_mask(stage, features, boxes, attn_feats):
        mask_calls.append((stage, [b.clone() for b in boxes], attn_feats.detach().clone()))
        return forward_mask(stage, features, boxes, attn_feats)

    monkeypatch.setattr(head, "forward_box_stage", record_box_stage)
    monkeypatch.setattr(head, "forward_mask", record_mask)
    image, target = make_two_rectangles(128, 128)
    tiny_model([image], [target])
    for (stage, boxes, attn), out in zip(mask_calls, stage_outputs):
        pred_idx, _ = tiny_model.matcher(out["logits"].detach(), out["boxes"].detach(), [target], [(128, 128)])[0]
        assert torch.equal(boxes[0], out["boxes"].detach()[0, pred_idx])
        assert torch.equal(attn, out["attn_feats"].detach()[0, pred_idx])
        assert not torch.equal(attn, out["obj_feats"].detach()[0, pred_idx])


# ------------------------------------------------------------------------------------------------
# Inference contract
# ------------------------------------------------------------------------------------------------
def test_predict_contract(tiny_model):
    tiny_model.eval()
    images = [torch.rand(3, 100, 120) * 255, torch.rand(3, 128, 96) * 255]
    results = tiny_model.predict(images, orig_sizes=[(200, 240), (64, 48)])
    assert len(results) == 2
    for result, size in zip(results, [(200, 240), (64, 48)]):
        assert isinstance(result, Instances) and result.image_size == size
        assert len(result) == 15  # max_per_img <= P*K = 30; no threshold, no NMS
        assert result.masks.dtype == torch.bool and result.masks.shape == (15,) + size
        assert result.boxes.shape == (15, 4) and result.boxes.dtype == torch.float32
        assert torch.all(result.scores[:-1] >= result.scores[1:])
        assert torch.all((result.scores > 0) & (result.scores < 1))
        assert result.labels.dtype == torch.int64 and torch.all((result.labels >= 0) & (result.labels < 3))
        assert result.embeds.shape == (15, 32)
        assert result.query_index.dtype == torch.int64 and torch.all(result.query_index < 10)
    # Without orig_sizes: at the input sizes; boxes scale with the requested size, per axis, unclipped.
    plain = tiny_model.predict(ImageBatch.from_tensors(images))
    assert plain[0].image_size == (100, 120) and plain[1].image_size == (128, 96)
    assert torch.allclose(results[0].boxes, plain[0].boxes * 2, atol=1e-3)
    assert torch.allclose(results[1].boxes, plain[1].boxes * 0.5, atol=1e-3)
    assert torch.equal(results[0].query_index, plain[0].query_index)
    # Masks equal the reference path: the last mask head on ALL P boxes, channel = label, pasted at orig size.
    with torch.no_grad():
        batch = tiny_model.transform(images)
        features = tiny_model.extract_features(batch.tensor)
        boxes, queries, _ = tiny_model.rpn_head(batch.image_sizes)
        for stage in range(3):
            out = tiny_model.roi_head.forward_box_stage(stage, features, boxes, queries)
            boxes, queries = out["boxes"], out["obj_feats"]
        all_logits = tiny_model.roi_head.forward_mask(2, features, list(boxes), out["attn_feats"].flatten(0, 1))
        all_logits = all_logits.view(2, 10, 3, 28, 28)
        r = results[0]
        probs = all_logits[0, r.query_index, r.labels].sigmoid()
        assert torch.equal(paste_masks_in_image(probs, r.boxes, (200, 240)), r.masks)
        assert torch.allclose(r.embeds, out["obj_feats"][0, r.query_index])
        assert torch.allclose(r.scores, out["logits"][0, r.query_index, r.labels].sigmoid())
    # The same query carries the same embedding wherever it appears.
    q = plain[0].query_index
    same = (q[:, None] == q[None, :]).nonzero()
    assert torch.allclose(plain[0].embeds[same[:, 0]], plain[0].embeds[same[:, 1]])


# ------------------------------------------------------------------------------------------------
# Learning
# ------------------------------------------------------------------------------------------------
def test_tiny_model_overfits_one_image():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and kinder to a shared CPU
    try:
        torch.manual_seed(0)
        # Frozen (random) ResNet-18 trunk: only the FPN and heads learn, which keeps 100 steps fast.
        model = build_model(dict(type="QueryInst", **{**TINY, "num_stages": 2, "hidden_dim": 64,
                                                      "backbone": dict(depth=18, frozen_stages=4)}))
        model.train()
        image, target = make_two_rectangles(128, 128)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
        history = []
        for _ in range(100):
            loss = sum(model([image], [target]).values())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            history.append(loss.item())
        start, end = history[0], sum(history[-5:]) / 5
        assert end < 0.25 * start, (start, end)  # seeds 0-5 end at 0.06-0.11 of the start
        model.eval()
        result = model.predict([image])[0]
        top = result[:4]
        ious = box_iou(target["boxes"], top.boxes)  # [2 GT, 4 detections]
        assert ious.max(dim=1).values.min() > 0.5  # seeds 0-5: >= 0.62
        assert set(result.labels[:2].tolist()) == {1, 2}
    finally:
        torch.set_num_threads(threads)
