"""QueryInst (Fang et al., ICCV 2021) as implemented in mmdetection 3.x (reference_models.md §1).

P learned queries, each with a learned box, are refined by ``num_stages`` cascaded stages. Each stage:

1. pools 7x7 RoI features at its input boxes (detached, except the learned initial boxes at stage 0);
2. ``DIIHead``: self-attention among the queries -> ``attn_feats``; dynamic interaction with the query's own RoI
   -> FFN -> ``obj_feat`` (the next stage's query, NOT detached); class logits and box deltas from ``obj_feat``;
3. decodes the deltas into new boxes (the next stage's RoIs, detached);
4. ``DynamicMaskHead``: pools 14x14 RoIs at this stage's OUTPUT boxes and predicts K 28x28 mask logits per box,
   with dynamic weights generated from ``attn_feats`` (not ``obj_feat``), as the reference does.

Training matches queries to GT per image and per stage (Hungarian) and sums the stage losses; inference takes
the last stage's top-k (query, class) pairs with no NMS.

Module and parameter names mirror mmdet's state dict (``rpn_head.*``, ``roi_head.bbox_head.{s}.*``,
``roi_head.mask_head.{s}.*``); the backbone uses torchvision names (identical to mmdet's) and the neck torchvision
FPN names, so an official checkpoint loads after `convert_mmdet_queryinst_state_dict`.
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn
from torchvision.ops import box_convert

from ...config import check_kwargs
from ...errors import ConfigError
from ...structures import Instances
from ..backbone import build_backbone, run_fpn
from ..box_coder import DeltaXYWHBoxCoder
from ..dynamic_conv import DynamicConv
from ..losses import dice_loss, giou_loss, l1_loss, reduce_mean, sigmoid_focal_loss
from ..mask_ops import crop_and_resize_masks
from ..matcher import HungarianMatcher
from ..roi_pool import MultiLevelRoIAlign
from .base import (
    IMAGENET_PIXEL_MEAN,
    IMAGENET_PIXEL_STD,
    FeatureMaps,
    FrameSegmenter,
    Images,
    MatchedPredictions,
    make_instances,
    merge_weights,
)


# ------------------------------------------------------------------------------------------------
# Proposals
# ------------------------------------------------------------------------------------------------
class EmbeddingRPNHead(nn.Module):
    """Learned proposals: P boxes (normalised cx, cy, w, h) and P query features, the same for every image.

    Boxes start as the full image; features keep ``nn.Embedding``'s N(0, 1) init (mmdet ``EmbeddingRPNHead``).
    """

    def __init__(self, num_proposals: int = 100, hidden_dim: int = 256):
        super().__init__()
        self.num_proposals = num_proposals
        self.init_proposal_bboxes = nn.Embedding(num_proposals, 4)
        self.init_proposal_features = nn.Embedding(num_proposals, hidden_dim)
        with torch.no_grad():
            self.init_proposal_bboxes.weight[:, :2] = 0.5
            self.init_proposal_bboxes.weight[:, 2:] = 1.0

    def forward(self, image_sizes: Sequence[Tuple[int, int]]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image_sizes: unpadded (h, w) per image -> boxes [N, P, 4] absolute xyxy, queries [N, P, C],
        imgs_whwh [N, 1, 4] (the box-loss normaliser).

        The boxes keep their gradient: through the stage-0 box decoding the box losses train them.
        """
        num_images = len(image_sizes)
        weight = self.init_proposal_bboxes.weight
        imgs_whwh = weight.new_tensor([[w, h, w, h] for h, w in image_sizes])[:, None, :]  # [N, 1, 4]
        boxes = box_convert(weight, "cxcywh", "xyxy")[None] * imgs_whwh  # [N, P, 4]
        queries = self.init_proposal_features.weight[None].expand(num_images, -1, -1)
        return boxes, queries, imgs_whwh


# ------------------------------------------------------------------------------------------------
# Box head
# ------------------------------------------------------------------------------------------------
class QuerySelfAttention(nn.Module):
    """Multi-head self-attention among one image's queries, plus the identity (mmcv ``MultiheadAttention``,
    whose residual is inside the module; the wrapped ``nn.MultiheadAttention`` is named ``attn``)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=True)

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """queries: [N, P, C] -> [N, P, C]."""
        return queries + self.attn(queries, queries, queries, need_weights=False)[0]


class FFN(nn.Module):
    """``x + Linear(ReLU(Linear(x)))``, laid out as mmcv ``FFN`` (``layers.0.0`` and ``layers.1``)."""

    def __init__(self, embed_dim: int, feedforward_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(embed_dim, feedforward_channels), nn.ReLU(inplace=True)),
            nn.Linear(feedforward_channels, embed_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def _fc_ln_relu(num_layers: int, dim: int) -> nn.Sequential:
    """``num_layers`` x [Linear(no bias), LayerNorm, ReLU]: keys ``{3i}.weight``, ``{3i+1}.{weight,bias}``."""
    layers: List[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Linear(dim, dim, bias=False), nn.LayerNorm(dim), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DIIHead(nn.Module):
    """Dynamic Instance Interactive head of one stage (mmdet ``DIIHead``), post-norm throughout.

    Args:
        num_classes: K (sigmoid classifier, no background logit).
        in_channels: query and RoI channels C.
        num_heads, feedforward_channels: self-attention heads and FFN width.
        dynamic_channels: hidden width of the dynamic interaction (64).
        roi_size: side of the pooled RoI features (7).
        num_cls_fcs, num_reg_fcs: Linear-LN-ReLU blocks before ``fc_cls`` / ``fc_reg``.
    """

    def __init__(
        self,
        num_classes: int = 80,
        in_channels: int = 256,
        num_heads: int = 8,
        feedforward_channels: int = 2048,
        dynamic_channels: int = 64,
        roi_size: int = 7,
        num_cls_fcs: int = 1,
        num_reg_fcs: int = 3,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.attention = QuerySelfAttention(in_channels, num_heads)
        self.attention_norm = nn.LayerNorm(in_channels)
        self.instance_interactive_conv = DynamicConv(
            in_channels, dynamic_channels, in_channels, input_feat_shape=roi_size, with_proj=True, activation="relu"
        )
        self.instance_interactive_conv_norm = nn.LayerNorm(in_channels)
        self.ffn = FFN(in_channels, feedforward_channels)
        self.ffn_norm = nn.LayerNorm(in_channels)
        self.cls_fcs = _fc_ln_relu(num_cls_fcs, in_channels)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        self.reg_fcs = _fc_ln_relu(num_reg_fcs, in_channels)
        self.fc_reg = nn.Linear(in_channels, 4)
        self._init_weights()

    def _init_weights(self) -> None:
        """xavier-uniform on every matrix; fc_reg bias 0 (mmdet BBoxHead init); fc_cls bias = prior 0.01."""
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        nn.init.zeros_(self.fc_reg.bias)
        nn.init.constant_(self.fc_cls.bias, -math.log((1 - 0.01) / 0.01))

    def forward(
        self, roi_feats: torch.Tensor, queries: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """roi_feats: [N*P, C, S, S] (image-major), queries: [N, P, C].

        Returns cls_logits [N, P, K], box deltas [N, P, 4], obj_feat [N, P, C] (next query),
        attn_feats [N, P, C] (query after self-attention; drives the mask head).
        """
        num_images, num_queries = queries.shape[:2]
        attn_feats = self.attention_norm(self.attention(queries))  # [N, P, C]
        flat = attn_feats.reshape(num_images * num_queries, self.in_channels)  # [N*P, C]
        obj_feat = self.instance_interactive_conv_norm(flat + self.instance_interactive_conv(flat, roi_feats))
        obj_feat = self.ffn_norm(self.ffn(obj_feat))  # [N*P, C]
        cls_logits = self.fc_cls(self.cls_fcs(obj_feat))
        deltas = self.fc_reg(self.reg_fcs(obj_feat))
        return (
            cls_logits.view(num_images, num_queries, self.num_classes),
            deltas.view(num_images, num_queries, 4),
            obj_feat.view(num_images, num_queries, self.in_channels),
            attn_feats,
        )


# ------------------------------------------------------------------------------------------------
# Mask head
# ------------------------------------------------------------------------------------------------
class ConvBNReLU(nn.Module):
    """3x3 conv without bias (a norm follows) -> BN -> ReLU (mmcv ``ConvModule``: keys ``conv``, ``bn``)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class DynamicMaskHead(nn.Module):
    """Per-stage mask head (mmdet ``DynamicMaskHead``): dynamic interaction on 14x14 RoIs, 4 convs, x2 deconv,
    one 28x28 logit map per class. Its BatchNorms use batch statistics in training (no norm_eval here)."""

    def __init__(
        self,
        num_classes: int = 80,
        in_channels: int = 256,
        dynamic_channels: int = 64,
        roi_size: int = 14,
        num_convs: int = 4,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.roi_size = roi_size
        self.instance_interactive_conv = DynamicConv(
            in_channels, dynamic_channels, in_channels, input_feat_shape=roi_size, with_proj=False, activation="relu"
        )
        self.convs = nn.ModuleList([ConvBNReLU(in_channels, in_channels) for _ in range(num_convs)])
        self.upsample = nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2)
        self.relu = nn.ReLU(inplace=True)
        self.conv_logits = nn.Conv2d(in_channels, num_classes, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        """xavier-uniform on every matrix / kernel, conv_logits bias 0 (other biases keep PyTorch's init)."""
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        nn.init.zeros_(self.conv_logits.bias)

    def forward(self, roi_feats: torch.Tensor, attn_feats: torch.Tensor) -> torch.Tensor:
        """roi_feats: [R, C, 14, 14], attn_feats: [R, C] -> mask logits [R, K, 28, 28]."""
        x = self.instance_interactive_conv(attn_feats, roi_feats)  # [R, 14*14, C]
        x = x.transpose(1, 2).reshape(roi_feats.shape)  # [R, C, 14, 14]
        for conv in self.convs:
            x = conv(x)
        x = self.relu(self.upsample(x))  # [R, C, 28, 28]
        return self.conv_logits(x)


# ------------------------------------------------------------------------------------------------
# Cascade of stages
# ------------------------------------------------------------------------------------------------
class StageOutput(NamedTuple):
    cls_logits: torch.Tensor  # [N, P, K]
    boxes: torch.Tensor  # [N, P, 4] decoded xyxy, with gradient through the deltas
    obj_feats: torch.Tensor  # [N, P, C] next stage's queries
    attn_feats: torch.Tensor  # [N, P, C] mask head's dynamic-parameter source


class QueryRoIHead(nn.Module):
    """The ``num_stages`` box heads and mask heads plus their (parameter-free) RoI poolers and box coder
    (mmdet ``SparseRoIHead``; keys ``bbox_head.{s}.*`` and ``mask_head.{s}.*``)."""

    def __init__(
        self,
        num_classes: int,
        num_stages: int,
        hidden_dim: int,
        num_heads: int,
        feedforward_channels: int,
        dynamic_channels: int,
        num_cls_fcs: int,
        num_reg_fcs: int,
        mask_num_convs: int,
        box_roi_size: int,
        mask_roi_size: int,
        strides: Sequence[int] = (4, 8, 16, 32),
    ):
        super().__init__()
        self.num_stages = num_stages
        self.bbox_head = nn.ModuleList(
            [
                DIIHead(
                    num_classes, hidden_dim, num_heads, feedforward_channels, dynamic_channels,
                    box_roi_size, num_cls_fcs, num_reg_fcs,
                )
                for _ in range(num_stages)
            ]
        )
        self.mask_head = nn.ModuleList(
            [
                DynamicMaskHead(num_classes, hidden_dim, dynamic_channels, mask_roi_size, mask_num_convs)
                for _ in range(num_stages)
            ]
        )
        # mmdet SingleRoIExtractor + mmcv RoIAlign: aligned, 2 samples per bin side, finest_scale 56.
        self.box_roi_pool = MultiLevelRoIAlign(box_roi_size, strides, sampling_ratio=2, aligned=True)
        self.mask_roi_pool = MultiLevelRoIAlign(mask_roi_size, strides, sampling_ratio=2, aligned=True)
        self.box_coder = DeltaXYWHBoxCoder(means=(0.0, 0.0, 0.0, 0.0), stds=(0.5, 0.5, 1.0, 1.0))

    def forward_box_stage(
        self, stage: int, features: List[torch.Tensor], boxes: torch.Tensor, queries: torch.Tensor
    ) -> StageOutput:
        """features: P2..P5; boxes: [N, P, 4] this stage's input boxes; queries: [N, P, C]."""
        num_images, num_queries = boxes.shape[:2]
        roi_feats = self.box_roi_pool(features, list(boxes))  # [N*P, C, 7, 7]
        cls_logits, deltas, obj_feats, attn_feats = self.bbox_head[stage](roi_feats, queries)
        new_boxes = self.box_coder.decode(boxes.reshape(-1, 4), deltas.reshape(-1, 4))
        return StageOutput(cls_logits, new_boxes.view(num_images, num_queries, 4), obj_feats, attn_feats)

    def forward_mask(
        self, stage: int, features: List[torch.Tensor], boxes: List[torch.Tensor], attn_feats: torch.Tensor
    ) -> torch.Tensor:
        """boxes: per image [R_i, 4] (this stage's detached output boxes); attn_feats: [sum R_i, C] in the same
        order -> mask logits [sum R_i, K, 28, 28]."""
        roi_feats = self.mask_roi_pool(features, boxes)  # [R, C, 14, 14]
        return self.mask_head[stage](roi_feats, attn_feats)


# ------------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------------
class QueryInstCriterion:
    """Stage losses given predictions, targets and the stage's matching (mmdet ``DIIHead.loss`` and
    ``DynamicMaskHead.loss_and_target``). Every term is a sum divided by ``avg_factor`` = #matched GT averaged
    over GPUs; the mask term clamps it to >= 1."""

    def __init__(self, num_classes: int, loss_weights: Dict[str, float], mask_size: int = 28):
        self.num_classes = num_classes
        self.weights = dict(loss_weights)
        self.mask_size = mask_size

    def box_losses(
        self,
        cls_logits: torch.Tensor,
        boxes: torch.Tensor,
        targets: Sequence[Dict[str, torch.Tensor]],
        matches: Sequence[Tuple[torch.Tensor, torch.Tensor]],
        imgs_whwh: torch.Tensor,
        avg_factor: torch.Tensor,
    ) -> Dict[str, torch.Tensor]:
        """cls_logits [N, P, K], boxes [N, P, 4] (with gradient), imgs_whwh [N, 1, 4]."""
        # Focal loss over all P x K logits; unmatched queries have an all-zero target row (background).
        cls_targets = torch.zeros_like(cls_logits)
        for i, (pred_idx, gt_idx) in enumerate(matches):
            cls_targets[i, pred_idx, targets[i]["labels"][gt_idx]] = 1.0
        loss_cls = sigmoid_focal_loss(cls_logits, cls_targets, alpha=0.25, gamma=2.0, reduction="sum") / avg_factor

        pos_boxes = torch.cat([boxes[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)])  # [M, 4]
        gt_boxes = torch.cat([targets[i]["boxes"][gt_idx] for i, (_, gt_idx) in enumerate(matches)])
        whwh = torch.cat([imgs_whwh[i].expand(len(pred_idx), 4) for i, (pred_idx, _) in enumerate(matches)])
        if pos_boxes.shape[0] > 0:
            loss_bbox = l1_loss(pos_boxes / whwh, gt_boxes.to(pos_boxes.dtype) / whwh) / avg_factor
            loss_iou = giou_loss(pos_boxes, gt_boxes.to(pos_boxes.dtype)) / avg_factor
        else:  # keep the graph connected when no image has GT
            loss_bbox = boxes.sum() * 0.0
            loss_iou = boxes.sum() * 0.0
        return {
            "loss_cls": loss_cls * self.weights["cls"],
            "loss_bbox": loss_bbox * self.weights["bbox"],
            "loss_iou": loss_iou * self.weights["giou"],
        }

    def mask_targets(
        self,
        pos_boxes: Sequence[torch.Tensor],
        targets: Sequence[Dict[str, torch.Tensor]],
        matches: Sequence[Tuple[torch.Tensor, torch.Tensor]],
        padded_size: Tuple[int, int],
    ) -> torch.Tensor:
        """GT masks cut by the positive PREDICTED boxes (not the GT boxes) and resized to 28x28 -> [M, 28, 28].

        GT masks are first zero-padded to the padded batch size, because mmdet pads masks with the images
        (``pad_mask=True``) and clips the boxes to the padded mask size.
        """
        out = []
        pad_h, pad_w = padded_size
        for boxes_i, target, (_, gt_idx) in zip(pos_boxes, targets, matches):
            if gt_idx.numel() == 0:
                continue
            masks = target["masks"]
            padded = masks.new_zeros((masks.shape[0], pad_h, pad_w))
            padded[:, : masks.shape[1], : masks.shape[2]] = masks
            out.append(crop_and_resize_masks(padded, boxes_i, gt_idx, size=self.mask_size))
        return torch.cat(out)

    def mask_loss(
        self,
        mask_logits: torch.Tensor,
        mask_targets: torch.Tensor,
        pos_labels: torch.Tensor,
        avg_factor: torch.Tensor,
    ) -> torch.Tensor:
        """Dice on the GT label's channel: mask_logits [M, K, 28, 28], mask_targets [M, 28, 28], pos_labels [M]."""
        probs = mask_logits[torch.arange(mask_logits.shape[0], device=mask_logits.device), pos_labels].sigmoid()
        return dice_loss(probs, mask_targets, eps=1e-5, reduction="sum") / avg_factor * self.weights["mask"]


# ------------------------------------------------------------------------------------------------
# The segmenter
# ------------------------------------------------------------------------------------------------
_DEFAULT_BACKBONE = dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True)
_DEFAULT_LOSS_WEIGHTS = dict(cls=2.0, bbox=5.0, giou=2.0, mask=8.0)
_DEFAULT_MATCH_COSTS = dict(cls=2.0, bbox=5.0, giou=2.0)


class QueryInst(FrameSegmenter):
    """QueryInst: ResNet-FPN + learned proposals + ``num_stages`` DIIHead/DynamicMaskHead stages.

    Defaults are the mmdet ``queryinst_r50_fpn_1x_coco`` model (172,688,808 parameters). Every size is a
    parameter so that tiny CPU configurations are possible.
    """

    def __init__(
        self,
        num_classes: int = 80,
        num_proposals: int = 100,
        num_stages: int = 6,
        backbone: Optional[Dict] = None,
        hidden_dim: int = 256,
        num_heads: int = 8,
        feedforward_channels: int = 2048,
        dynamic_channels: int = 64,
        num_cls_fcs: int = 1,
        num_reg_fcs: int = 3,
        mask_num_convs: int = 4,
        box_roi_size: int = 7,
        mask_roi_size: int = 14,
        loss_weights: Optional[Dict[str, float]] = None,
        match_costs: Optional[Dict[str, float]] = None,
        stage_loss_weights: Optional[Sequence[float]] = None,
        max_per_img: int = 100,
        mask_threshold: float = 0.5,
        class_names: Optional[Sequence[str]] = None,
        pixel_mean: Sequence[float] = IMAGENET_PIXEL_MEAN,
        pixel_std: Sequence[float] = IMAGENET_PIXEL_STD,
    ):
        super().__init__(num_classes, class_names, pixel_mean, pixel_std, size_divisibility=32)
        backbone_cfg = {**_DEFAULT_BACKBONE, **(backbone or {})}
        check_kwargs(build_backbone, backbone_cfg, "model backbone")
        if "fpn_channels" in backbone_cfg:
            raise ConfigError("model backbone: 'fpn_channels' is set by the model's hidden_dim")
        if stage_loss_weights is None:
            stage_loss_weights = [1.0] * num_stages
        if len(stage_loss_weights) != num_stages:
            raise ConfigError(f"stage_loss_weights has {len(stage_loss_weights)} entries, num_stages is {num_stages}")

        self.num_proposals = num_proposals
        self.num_stages = num_stages
        self.hidden_dim = hidden_dim
        self.max_per_img = max_per_img
        self.mask_threshold = mask_threshold
        self.stage_loss_weights = [float(w) for w in stage_loss_weights]

        features = build_backbone(**backbone_cfg, fpn_channels=hidden_dim)
        # Registered under mmdet's names: ``backbone.*`` (ResNet, torchvision names) and ``neck.*`` (FPN).
        self.backbone = features.body
        self.neck = features.fpn
        self.rpn_head = EmbeddingRPNHead(num_proposals, hidden_dim)
        self.roi_head = QueryRoIHead(
            num_classes, num_stages, hidden_dim, num_heads, feedforward_channels, dynamic_channels,
            num_cls_fcs, num_reg_fcs, mask_num_convs, box_roi_size, mask_roi_size,
        )
        costs = merge_weights(match_costs, _DEFAULT_MATCH_COSTS, "match_costs")
        self.matcher = HungarianMatcher(cost_class=costs["cls"], cost_bbox=costs["bbox"], cost_giou=costs["giou"])
        weights = merge_weights(loss_weights, _DEFAULT_LOSS_WEIGHTS, "loss_weights")
        self.criterion = QueryInstCriterion(num_classes, weights, mask_size=2 * mask_roi_size)

    def extract_features(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """Normalised padded images [N, 3, H, W] -> [P2, P3, P4, P5]."""
        return run_fpn(self.neck, self.backbone(tensor))

    # -- training ---------------------------------------------------------------------------------
    @property
    def feature_channels(self) -> int:
        return self.hidden_dim

    def forward_train(
        self, images: Images, targets: Sequence[Dict]
    ) -> Tuple[Dict[str, torch.Tensor], FeatureMaps, MatchedPredictions]:
        """images: ImageBatch or list of [3, h, w] (0..255); targets: per image ``boxes`` [G, 4] xyxy,
        ``labels`` [G], ``masks`` bool [G, h, w] -> ({'s{stage}.loss_{cls,bbox,iou,mask}': weighted loss},
        the FPN features, the last stage's matched predictions)."""
        if targets is None:
            raise ValueError("QueryInst.forward computes training losses and needs targets; use predict()")
        batch = self.preprocess(images)
        targets = self.targets_to_device(targets)
        features = self.extract_features(batch.tensor)
        padded_size = tuple(batch.tensor.shape[-2:])
        boxes, queries, imgs_whwh = self.rpn_head(batch.image_sizes)

        losses: Dict[str, torch.Tensor] = {}
        for stage in range(self.num_stages):
            out = self.roi_head.forward_box_stage(stage, features, boxes, queries)
            # Assignment on this stage's detached boxes and logits.
            matches = self.matcher(out.cls_logits.detach(), out.boxes.detach(), targets, batch.image_sizes)
            num_pos = out.cls_logits.new_tensor(float(sum(len(p) for p, _ in matches)))
            avg_factor = reduce_mean(num_pos)
            # mmdet divides by avg_factor + float eps, which explodes when no image has GT; use 1 then.
            box_avg = avg_factor if float(avg_factor) > 0 else avg_factor.new_tensor(1.0)
            stage_losses = self.criterion.box_losses(out.cls_logits, out.boxes, targets, matches, imgs_whwh, box_avg)

            detached_boxes = out.boxes.detach()
            if int(num_pos) > 0:
                # Mask branch on the positives only: this stage's detached OUTPUT boxes and its attn_feats.
                pos_boxes = [detached_boxes[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)]
                pos_attn = torch.cat([out.attn_feats[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)])
                pos_labels = torch.cat([t["labels"][gt_idx] for t, (_, gt_idx) in zip(targets, matches)])
                mask_logits = self.roi_head.forward_mask(stage, features, pos_boxes, pos_attn)
                mask_targets = self.criterion.mask_targets(pos_boxes, targets, matches, padded_size)
                stage_losses["loss_mask"] = self.criterion.mask_loss(
                    mask_logits, mask_targets, pos_labels, avg_factor.clamp(min=1.0)
                )
            else:
                # No positives anywhere: a zero that still involves this stage's mask head (DDP needs every
                # parameter in the graph; mmdet runs the head on zero RoIs for the same reason).
                mask_params = sum(p.sum() for p in self.roi_head.mask_head[stage].parameters())
                stage_losses["loss_mask"] = (out.attn_feats.sum() + mask_params) * 0.0

            for name, value in stage_losses.items():
                losses[f"s{stage}.{name}"] = value * self.stage_loss_weights[stage]
            # Boxes are detached between stages; queries are not (gradients flow through obj_feat).
            boxes = detached_boxes
            queries = out.obj_feats
        matched = MatchedPredictions(
            boxes=[detached_boxes[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)],
            gt_index=[gt_idx for _, gt_idx in matches],
        )
        return losses, FeatureMaps(features, list(self.feature_strides), batch.image_sizes), matched

    # -- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_with_features(
        self, images: Images, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None, defer_masks: bool = False
    ) -> Tuple[List[Instances], FeatureMaps]:
        """Last stage's top ``max_per_img`` (query, class) pairs by sigmoid score; no NMS, no score threshold.

        A query may appear several times with different labels. Masks come from the last stage's mask head
        (channel = label, dynamic parameters from the last ``attn_feats``), pasted at ``orig_sizes`` with the
        rescaled boxes and thresholded at ``mask_threshold``. ``embeds`` is the query's last ``obj_feat``.
        Call ``eval()`` first (the mask head has BatchNorm).
        """
        batch = self.preprocess(images)
        if orig_sizes is None:
            orig_sizes = batch.image_sizes
        if len(orig_sizes) != len(batch):
            raise ValueError(f"got {len(orig_sizes)} orig_sizes for {len(batch)} images")
        features = self.extract_features(batch.tensor)
        boxes, queries, _ = self.rpn_head(batch.image_sizes)
        out = None
        for stage in range(self.num_stages):
            out = self.roi_head.forward_box_stage(stage, features, boxes, queries)
            boxes, queries = out.boxes, out.obj_feats

        num_images, num_queries, num_classes = out.cls_logits.shape
        scores = out.cls_logits.sigmoid().flatten(1)  # [N, P*K], index = query * K + label
        k = min(self.max_per_img, num_queries * num_classes)
        # The reference takes topk(sorted=False); sorting only fixes the order of the same set.
        top_scores, top_idx = scores.topk(k, dim=1, sorted=True)  # [N, k]
        labels = top_idx % num_classes
        query_index = top_idx // num_classes

        # The reference runs the last mask head on all P boxes and picks channel `label` of each kept query.
        # RoIs are independent in eval mode, so running it only on the distinct kept queries gives the same
        # masks for less work (a query may be kept under several labels).
        kept_queries, inverse = [], []
        for i in range(num_images):
            unique, where = torch.unique(query_index[i], return_inverse=True)
            kept_queries.append(unique)
            inverse.append(where)
        mask_logits = self.roi_head.forward_mask(
            self.num_stages - 1,
            features,
            [boxes[i, q] for i, q in enumerate(kept_queries)],
            torch.cat([out.attn_feats[i, q] for i, q in enumerate(kept_queries)]),
        )  # [sum of distinct kept queries, K, 28, 28]
        mask_logits = mask_logits.split([len(q) for q in kept_queries])

        results = []
        for i in range(num_images):
            mask_probs = mask_logits[i][inverse[i], labels[i]].sigmoid()  # [k, 28, 28]
            results.append(
                make_instances(
                    boxes[i, query_index[i]],
                    top_scores[i],
                    labels[i],
                    mask_probs,
                    input_size=batch.image_sizes[i],
                    output_size=tuple(orig_sizes[i]),
                    mask_threshold=self.mask_threshold,
                    defer_masks=defer_masks,
                    embeds=out.obj_feats[i, query_index[i]],
                    query_index=query_index[i],
                )
            )
        return results, FeatureMaps(features, list(self.feature_strides), batch.image_sizes)

    # -- checkpoints and reporting --------------------------------------------------------------
    def param_parts(self) -> Dict[str, List[str]]:
        """Parameter-count parts as the reference reports them (see vis.utils.model_info)."""
        parts = ["backbone", "neck", "rpn_head", "roi_head.bbox_head", "roi_head.mask_head"]
        return {name: [name] for name in parts}

    def convert_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """mmdet QueryInst checkpoints differ only in the FPN key names."""
        return convert_mmdet_queryinst_state_dict(state_dict)

    def classifier_param_names(self) -> List[str]:
        names = []
        for stage in range(self.num_stages):
            names += [f"roi_head.bbox_head.{stage}.fc_cls.weight", f"roi_head.bbox_head.{stage}.fc_cls.bias"]
            names += [f"roi_head.mask_head.{stage}.conv_logits.weight", f"roi_head.mask_head.{stage}.conv_logits.bias"]
        return names


_MMDET_NECK_KEY = re.compile(r"^neck\.(lateral_convs|fpn_convs)\.(\d+)\.conv\.(weight|bias)$")
_TORCHVISION_FPN_BLOCK = {"lateral_convs": "inner_blocks", "fpn_convs": "layer_blocks"}


def convert_mmdet_queryinst_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmdet QueryInst state dict -> this model's: only the FPN keys differ (reference_models.md §2.2).

    ``neck.lateral_convs.{i}.conv.*`` -> ``neck.inner_blocks.{i}.0.*``,
    ``neck.fpn_convs.{i}.conv.*`` -> ``neck.layer_blocks.{i}.0.*``; every other key is kept as is.
    """
    converted = {}
    for key, value in state_dict.items():
        match = _MMDET_NECK_KEY.match(key)
        if match:
            block, index, kind = match.groups()
            key = f"neck.{_TORCHVISION_FPN_BLOCK[block]}.{index}.0.{kind}"
        converted[key] = value
    return converted
