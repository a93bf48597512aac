"""QueryInst (Fang et al., ICCV 2021) as implemented in mmdetection 3.x (reference_models.md §1).

About 500 lines on purpose: one paper's model in one file that reads top to bottom (proposals, box head, mask
head, cascade, mask loss, the segmenter, checkpoint conversion); what it shares with ISTR and SOLQ lives in
`vis.models.sparse_cascade`, `set_criterion`, `postprocess` and `segmenters.base`.

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
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...structures import ImageSizes, Instances
from ...timing import inference_part
from ..backbone import build_backbone, check_fpn_backbone_config, run_fpn
from ..box_coder import DeltaXYWHBoxCoder
from ..dynamic_conv import DynamicConv
from ..frame_transform import FrameTransform, Images
from ..losses import dice_loss
from ..mask_ops import crop_and_resize_masks
from ..matcher import HungarianMatcher
from ..postprocess import select_detections
from ..roi_pool import MultiLevelRoIAlign
from ..set_criterion import (BoxL1Loss, FocalClassLoss, GIoULoss, LossInputs, Matches, PredictionSet, SetCriterion,
                             matched, matched_targets)
from ..sparse_cascade import (fc_norm_act, fpn_cascade_network, init_full_image_boxes_, learned_boxes, refine_boxes,
                             run_cascade)
from .base import FeatureMaps, FrameSegmenter, SegmenterConfig, MatchedPredictions, input_detections, merge_weights


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
        init_full_image_boxes_(self.init_proposal_bboxes)

    def forward(self, image_sizes: ImageSizes) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image_sizes: unpadded (h, w) per image (a list or a tensor [N, 2]) -> boxes [N, P, 4] absolute xyxy,
        queries [N, P, C], imgs_whwh [N, 1, 4] (the box-loss normaliser).

        The boxes keep their gradient: through the stage-0 box decoding the box losses train them.
        """
        boxes, imgs_whwh = learned_boxes(self.init_proposal_bboxes.weight, image_sizes)  # [N, P, 4], [N, 1, 4]
        queries = self.init_proposal_features.weight[None].expand(len(image_sizes), -1, -1)
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
        num_classes: int = 80, in_channels: int = 256,
        # self-attention, FFN and dynamic interaction
        num_heads: int = 8, feedforward_channels: int = 2048, dynamic_channels: int = 64, roi_size: int = 7,
        # class and box towers
        num_cls_fcs: int = 1, num_reg_fcs: int = 3,
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
        self.cls_fcs = fc_norm_act(num_cls_fcs, in_channels, lambda: nn.ReLU(inplace=True))
        self.fc_cls = nn.Linear(in_channels, num_classes)
        self.reg_fcs = fc_norm_act(num_reg_fcs, in_channels, lambda: nn.ReLU(inplace=True))
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
        """roi_feats: [N*P, C, S, S] (image-major), queries: [N, P, C] -> per RoI, image-major:
        cls_logits [N*P, K], box deltas [N*P, 4], obj_feat [N*P, C] (next query), attn_feats [N*P, C] (query after
        self-attention; drives the mask head)."""
        attn_feats = self.attention_norm(self.attention(queries))  # [N, P, C]
        flat = attn_feats.flatten(0, 1)  # [N*P, C]
        obj_feat = self.instance_interactive_conv_norm(flat + self.instance_interactive_conv(flat, roi_feats))
        obj_feat = self.ffn_norm(self.ffn(obj_feat))  # [N*P, C]
        # attn_feats leaves through a view of its own, not `flat`: the mask head's gradient then meets the box
        # head's at the same node, in the order of the reference (bit-identical backward).
        return (self.fc_cls(self.cls_fcs(obj_feat)), self.fc_reg(self.reg_fcs(obj_feat)), obj_feat,
                attn_feats.flatten(0, 1))


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
        num_classes: int = 80, in_channels: int = 256, dynamic_channels: int = 64, roi_size: int = 14,
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
class QueryRoIHead(nn.Module):
    """The ``num_stages`` box heads and mask heads plus their (parameter-free) RoI poolers and box coder
    (mmdet ``SparseRoIHead``; keys ``bbox_head.{s}.*`` and ``mask_head.{s}.*``)."""

    def __init__(
        self,
        num_classes: int, num_stages: int, hidden_dim: int,
        # DIIHead
        num_heads: int, feedforward_channels: int, dynamic_channels: int, num_cls_fcs: int, num_reg_fcs: int,
        # DynamicMaskHead and the RoI poolers
        mask_num_convs: int, box_roi_size: int, mask_roi_size: int, strides: Sequence[int] = (4, 8, 16, 32),
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
    ) -> Dict[str, torch.Tensor]:
        """features: P2..P5; boxes: [N, P, 4] this stage's input boxes; queries: [N, P, C] -> the stage's
        prediction set: ``logits`` [N, P, K], ``boxes`` [N, P, 4] (decoded, with gradient), ``obj_feats`` [N, P, C]
        (next queries), ``attn_feats`` [N, P, C] (the mask head's dynamic-parameter source), ``stage``."""
        logits, new_boxes, obj_feats, attn_feats = refine_boxes(
            self.box_roi_pool, self.bbox_head[stage], self.box_coder, features, boxes, queries
        )
        return {"logits": logits, "boxes": new_boxes, "obj_feats": obj_feats, "attn_feats": attn_feats, "stage": stage}

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
class DynamicMaskLoss:
    """QueryInst's mask term (mmdet ``DynamicMaskHead.loss_and_target``): the set's own mask head run on its
    positives only (their detached output boxes and ``attn_feats``), dice on the GT label's channel against the GT
    masks cut by the PREDICTED boxes. Running it on the positives only is the reference's choice, and it matters:
    the head's BatchNorms take batch statistics over these RoIs."""

    def __init__(self, roi_head: "QueryRoIHead", mask_size: int = 28):
        self.roi_head = roi_head
        self.mask_size = mask_size

    def mask_targets(
        self,
        pos_boxes: Sequence[torch.Tensor],
        targets: Sequence[Dict[str, torch.Tensor]],
        matches: Matches,
        padded_size: Tuple[int, int],
    ) -> torch.Tensor:
        """GT masks cut by the positive predicted boxes and resized to 28x28 -> [M, 28, 28].

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

    def __call__(self, preds: PredictionSet, inputs: LossInputs, matches: Matches, normalizer: torch.Tensor):
        stage = preds["stage"]
        if sum(len(pred_idx) for pred_idx, _ in matches) == 0:
            # No positives anywhere: a zero that still involves this stage's mask head (DDP needs every
            # parameter in the graph; mmdet runs the head on zero RoIs for the same reason).
            mask_params = sum(p.sum() for p in self.roi_head.mask_head[stage].parameters())
            return (preds["attn_feats"].sum() + mask_params) * 0.0
        detached_boxes = preds["boxes"].detach()
        pos_boxes = [detached_boxes[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)]
        pos_labels = matched_targets([t["labels"] for t in inputs.targets], matches)
        mask_logits = self.roi_head.forward_mask(stage, inputs.extras["features"], pos_boxes,
                                                 matched(preds["attn_feats"], matches))  # [M, K, 28, 28]
        mask_targets = self.mask_targets(pos_boxes, inputs.targets, matches, inputs.extras["padded_size"])
        probs = mask_logits[torch.arange(mask_logits.shape[0], device=mask_logits.device), pos_labels].sigmoid()
        return dice_loss(probs, mask_targets, eps=1e-5, reduction="sum") / normalizer


# ------------------------------------------------------------------------------------------------
# The segmenter
# ------------------------------------------------------------------------------------------------
_DEFAULT_BACKBONE = dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True)
_DEFAULT_LOSS_WEIGHTS = dict(cls=2.0, bbox=5.0, giou=2.0, mask=8.0)
_DEFAULT_MATCH_COSTS = dict(cls=2.0, bbox=5.0, giou=2.0)


@dataclass
class QueryInstConfig(SegmenterConfig):
    """The ``model`` section of a QueryInst config. Defaults are the mmdet ``queryinst_r50_fpn_1x_coco`` model
    (172,688,808 parameters); every size is a setting so that tiny CPU configurations are possible."""

    num_proposals: int = 100
    num_stages: int = 6
    # the stages: DIIHead, DynamicMaskHead, RoI sizes
    num_heads: int = 8
    feedforward_channels: int = 2048
    dynamic_channels: int = 64
    num_cls_fcs: int = 1
    num_reg_fcs: int = 3
    mask_num_convs: int = 4
    box_roi_size: int = 7
    mask_roi_size: int = 14
    stage_loss_weights: Optional[Sequence[float]] = None

    def __post_init__(self) -> None:
        self.backbone = check_fpn_backbone_config(self.backbone, _DEFAULT_BACKBONE)
        if self.stage_loss_weights is None:
            self.stage_loss_weights = [1.0] * self.num_stages
        if len(self.stage_loss_weights) != self.num_stages:
            raise ConfigError(f"stage_loss_weights has {len(self.stage_loss_weights)} entries, num_stages is "
                              f"{self.num_stages}")
        self.stage_loss_weights = [float(w) for w in self.stage_loss_weights]


def build_queryinst_criterion(cfg: QueryInstConfig, roi_head: QueryRoIHead) -> SetCriterion:
    """mmdet's DIIHead.loss: every term / the matched count of the stage (averaged over processes), the stages
    weighted by ``stage_loss_weights``; the mask term runs the stage's own mask head."""
    costs = merge_weights(cfg.match_costs, _DEFAULT_MATCH_COSTS, "match_costs")
    matcher = HungarianMatcher(cost_class=costs["cls"], cost_bbox=costs["bbox"], cost_giou=costs["giou"])
    return SetCriterion(
        matcher,
        {"cls": FocalClassLoss(alpha=0.25, gamma=2.0), "bbox": BoxL1Loss("pixels"), "giou": GIoULoss("pixels"),
         "mask": DynamicMaskLoss(roi_head, mask_size=2 * cfg.mask_roi_size)},
        merge_weights(cfg.loss_weights, _DEFAULT_LOSS_WEIGHTS, "loss_weights"),
        count="matched",
        set_weights=cfg.stage_loss_weights,
    )


class QueryInst(FrameSegmenter):
    """QueryInst: ResNet-FPN + learned proposals + ``num_stages`` DIIHead/DynamicMaskHead stages.

    Built from its parts (`QueryInst.from_config` makes them from a `QueryInstConfig`), registered under mmdet's
    names: ``backbone.*`` (ResNet, torchvision names), ``neck.*`` (FPN), ``rpn_head.*``, ``roi_head.*``.
    """

    Config = QueryInstConfig
    checkpoint_signature = "roi_head.mask_head."  # only QueryInst has a mask head in its RoI head

    def __init__(self, transform: FrameTransform, backbone: nn.Module, neck: nn.Module, rpn_head: EmbeddingRPNHead,
                 roi_head: QueryRoIHead, criterion: SetCriterion, max_per_img: int = 100,
                 class_names: Optional[Sequence[str]] = None):
        super().__init__(transform, roi_head.bbox_head[0].num_classes, roi_head.bbox_head[0].in_channels,
                         max_per_img, class_names)
        self.num_proposals = rpn_head.num_proposals
        self.num_stages = roi_head.num_stages
        self.backbone = backbone
        self.neck = neck
        self.rpn_head = rpn_head
        self.roi_head = roi_head
        self.matcher = criterion.matcher
        self.criterion = criterion

    @classmethod
    def from_config(cls, cfg: QueryInstConfig) -> "QueryInst":
        """ResNet-FPN, proposals, then the stages, in mmdet's order: a seed gives the same initial weights."""
        features = build_backbone(**cfg.backbone, fpn_channels=cfg.hidden_dim)
        rpn_head = EmbeddingRPNHead(cfg.num_proposals, cfg.hidden_dim)
        roi_head = QueryRoIHead(
            cfg.num_classes, cfg.num_stages, cfg.hidden_dim, cfg.num_heads, cfg.feedforward_channels,
            cfg.dynamic_channels, cfg.num_cls_fcs, cfg.num_reg_fcs, cfg.mask_num_convs, cfg.box_roi_size,
            cfg.mask_roi_size,
        )
        transform = cfg.frame_transform(size_divisibility=32)
        return cls(transform, features.body, features.fpn, rpn_head, roi_head,
                   build_queryinst_criterion(cfg, roi_head), cfg.max_per_img, cfg.class_names)

    def extract_features(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """Normalised padded images [N, 3, H, W] -> [P2, P3, P4, P5]."""
        return run_fpn(self.neck, self.backbone(tensor))

    # -- training ---------------------------------------------------------------------------------
    def forward_train(
        self, images: Images, targets: Sequence[Dict]
    ) -> Tuple[Dict[str, torch.Tensor], FeatureMaps, MatchedPredictions]:
        """images: ImageBatch or list of [3, h, w] (0..255); targets: per image ``boxes`` [G, 4] xyxy,
        ``labels`` [G], ``masks`` bool [G, h, w] -> ({'s{stage}.loss_{cls,bbox,giou,mask}': weighted loss},
        the FPN features, the last stage's matched predictions)."""
        batch = self.transform(images)
        targets = self.targets_to_device(targets)
        features = self.extract_features(batch.tensor)
        sets = self.forward_sets(features, batch.image_sizes)
        extras = {"features": features, "padded_size": tuple(batch.tensor.shape[-2:])}
        losses, matched_predictions = self.criterion(sets, LossInputs(targets, batch.image_sizes, extras))
        return losses, FeatureMaps(features, list(self.feature_strides), batch.image_sizes), matched_predictions

    def forward_sets(self, features: List[torch.Tensor], image_sizes: ImageSizes) -> Iterator[Dict[str, torch.Tensor]]:
        """The raw outputs: one prediction set per stage (`QueryRoIHead.forward_box_stage`), stage by stage."""
        boxes, queries, _ = self.rpn_head(image_sizes)
        return run_cascade(self.roi_head.forward_box_stage, self.num_stages, features, boxes, queries)

    # -- inference --------------------------------------------------------------------------------
    @property
    def mask_head_module(self) -> str:
        """The last stage's mask head: the one `postprocess` runs on the kept queries."""
        return f"roi_head.mask_head.{self.num_stages - 1}"

    network_outputs = ("logits", "boxes", "embeds", "attn_feats", "p2", "p3", "p4", "p5")
    feature_outputs = ("p2", "p3", "p4", "p5")

    def network(self, tensor: torch.Tensor, image_sizes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """ResNet, FPN and the box cascade (`fpn_cascade_network`); QueryInst's own output is ``attn_feats``, the
        mask head's dynamic-parameter source."""
        return fpn_cascade_network(self, tensor, image_sizes, "attn_feats")

    def postprocess(self, outputs: Dict[str, torch.Tensor], input_sizes: Sequence[Tuple[int, int]],
                    score_thr: Optional[float] = None) -> List[Instances]:
        """Last stage's top ``max_per_img`` (query, class) pairs by sigmoid score, those below ``score_thr`` (when
        given) dropped; no NMS.

        A query may appear several times with different labels. Masks come from the last stage's mask head
        (channel = label, dynamic parameters from the last ``attn_feats``): their probabilities are the
        ``mask_probs``. ``embeds`` is the query's last ``obj_feat``.
        Call ``eval()`` first (the mask head has BatchNorm).
        """
        boxes, embeds, attn_feats = outputs["boxes"], outputs["embeds"], outputs["attn_feats"]
        features = [outputs[name] for name in self.feature_outputs]
        selected = select_detections(outputs["logits"].sigmoid(), self.max_per_img, score_thr)

        # The reference runs the last mask head on all P boxes and picks channel `label` of each kept query.
        # RoIs are independent in eval mode, so running it only on the distinct queries that are returned gives
        # the same masks for less work (a query may be kept under several labels).
        with inference_part("masks"):
            kept_queries, inverse = [], []
            for kept in selected:
                unique, where = torch.unique(kept.query_index, return_inverse=True)
                kept_queries.append(unique)
                inverse.append(where)
            mask_size = 2 * self.roi_head.mask_roi_pool.output_size[0]
            if sum(len(q) for q in kept_queries):
                mask_logits = self.roi_head.forward_mask(
                    self.num_stages - 1,
                    features,
                    [boxes[i, q] for i, q in enumerate(kept_queries)],
                    torch.cat([attn_feats[i, q] for i, q in enumerate(kept_queries)]),
                )  # [sum of distinct kept queries, K, 28, 28]
            else:  # nothing above score_thr: no mask head to run
                mask_logits = attn_feats.new_zeros((0, self.num_classes, mask_size, mask_size))
            mask_logits = mask_logits.split([len(q) for q in kept_queries])
            mask_probs = [logits[where, kept.labels].sigmoid()  # [n, 28, 28]
                          for logits, where, kept in zip(mask_logits, inverse, selected)]

        return [input_detections(input_sizes[i], boxes[i, kept.query_index], kept.scores, kept.labels, mask_probs[i],
                                 embeds=embeds[i, kept.query_index], query_index=kept.query_index)
                for i, kept in enumerate(selected)]

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
