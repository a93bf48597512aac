"""ISTR (Hu et al., 2021), the paper version "ISTR-v1": PCA mask encoding, 60-d, 28x28 (reference_models.md §3, §3.1).

P queries, each with a learned box, are refined by ``num_stages`` recurrent stages (a Sparse R-CNN head with ELU
everywhere). Unlike QueryInst the queries are not free embeddings: every image starts from

    query_i = sum over P2..P5 of the level's global mean (padding included)  +  pos_embeddings[i]

Each stage pools 7x7 RoIs at its input boxes (detectron2 level rule, aligned RoIAlign), runs self-attention ->
dynamic interaction -> FFN to get ``obj_feat`` (the next query, not detached), and predicts from it, through
three separate 3-layer MLPs, class logits, box deltas (the next stage's boxes, detached) and a 60-d mask
embedding. Masks are never predicted as pixels: the embedding is decoded by a fixed PCA basis
(`vis.models.pca_codec.PCAMaskCodec`) into a 28x28 probability map in box coordinates.

Training matches each stage independently (focal + L1 + GIoU + cosine mask-embedding cost) and sums the stage
losses (focal, L1, GIoU, embedding MSE, dice on the decoded masks; all / #GT). Inference takes the last stage's
top-100 (query, class) pairs, no NMS; boxes are clipped and empty ones dropped (detectron2
``detector_postprocess``), then masks are pasted at the original size.

Module names mirror the official ISTR-v1 checkpoint (``pos_embeddings``, ``init_proposal_boxes``,
``mask_encoding.*``, ``head.head_series.{s}.*``) except where the toolkit's shared pieces fix them:
the ResNet (torchvision names, ``backbone.*``), the FPN (torchvision, ``neck.*``) and the shared `DynamicConv`
(``norm_in/norm_out/fc_layer/fc_norm`` for ISTR's ``norm1/norm2/out_layer/norm3``);
`convert_istr_state_dict` renames a detectron2 ISTR checkpoint accordingly.
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
from ..matcher import HungarianMatcher, cosine_embedding_cost
from ..pca_codec import PCAMaskCodec
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
# One stage (reference ``RCNNHead``)
# ------------------------------------------------------------------------------------------------
def _fc_ln_elu(num_layers: int, dim: int) -> nn.Sequential:
    """``num_layers`` x [Linear(no bias), LayerNorm, ELU]: keys ``{3i}.weight``, ``{3i+1}.{weight,bias}``."""
    layers: List[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Linear(dim, dim, bias=False), nn.LayerNorm(dim), nn.ELU(inplace=True)]
    return nn.Sequential(*layers)


class ISTRStageOutput(NamedTuple):
    cls_logits: torch.Tensor  # [N, P, K]
    boxes: torch.Tensor  # [N, P, 4] decoded xyxy, with gradient through the deltas
    obj_feats: torch.Tensor  # [N, P, C] next stage's queries
    mask_embeds: torch.Tensor  # [N, P, D] PCA mask embeddings


class ISTRStage(nn.Module):
    """One recurrent stage, post-norm throughout (reference ``RCNNHead``):

        q = norm1(q + MHA(q));  q = norm2(q + DynamicConv(q, RoI));  obj = norm3(q + linear2(ELU(linear1(q))))

    then ``class_logits(cls_module(obj))``, ``bboxes_delta(reg_module(obj))``, ``mask_logits(mask_module(obj))``.
    ``mask_logits`` outputs the PCA embedding (no RoI features in the v1 mask branch).
    """

    def __init__(
        self,
        num_classes: int = 80,
        hidden_dim: int = 256,
        num_heads: int = 8,
        feedforward_channels: int = 2048,
        dynamic_channels: int = 64,
        roi_size: int = 7,
        num_cls_fcs: int = 3,
        num_reg_fcs: int = 3,
        num_mask_fcs: int = 3,
        mask_dim: int = 60,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.mask_dim = mask_dim
        # Reference: nn.MultiheadAttention(d, 8) over [P, N, C]; batch_first only changes the layout, not the keys.
        self.self_attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=0.0, batch_first=True)
        self.inst_interact = DynamicConv(
            hidden_dim, dynamic_channels, hidden_dim, input_feat_shape=roi_size, with_proj=True, activation="elu"
        )
        self.linear1 = nn.Linear(hidden_dim, feedforward_channels)
        self.linear2 = nn.Linear(feedforward_channels, hidden_dim)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.norm3 = nn.LayerNorm(hidden_dim)
        self.activation = nn.ELU(inplace=True)
        self.cls_module = _fc_ln_elu(num_cls_fcs, hidden_dim)
        self.reg_module = _fc_ln_elu(num_reg_fcs, hidden_dim)
        self.mask_module = _fc_ln_elu(num_mask_fcs, hidden_dim)
        self.mask_logits = nn.Linear(hidden_dim, mask_dim)
        self.class_logits = nn.Linear(hidden_dim, num_classes)
        self.bboxes_delta = nn.Linear(hidden_dim, 4)

    def forward(
        self, roi_feats: torch.Tensor, queries: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """roi_feats: [N*P, C, S, S] (image-major), queries: [N, P, C].

        Returns cls_logits [N, P, K], box deltas [N, P, 4], obj_feats [N, P, C], mask embeddings [N, P, D].
        """
        num_images, num_queries = queries.shape[:2]
        attn = self.self_attn(queries, queries, queries, need_weights=False)[0]
        queries = self.norm1(queries + attn)  # [N, P, C]
        flat = queries.reshape(num_images * num_queries, self.hidden_dim)  # [N*P, C]
        flat = self.norm2(flat + self.inst_interact(flat, roi_feats))
        obj = self.norm3(flat + self.linear2(self.activation(self.linear1(flat))))  # [N*P, C]
        cls_logits = self.class_logits(self.cls_module(obj))
        deltas = self.bboxes_delta(self.reg_module(obj))
        mask_embeds = self.mask_logits(self.mask_module(obj))
        return (
            cls_logits.view(num_images, num_queries, self.num_classes),
            deltas.view(num_images, num_queries, 4),
            obj.view(num_images, num_queries, self.hidden_dim),
            mask_embeds.view(num_images, num_queries, self.mask_dim),
        )


class ISTRHead(nn.Module):
    """The ``num_stages`` stages (``head_series``) plus their parameter-free RoI pooler and box coder
    (reference ``DynamicHead``)."""

    def __init__(
        self,
        num_classes: int,
        num_stages: int,
        hidden_dim: int,
        num_heads: int,
        feedforward_channels: int,
        dynamic_channels: int,
        roi_size: int,
        num_cls_fcs: int,
        num_reg_fcs: int,
        num_mask_fcs: int,
        mask_dim: int,
        strides: Sequence[int] = (4, 8, 16, 32),
        prior_prob: float = 0.01,
    ):
        super().__init__()
        self.head_series = nn.ModuleList(
            [
                ISTRStage(
                    num_classes, hidden_dim, num_heads, feedforward_channels, dynamic_channels, roi_size,
                    num_cls_fcs, num_reg_fcs, num_mask_fcs, mask_dim,
                )
                for _ in range(num_stages)
            ]
        )
        # detectron2 ROIPooler('ROIAlignV2'): aligned, 2 samples per bin side, canonical box 224 on P4.
        self.box_pooler = MultiLevelRoIAlign(roi_size, strides, sampling_ratio=2, aligned=True, level_rule="detectron2")
        # Sparse R-CNN apply_deltas: weights (2, 2, 1, 1), dw/dh clamped only from above at ln(1e5 / 16).
        self.box_coder = DeltaXYWHBoxCoder(stds=(0.5, 0.5, 1.0, 1.0), wh_ratio_clip=16 / 1e5, clamp_both_sides=False)
        self._reset_parameters(prior_prob)

    def _reset_parameters(self, prior_prob: float) -> None:
        """xavier-uniform on every matrix of the head, class bias = focal prior; other biases keep PyTorch's init.

        The reference sets every parameter whose last dim equals num_classes to the prior, which with 80
        classes is only ``class_logits.bias``; naming it avoids hitting other tensors in small configs.
        """
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        for stage in self.head_series:
            nn.init.constant_(stage.class_logits.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward_stage(
        self, stage: int, features: List[torch.Tensor], boxes: torch.Tensor, queries: torch.Tensor
    ) -> ISTRStageOutput:
        """features: P2..P5; boxes: [N, P, 4] this stage's input boxes; queries: [N, P, C]."""
        num_images, num_queries = boxes.shape[:2]
        roi_feats = self.box_pooler(features, list(boxes))  # [N*P, C, 7, 7]
        cls_logits, deltas, obj_feats, mask_embeds = self.head_series[stage](roi_feats, queries)
        new_boxes = self.box_coder.decode(boxes.reshape(-1, 4), deltas.reshape(-1, 4))
        return ISTRStageOutput(cls_logits, new_boxes.view(num_images, num_queries, 4), obj_feats, mask_embeds)


def image_feature(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """[P2..P5] each [N, C, H_l, W_l] -> [N, C]: the SUM over levels of each level's global spatial mean.

    The mean runs over the whole padded map, padding included, as the reference ``ImgFeatExtractor`` does.
    """
    return torch.stack([f.mean(dim=(-2, -1)) for f in features]).sum(0)


# ------------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------------
class ISTRCriterion:
    """Stage losses given predictions, targets and the stage's matching (reference ``SetCriterion``, v1).

    Every term is a sum divided by ``num_boxes`` = #GT in the batch averaged over GPUs, clamped to >= 1:
    focal over all P x K logits; L1 on xyxy boxes divided by the image's [W, H, W, H]; 1 - GIoU;
    ``loss_feat`` = squared error of the embeddings / ``mask_dim``; ``loss_dice`` on the decoded (sigmoid) 28x28
    masks with eps added once.
    """

    def __init__(self, loss_weights: Dict[str, float], mask_dim: int):
        self.weights = dict(loss_weights)
        self.mask_dim = mask_dim

    def __call__(
        self,
        out: ISTRStageOutput,
        targets: Sequence[Dict[str, torch.Tensor]],
        matches: Sequence[Tuple[torch.Tensor, torch.Tensor]],
        gt_masks: Sequence[torch.Tensor],
        codec: PCAMaskCodec,
        imgs_whwh: torch.Tensor,
        num_boxes: torch.Tensor,
    ) -> Dict[str, torch.Tensor]:
        """out: one stage's outputs; gt_masks: per image [G_i, 28, 28] GT masks cut by the GT boxes;
        imgs_whwh: [N, 1, 4]; num_boxes: scalar tensor."""
        cls_targets = torch.zeros_like(out.cls_logits)  # unmatched queries: all-zero row (background)
        for i, (pred_idx, gt_idx) in enumerate(matches):
            cls_targets[i, pred_idx, targets[i]["labels"][gt_idx]] = 1.0
        loss_cls = sigmoid_focal_loss(out.cls_logits, cls_targets, alpha=0.25, gamma=2.0, reduction="sum")

        pos_boxes = torch.cat([out.boxes[i, p] for i, (p, _) in enumerate(matches)])  # [M, 4]
        if pos_boxes.shape[0] > 0:
            gt_boxes = torch.cat([targets[i]["boxes"][g] for i, (_, g) in enumerate(matches)]).to(pos_boxes.dtype)
            whwh = torch.cat([imgs_whwh[i].expand(len(p), 4) for i, (p, _) in enumerate(matches)])
            loss_bbox = l1_loss(pos_boxes / whwh, gt_boxes / whwh)
            loss_iou = giou_loss(pos_boxes, gt_boxes)
            pos_embeds = torch.cat([out.mask_embeds[i, p] for i, (p, _) in enumerate(matches)])  # [M, D]
            pos_masks = torch.cat([m[g] for m, (_, g) in zip(gt_masks, matches)])  # [M, 28, 28]
            # The reference encodes the targets again here (fresh logit noise, as in the matcher).
            gt_embeds = codec.encode(pos_masks).to(pos_embeds.dtype)
            loss_feat = ((pos_embeds - gt_embeds) ** 2).sum() / self.mask_dim
            loss_dice = dice_loss(codec.decode(pos_embeds), pos_masks, eps=1e-5, eps_in_each_sum=False)
        else:  # no GT in the batch: zeros that keep the box and mask branches in the graph (DDP)
            loss_bbox = loss_iou = out.boxes.sum() * 0.0
            loss_feat = loss_dice = out.mask_embeds.sum() * 0.0
        return {
            "loss_cls": loss_cls / num_boxes * self.weights["cls"],
            "loss_bbox": loss_bbox / num_boxes * self.weights["bbox"],
            "loss_iou": loss_iou / num_boxes * self.weights["giou"],
            "loss_feat": loss_feat / num_boxes * self.weights["feat"],
            "loss_dice": loss_dice / num_boxes * self.weights["dice"],
        }


# ------------------------------------------------------------------------------------------------
# The segmenter
# ------------------------------------------------------------------------------------------------
# detectron2 defaults for ISTR: FREEZE_AT=2 (stem + res2 frozen), FrozenBN everywhere.
_DEFAULT_BACKBONE = dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True, norm="frozen_bn")
_DEFAULT_LOSS_WEIGHTS = dict(cls=2.0, bbox=5.0, giou=2.0, feat=2.0, dice=2.0)
_DEFAULT_MATCH_COSTS = dict(cls=2.0, bbox=5.0, giou=2.0, mask=2.0)


class ISTR(FrameSegmenter):
    """ISTR-v1: ResNet-FPN + image-conditioned queries + ``num_stages`` recurrent stages + PCA mask codec.

    Defaults are the official ``ISTR-R50-3x`` model (300 proposals, 80 classes, 6 stages; the head has
    81,486,432 parameters). ``mask_codec`` names the codec file (``tools/fit_mask_codec.py``) that
    ``init_weights()`` loads when training starts from scratch; checkpoints carry the codec as buffers
    (``mask_encoding.*``), so building the model, resuming and evaluating never need the file.
    """

    def __init__(
        self,
        num_classes: int = 80,
        num_proposals: int = 300,
        num_stages: int = 6,
        backbone: Optional[Dict] = None,
        hidden_dim: int = 256,
        num_heads: int = 8,
        feedforward_channels: int = 2048,
        dynamic_channels: int = 64,
        num_cls_fcs: int = 3,
        num_reg_fcs: int = 3,
        num_mask_fcs: int = 3,
        roi_size: int = 7,
        mask_dim: int = 60,
        mask_size: int = 28,
        mask_codec: Optional[str] = None,
        loss_weights: Optional[Dict[str, float]] = None,
        match_costs: Optional[Dict[str, float]] = None,
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
        if not 1 <= mask_dim <= mask_size * mask_size:
            raise ConfigError(f"model: mask_dim must be in 1..mask_size^2, got {mask_dim} (mask_size {mask_size})")

        self.num_proposals = num_proposals
        self.num_stages = num_stages
        self.hidden_dim = hidden_dim
        self.mask_size = mask_size
        self.max_per_img = max_per_img
        self.mask_threshold = mask_threshold

        features = build_backbone(**backbone_cfg, fpn_channels=hidden_dim)
        self.backbone = features.body  # torchvision ResNet names
        self.neck = features.fpn  # torchvision FPN names
        # Proposal features are image_feature(FPN) + pos_embeddings (N(0, 1) init); boxes start as the full image.
        self.pos_embeddings = nn.Embedding(num_proposals, hidden_dim)
        self.init_proposal_boxes = nn.Embedding(num_proposals, 4)
        with torch.no_grad():
            self.init_proposal_boxes.weight[:, :2] = 0.5
            self.init_proposal_boxes.weight[:, 2:] = 1.0
        self.mask_encoding = PCAMaskCodec(mask_dim, mask_size, pretrained=mask_codec)
        self.head = ISTRHead(
            num_classes, num_stages, hidden_dim, num_heads, feedforward_channels, dynamic_channels, roi_size,
            num_cls_fcs, num_reg_fcs, num_mask_fcs, mask_dim,
        )
        costs = merge_weights(match_costs, _DEFAULT_MATCH_COSTS, "match_costs")
        self.cost_mask = costs["mask"]
        self.matcher = HungarianMatcher(cost_class=costs["cls"], cost_bbox=costs["bbox"], cost_giou=costs["giou"],
                                        eps=1e-8)
        self.criterion = ISTRCriterion(merge_weights(loss_weights, _DEFAULT_LOSS_WEIGHTS, "loss_weights"), mask_dim)

    @property
    def feature_channels(self) -> int:
        return self.hidden_dim

    def extract_features(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """Normalised padded images [N, 3, H, W] -> [P2, P3, P4, P5]."""
        return run_fpn(self.neck, self.backbone(tensor))

    def initial_proposals(
        self, features: List[torch.Tensor], image_sizes: Sequence[Tuple[int, int]]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> boxes [N, P, 4] absolute xyxy (learned, full image at init; keep their gradient), queries
        [N, P, C] = image feature + position embedding, imgs_whwh [N, 1, 4] of the unpadded image sizes."""
        weight = self.init_proposal_boxes.weight
        imgs_whwh = weight.new_tensor([[w, h, w, h] for h, w in image_sizes])[:, None, :]  # [N, 1, 4]
        boxes = box_convert(weight, "cxcywh", "xyxy")[None] * imgs_whwh  # [N, P, 4]
        queries = image_feature(features)[:, None, :] + self.pos_embeddings.weight[None]  # [N, P, C]
        return boxes, queries, imgs_whwh

    # -- training ---------------------------------------------------------------------------------
    def gt_box_masks(self, targets: Sequence[Dict[str, torch.Tensor]]) -> List[torch.Tensor]:
        """Per image, the GT masks cut by the GT boxes at ``mask_size`` -> [G_i, S, S] in {0, 1} (the same
        targets for the matching cost and the losses)."""
        out = []
        for target in targets:
            num = target["boxes"].shape[0]
            index = torch.arange(num, device=target["boxes"].device)
            out.append(crop_and_resize_masks(target["masks"], target["boxes"], index, size=self.mask_size))
        return out

    def forward_train(
        self, images: Images, targets: Sequence[Dict]
    ) -> Tuple[Dict[str, torch.Tensor], FeatureMaps, MatchedPredictions]:
        """images: ImageBatch or list of [3, h, w] (0..255); targets: per image ``boxes`` [G, 4] xyxy,
        ``labels`` [G], ``masks`` bool [G, h, w] -> ({'s{stage}.loss_{cls,bbox,iou,feat,dice}': weighted loss},
        the FPN features, the last stage's matched predictions)."""
        if targets is None:
            raise ValueError("ISTR.forward computes training losses and needs targets; use predict()")
        if not self.mask_encoding.is_fitted():
            raise ConfigError(
                "ISTR's mask codec is not loaded: set model.mask_codec to a file from tools/fit_mask_codec.py "
                "(loaded when training starts from scratch) or start from a checkpoint that holds mask_encoding.*"
            )
        batch = self.preprocess(images)
        targets = self.targets_to_device(targets)
        features = self.extract_features(batch.tensor)
        boxes, queries, imgs_whwh = self.initial_proposals(features, batch.image_sizes)
        gt_masks = self.gt_box_masks(targets)
        num_gt = boxes.new_tensor(float(sum(t["labels"].shape[0] for t in targets)))
        num_boxes = reduce_mean(num_gt).clamp(min=1.0)

        losses: Dict[str, torch.Tensor] = {}
        for stage in range(self.num_stages):
            out = self.head.forward_stage(stage, features, boxes, queries)
            # Each stage is matched on its own detached outputs; the mask cost uses freshly encoded targets.
            mask_costs = [
                self.cost_mask * cosine_embedding_cost(out.mask_embeds[i].detach(), self.mask_encoding.encode(m))
                for i, m in enumerate(gt_masks)
            ]
            matches = self.matcher(out.cls_logits.detach(), out.boxes.detach(), targets, batch.image_sizes, mask_costs)
            stage_losses = self.criterion(out, targets, matches, gt_masks, self.mask_encoding, imgs_whwh, num_boxes)
            for name, value in stage_losses.items():
                losses[f"s{stage}.{name}"] = value
            # Boxes are detached between stages; queries are not.
            boxes = out.boxes.detach()
            queries = out.obj_feats
        matched = MatchedPredictions(
            boxes=[boxes[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)],
            gt_index=[gt_idx for _, gt_idx in matches],
        )
        return losses, FeatureMaps(features, list(self.feature_strides), batch.image_sizes), matched

    # -- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_with_features(
        self, images: Images, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None, defer_masks: bool = False
    ) -> Tuple[List[Instances], FeatureMaps]:
        """Last stage's top ``max_per_img`` (query, class) pairs by sigmoid score; no NMS, no score threshold.

        A query may appear several times with different labels. As detectron2's ``detector_postprocess``, boxes
        are clipped to the image and detections with an empty box are dropped, then the decoded 28x28 masks
        are pasted at ``orig_sizes`` and thresholded at ``mask_threshold``. ``embeds`` is the query's last
        ``obj_feat``.
        """
        batch = self.preprocess(images)
        if orig_sizes is None:
            orig_sizes = batch.image_sizes
        if len(orig_sizes) != len(batch):
            raise ValueError(f"got {len(orig_sizes)} orig_sizes for {len(batch)} images")
        features = self.extract_features(batch.tensor)
        boxes, queries, _ = self.initial_proposals(features, batch.image_sizes)
        out = None
        for stage in range(self.num_stages):
            out = self.head.forward_stage(stage, features, boxes, queries)
            boxes, queries = out.boxes, out.obj_feats

        num_images, num_queries, num_classes = out.cls_logits.shape
        scores = out.cls_logits.sigmoid().flatten(1)  # [N, P*K], index = query * K + label
        k = min(self.max_per_img, num_queries * num_classes)
        # The reference takes topk(sorted=False); sorting only fixes the order of the same set.
        top_scores, top_idx = scores.topk(k, dim=1, sorted=True)  # [N, k]
        labels = top_idx % num_classes
        query_index = top_idx // num_classes

        results = []
        for i in range(num_images):
            in_h, in_w = batch.image_sizes[i]
            det_boxes = boxes[i, query_index[i]].clone()  # [k, 4]
            # Clipping and the empty-box test in input pixels equal detectron2's at the output size.
            det_boxes[:, 0::2] = det_boxes[:, 0::2].clamp(min=0, max=in_w)
            det_boxes[:, 1::2] = det_boxes[:, 1::2].clamp(min=0, max=in_h)
            keep = (det_boxes[:, 2] > det_boxes[:, 0]) & (det_boxes[:, 3] > det_boxes[:, 1])
            kept_queries = query_index[i][keep]
            mask_probs = self.mask_encoding.decode(out.mask_embeds[i, kept_queries])  # [n, 28, 28]
            results.append(
                make_instances(
                    det_boxes[keep],
                    top_scores[i][keep],
                    labels[i][keep],
                    mask_probs,
                    input_size=(in_h, in_w),
                    output_size=tuple(orig_sizes[i]),
                    mask_threshold=self.mask_threshold,
                    defer_masks=defer_masks,
                    embeds=out.obj_feats[i, kept_queries],
                    query_index=kept_queries,
                )
            )
        return results, FeatureMaps(features, list(self.feature_strides), batch.image_sizes)

    # -- checkpoints and reporting ----------------------------------------------------------------
    def param_parts(self) -> Dict[str, List[str]]:
        """Parameter-count parts; ``head`` is the reference's dynamic head (81,486,432 for the R-50 config).
        The PCA codec holds buffers only, which are never counted."""
        return {
            "backbone": ["backbone"],
            "neck": ["neck"],
            "proposals": ["pos_embeddings", "init_proposal_boxes"],
            "head": ["head"],
        }

    def convert_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """A detectron2 ISTR-v1 checkpoint -> this model's keys (identity on this project's own keys).

        detectron2's FrozenBN has no ``num_batches_tracked``; with a trainable-BN backbone (``norm='bn'``) a zero
        is supplied for every BatchNorm whose statistics the checkpoint has, so the load report stays clean.
        """
        converted = convert_istr_state_dict(state_dict)
        for key in self.state_dict():
            if key.endswith(".num_batches_tracked") and key not in converted:
                if key[: -len("num_batches_tracked")] + "running_mean" in converted:
                    converted[key] = torch.zeros((), dtype=torch.long)
        return converted

    def classifier_param_names(self) -> List[str]:
        names = []
        for stage in range(self.num_stages):
            names += [f"head.head_series.{stage}.class_logits.weight", f"head.head_series.{stage}.class_logits.bias"]
        return names


# ------------------------------------------------------------------------------------------------
# Official checkpoint keys (reference_models.md §2.2, §2.3, §3.1)
# ------------------------------------------------------------------------------------------------
_D2_STEM = re.compile(r"^backbone\.bottom_up\.stem\.conv1\.(weight|norm\.(weight|bias|running_mean|running_var))$")
_D2_BLOCK = re.compile(r"^backbone\.bottom_up\.res([2-5])\.(\d+)\.(conv[123]|shortcut)\.(.+)$")
_D2_FPN = re.compile(r"^backbone\.fpn_(lateral|output)([2-5])\.(weight|bias)$")
_D2_DYNAMIC_CONV = re.compile(r"^(head\.head_series\.\d+\.inst_interact)\.(norm1|norm2|out_layer|norm3)\.(.+)$")
_DYNAMIC_CONV_NAMES = {"norm1": "norm_in", "norm2": "norm_out", "out_layer": "fc_layer", "norm3": "fc_norm"}
_FPN_BLOCKS = {"lateral": "inner_blocks", "output": "layer_blocks"}


def _resnet_key(key: str) -> Optional[str]:
    """detectron2 ResNet key -> torchvision name under ``backbone.``, or None if it is not a ResNet key."""
    match = _D2_STEM.match(key)
    if match:
        tail = match.group(1)
        return "backbone.conv1.weight" if tail == "weight" else f"backbone.bn1.{tail[len('norm.'):]}"
    match = _D2_BLOCK.match(key)
    if not match:
        return None
    stage, block, layer, tail = match.groups()
    prefix = f"backbone.layer{int(stage) - 1}.{block}"
    if layer == "shortcut":
        return f"{prefix}.downsample.0.weight" if tail == "weight" else f"{prefix}.downsample.1.{tail[len('norm.'):]}"
    index = layer[-1]
    return f"{prefix}.conv{index}.weight" if tail == "weight" else f"{prefix}.bn{index}.{tail[len('norm.'):]}"


def convert_istr_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """detectron2 ISTR-v1 state dict -> this model's.

    - ``backbone.bottom_up.stem.conv1.{weight,norm.*}`` -> ``backbone.conv1.weight``, ``backbone.bn1.*``;
      ``backbone.bottom_up.res{k}.{b}.conv{j}.{weight,norm.*}`` -> ``backbone.layer{k-1}.{b}.{conv{j}.weight,bn{j}.*}``;
      ``...shortcut.{weight,norm.*}`` -> ``...downsample.{0.weight,1.*}`` (FrozenBN buffers keep their names).
    - ``backbone.fpn_lateral{i}.*`` / ``backbone.fpn_output{i}.*`` -> ``neck.inner_blocks.{i-2}.0.*`` /
      ``neck.layer_blocks.{i-2}.0.*``.
    - ``head.head_series.{s}.inst_interact.{norm1,norm2,out_layer,norm3}.*`` -> the shared DynamicConv's
      ``{norm_in,norm_out,fc_layer,fc_norm}.*``.
    Every other key (``pos_embeddings``, ``init_proposal_boxes``, ``mask_encoding.*``, the rest of the head)
    already has this model's name.
    """
    converted: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new_key = _resnet_key(key)
        if new_key is not None:
            converted[new_key] = value
            continue
        match = _D2_FPN.match(key)
        if match:
            kind, level, tail = match.groups()
            converted[f"neck.{_FPN_BLOCKS[kind]}.{int(level) - 2}.0.{tail}"] = value
            continue
        match = _D2_DYNAMIC_CONV.match(key)
        if match:
            prefix, name, tail = match.groups()
            converted[f"{prefix}.{_DYNAMIC_CONV_NAMES[name]}.{tail}"] = value
            continue
        converted[key] = value
    return converted
