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
``detector_postprocess``), then the model's `FrameTransform` pastes the masks at the frame's size.

Module names mirror the official ISTR-v1 checkpoint (``pos_embeddings``, ``init_proposal_boxes``,
``mask_encoding.*``, ``head.head_series.{s}.*``) except where the toolkit's shared pieces fix them:
the ResNet (torchvision names, ``backbone.*``), the FPN (torchvision, ``neck.*``) and the shared `DynamicConv`
(``norm_in/norm_out/fc_layer/fc_norm`` for ISTR's ``norm1/norm2/out_layer/norm3``);
`convert_istr_state_dict` renames a detectron2 ISTR checkpoint accordingly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...structures import ImageSizes, Instances
from ...timing import inference_part
from ..backbone import build_backbone, check_fpn_backbone_config, run_fpn
from ..box_coder import DeltaXYWHBoxCoder
from ..dynamic_conv import DynamicConv
from ..frame_transform import FrameTransform, Images, clip_boxes
from ..losses import dice_loss
from ..mask_ops import crop_masks_by_own_boxes
from ..matcher import HungarianMatcher, cosine_embedding_cost
from ..pca_codec import PCAMaskCodec
from ..postprocess import select_detections
from ..roi_pool import MultiLevelRoIAlign
from ..set_criterion import (BoxL1Loss, FocalClassLoss, GIoULoss, LossInputs, Matches, PredictionSet, SetCriterion,
                             matched, matched_targets)
from ..sparse_cascade import (fc_norm_act, fpn_cascade_network, init_full_image_boxes_, learned_boxes, refine_boxes,
                             run_cascade)
from .base import FeatureMaps, FrameSegmenter, SegmenterConfig, MatchedPredictions, input_detections, merge_weights


# ------------------------------------------------------------------------------------------------
# One stage (reference ``RCNNHead``)
# ------------------------------------------------------------------------------------------------
class ISTRStage(nn.Module):
    """One recurrent stage, post-norm throughout (reference ``RCNNHead``):

        q = norm1(q + MHA(q));  q = norm2(q + DynamicConv(q, RoI));  obj = norm3(q + linear2(ELU(linear1(q))))

    then ``class_logits(cls_module(obj))``, ``bboxes_delta(reg_module(obj))``, ``mask_logits(mask_module(obj))``.
    ``mask_logits`` outputs the PCA embedding (no RoI features in the v1 mask branch).
    """

    def __init__(
        self,
        num_classes: int = 80, hidden_dim: int = 256,
        # self-attention, dynamic interaction over roi_size^2 RoI features, FFN
        num_heads: int = 8, feedforward_channels: int = 2048, dynamic_channels: int = 64, roi_size: int = 7,
        # class, box and mask towers; the mask tower ends in the PCA embedding
        num_cls_fcs: int = 3, num_reg_fcs: int = 3, num_mask_fcs: int = 3, mask_dim: int = 60,
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
        self.cls_module = fc_norm_act(num_cls_fcs, hidden_dim, lambda: nn.ELU(inplace=True))
        self.reg_module = fc_norm_act(num_reg_fcs, hidden_dim, lambda: nn.ELU(inplace=True))
        self.mask_module = fc_norm_act(num_mask_fcs, hidden_dim, lambda: nn.ELU(inplace=True))
        self.mask_logits = nn.Linear(hidden_dim, mask_dim)
        self.class_logits = nn.Linear(hidden_dim, num_classes)
        self.bboxes_delta = nn.Linear(hidden_dim, 4)

    def forward(
        self, roi_feats: torch.Tensor, queries: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """roi_feats: [N*P, C, S, S] (image-major), queries: [N, P, C] -> per RoI, image-major: cls_logits
        [N*P, K], box deltas [N*P, 4], obj_feats [N*P, C] (next query), mask embeddings [N*P, D]."""
        attn = self.self_attn(queries, queries, queries, need_weights=False)[0]
        flat = self.norm1(queries + attn).flatten(0, 1)  # [N, P, C] -> [N*P, C]
        flat = self.norm2(flat + self.inst_interact(flat, roi_feats))
        obj = self.norm3(flat + self.linear2(self.activation(self.linear1(flat))))  # [N*P, C]
        return (self.class_logits(self.cls_module(obj)), self.bboxes_delta(self.reg_module(obj)), obj,
                self.mask_logits(self.mask_module(obj)))


class ISTRHead(nn.Module):
    """The ``num_stages`` stages (``head_series``) plus their parameter-free RoI pooler and box coder
    (reference ``DynamicHead``)."""

    def __init__(self, stages: Sequence[ISTRStage], roi_size: int = 7, strides: Sequence[int] = (4, 8, 16, 32),
                 prior_prob: float = 0.01):
        super().__init__()
        self.head_series = nn.ModuleList(stages)
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
    ) -> Dict[str, torch.Tensor]:
        """features: P2..P5; boxes: [N, P, 4] this stage's input boxes; queries: [N, P, C] -> the stage's
        prediction set: ``logits`` [N, P, K], ``boxes`` [N, P, 4] (decoded, with gradient), ``obj_feats``
        [N, P, C] (next queries), ``mask_embeds`` [N, P, D] (PCA mask embeddings)."""
        logits, new_boxes, obj_feats, mask_embeds = refine_boxes(
            self.box_pooler, self.head_series[stage], self.box_coder, features, boxes, queries
        )
        return {"logits": logits, "boxes": new_boxes, "obj_feats": obj_feats, "mask_embeds": mask_embeds}


def image_feature(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """[P2..P5] each [N, C, H_l, W_l] -> [N, C]: the SUM over levels of each level's global spatial mean.

    The mean runs over the whole padded map, padding included, as the reference ``ImgFeatExtractor`` does.
    """
    return torch.stack([f.mean(dim=(-2, -1)) for f in features]).sum(0)


# ------------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------------
class PCAEmbeddingLosses:
    """ISTR-v1's two mask terms (reference ``SetCriterion``), computed together on the matched queries:
    ``feat`` = squared error of the predicted embeddings to the encoded GT masks / ``mask_dim``, and ``dice`` on
    the decoded (sigmoid) 28x28 masks with eps added once; each / normalizer. The GT masks (cut by the GT boxes)
    come in ``inputs.extras['gt_masks']``."""

    names = ("feat", "dice")

    def __init__(self, codec: PCAMaskCodec):
        self.codec = codec

    def __call__(self, preds: PredictionSet, inputs: LossInputs, matches: Matches, normalizer: torch.Tensor):
        if sum(len(pred_idx) for pred_idx, _ in matches) == 0:  # no GT: zeros that keep the branch in the graph
            zero = preds["mask_embeds"].sum() * 0.0
            return {"feat": zero / normalizer, "dice": zero / normalizer}
        pos_embeds = matched(preds["mask_embeds"], matches)  # [M, D]
        pos_masks = matched_targets(inputs.extras["gt_masks"], matches)  # [M, 28, 28]
        # The reference encodes the targets again here (fresh logit noise, as in the matching cost).
        gt_embeds = self.codec.encode(pos_masks).to(pos_embeds.dtype)
        loss_feat = ((pos_embeds - gt_embeds) ** 2).sum() / self.codec.dim
        loss_dice = dice_loss(self.codec.decode(pos_embeds), pos_masks, eps=1e-5, eps_in_each_sum=False)
        return {"feat": loss_feat / normalizer, "dice": loss_dice / normalizer}


class MaskEmbeddingCost:
    """ISTR's extra matching cost: ``weight`` x cosine cost between each query's detached embedding and the
    freshly encoded GT masks of its image -> per image [P, G_i]."""

    def __init__(self, codec: PCAMaskCodec, weight: float):
        self.codec = codec
        self.weight = weight

    def __call__(self, preds: PredictionSet, inputs: LossInputs) -> List[torch.Tensor]:
        embeds = preds["mask_embeds"].detach()
        return [self.weight * cosine_embedding_cost(embeds[i], self.codec.encode(masks))
                for i, masks in enumerate(inputs.extras["gt_masks"])]


# ------------------------------------------------------------------------------------------------
# The segmenter
# ------------------------------------------------------------------------------------------------
# detectron2 defaults for ISTR: FREEZE_AT=2 (stem + res2 frozen), FrozenBN everywhere.
_DEFAULT_BACKBONE = dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True, norm="frozen_bn")
_DEFAULT_LOSS_WEIGHTS = dict(cls=2.0, bbox=5.0, giou=2.0, feat=2.0, dice=2.0)
_DEFAULT_MATCH_COSTS = dict(cls=2.0, bbox=5.0, giou=2.0, mask=2.0)


@dataclass
class ISTRConfig(SegmenterConfig):
    """The ``model`` section of an ISTR config. Defaults are the official ``ISTR-R50-3x`` model (300 proposals,
    80 classes, 6 stages; the head has 81,486,432 parameters). ``mask_codec`` names the codec file
    (``tools/fit_mask_codec.py``) that ``init_weights()`` loads when training starts from scratch; checkpoints
    carry the codec as buffers (``mask_encoding.*``), so building the model, resuming and evaluating never need
    the file."""

    num_proposals: int = 300
    num_stages: int = 6
    # the stages
    num_heads: int = 8
    feedforward_channels: int = 2048
    dynamic_channels: int = 64
    num_cls_fcs: int = 3
    num_reg_fcs: int = 3
    num_mask_fcs: int = 3
    roi_size: int = 7
    # the PCA mask codec: mask_dim components of mask_size^2 box-relative masks, fitted into the file mask_codec
    mask_dim: int = 60
    mask_size: int = 28
    mask_codec: Optional[str] = None

    def __post_init__(self) -> None:
        self.backbone = check_fpn_backbone_config(self.backbone, _DEFAULT_BACKBONE)
        if not 1 <= self.mask_dim <= self.mask_size * self.mask_size:
            raise ConfigError(f"model: mask_dim must be in 1..mask_size^2, got {self.mask_dim} "
                              f"(mask_size {self.mask_size})")


class ISTRProposals(NamedTuple):
    """The learned part of the proposals: query position embeddings (N(0, 1) init) and boxes (full image)."""

    pos_embeddings: nn.Embedding  # [P, C]
    init_proposal_boxes: nn.Embedding  # [P, 4] normalised cx, cy, w, h


def build_istr_proposals(num_proposals: int, hidden_dim: int) -> ISTRProposals:
    pos_embeddings = nn.Embedding(num_proposals, hidden_dim)
    init_proposal_boxes = nn.Embedding(num_proposals, 4)
    init_full_image_boxes_(init_proposal_boxes)
    return ISTRProposals(pos_embeddings, init_proposal_boxes)


def build_istr_criterion(cfg: ISTRConfig, codec: PCAMaskCodec) -> SetCriterion:
    """Reference SetCriterion (v1): every term / #GT in the batch (averaged over processes, >= 1), with the
    cosine mask-embedding cost in the matching."""
    costs = merge_weights(cfg.match_costs, _DEFAULT_MATCH_COSTS, "match_costs")
    matcher = HungarianMatcher(cost_class=costs["cls"], cost_bbox=costs["bbox"], cost_giou=costs["giou"], eps=1e-8)
    return SetCriterion(
        matcher,
        {"cls": FocalClassLoss(alpha=0.25, gamma=2.0), "bbox": BoxL1Loss("pixels"), "giou": GIoULoss("pixels"),
         "mask": PCAEmbeddingLosses(codec)},
        merge_weights(cfg.loss_weights, _DEFAULT_LOSS_WEIGHTS, "loss_weights"),
        count="gt",
        extra_match_cost=MaskEmbeddingCost(codec, costs["mask"]),
    )


class ISTR(FrameSegmenter):
    """ISTR-v1: ResNet-FPN + image-conditioned queries + ``num_stages`` recurrent stages + PCA mask codec.

    Built from its parts (`ISTR.from_config` makes them from an `ISTRConfig`).
    """

    Config = ISTRConfig
    checkpoint_signature = "head.head_series."  # the official detectron2 name of the stages, kept

    def __init__(self, transform: FrameTransform, backbone: nn.Module, neck: nn.Module, proposals: ISTRProposals,
                 mask_encoding: PCAMaskCodec, head: ISTRHead, criterion: SetCriterion, max_per_img: int = 100,
                 class_names: Optional[Sequence[str]] = None):
        super().__init__(transform, head.head_series[0].num_classes, head.head_series[0].hidden_dim, max_per_img,
                         class_names)
        self.num_proposals = proposals.pos_embeddings.num_embeddings
        self.num_stages = len(head.head_series)
        self.mask_size = mask_encoding.mask_size
        self.backbone = backbone  # torchvision ResNet names
        self.neck = neck  # torchvision FPN names
        self.pos_embeddings, self.init_proposal_boxes = proposals
        self.mask_encoding = mask_encoding
        self.head = head
        self.matcher = criterion.matcher
        self.criterion = criterion

    @classmethod
    def from_config(cls, cfg: ISTRConfig) -> "ISTR":
        """ResNet-FPN, proposals, codec, then the stages, in the reference's order: a seed gives the same initial
        weights. The codec file (``mask_codec``) is only remembered here; `init_weights` reads it."""
        features = build_backbone(**cfg.backbone, fpn_channels=cfg.hidden_dim)
        proposals = build_istr_proposals(cfg.num_proposals, cfg.hidden_dim)
        mask_encoding = PCAMaskCodec(cfg.mask_dim, cfg.mask_size, pretrained=cfg.mask_codec)
        stages = [ISTRStage(cfg.num_classes, cfg.hidden_dim, cfg.num_heads, cfg.feedforward_channels,
                            cfg.dynamic_channels, cfg.roi_size, cfg.num_cls_fcs, cfg.num_reg_fcs, cfg.num_mask_fcs,
                            cfg.mask_dim)
                  for _ in range(cfg.num_stages)]
        transform = cfg.frame_transform(size_divisibility=32)
        return cls(transform, features.body, features.fpn, proposals, mask_encoding, ISTRHead(stages, cfg.roi_size),
                   build_istr_criterion(cfg, mask_encoding), cfg.max_per_img, cfg.class_names)

    def extract_features(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """Normalised padded images [N, 3, H, W] -> [P2, P3, P4, P5]."""
        return run_fpn(self.neck, self.backbone(tensor))

    def initial_proposals(
        self, features: List[torch.Tensor], image_sizes: ImageSizes
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> boxes [N, P, 4] absolute xyxy (learned, full image at init; keep their gradient), queries
        [N, P, C] = image feature + position embedding, imgs_whwh [N, 1, 4] of the unpadded image sizes."""
        boxes, imgs_whwh = learned_boxes(self.init_proposal_boxes.weight, image_sizes)  # [N, P, 4], [N, 1, 4]
        queries = image_feature(features)[:, None, :] + self.pos_embeddings.weight[None]  # [N, P, C]
        return boxes, queries, imgs_whwh

    # -- training ---------------------------------------------------------------------------------
    def gt_box_masks(self, targets: Sequence[Dict[str, torch.Tensor]]) -> List[torch.Tensor]:
        """Per image, the GT masks cut by the GT boxes at ``mask_size`` -> [G_i, S, S] in {0, 1} (the same
        targets for the matching cost and the losses)."""
        return [crop_masks_by_own_boxes(target, self.mask_size) for target in targets]

    def forward_train(
        self, images: Images, targets: Sequence[Dict]
    ) -> Tuple[Dict[str, torch.Tensor], FeatureMaps, MatchedPredictions]:
        """images: ImageBatch or list of [3, h, w] (0..255); targets: per image ``boxes`` [G, 4] xyxy,
        ``labels`` [G], ``masks`` bool [G, h, w] -> ({'s{stage}.loss_{cls,bbox,giou,feat,dice}': weighted loss},
        the FPN features, the last stage's matched predictions)."""
        if not self.mask_encoding.is_fitted():
            raise ConfigError(
                "ISTR's mask codec is not loaded: set model.mask_codec to a file from tools/fit_mask_codec.py "
                "(loaded when training starts from scratch) or start from a checkpoint that holds mask_encoding.*"
            )
        batch = self.transform(images)
        targets = self.targets_to_device(targets)
        features = self.extract_features(batch.tensor)
        inputs = LossInputs(targets, batch.image_sizes, {"gt_masks": self.gt_box_masks(targets)})
        losses, matched_predictions = self.criterion(self.forward_sets(features, batch.image_sizes), inputs)
        return losses, FeatureMaps(features, list(self.feature_strides), batch.image_sizes), matched_predictions

    def forward_sets(self, features: List[torch.Tensor], image_sizes: ImageSizes) -> Iterator[Dict[str, torch.Tensor]]:
        """The raw outputs: one prediction set per stage (`ISTRHead.forward_stage`), stage by stage."""
        boxes, queries, _ = self.initial_proposals(features, image_sizes)
        return run_cascade(self.head.forward_stage, self.num_stages, features, boxes, queries)

    # -- inference --------------------------------------------------------------------------------
    network_outputs = ("logits", "boxes", "embeds", "mask_embeds", "p2", "p3", "p4", "p5")
    feature_outputs = ("p2", "p3", "p4", "p5")

    def network(self, tensor: torch.Tensor, image_sizes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """ResNet, FPN and the cascade (`fpn_cascade_network`); ISTR's own output is ``mask_embeds``, the PCA
        coefficients of each query's mask."""
        return fpn_cascade_network(self, tensor, image_sizes, "mask_embeds")

    def postprocess(self, outputs: Dict[str, torch.Tensor], input_sizes: Sequence[Tuple[int, int]],
                    score_thr: Optional[float] = None) -> List[Instances]:
        """Last stage's top ``max_per_img`` (query, class) pairs by sigmoid score, those below ``score_thr`` (when
        given) dropped; no NMS.

        A query may appear several times with different labels. As detectron2's ``detector_postprocess``, boxes
        are clipped to the image and detections with an empty box are dropped; the decoded 28x28 masks are the
        ``mask_probs``. ``embeds`` is the query's last ``obj_feat``. Clipping here, in input pixels, equals the
        reference's clipping at the output size (the scale is positive), and lets the empty boxes go before their
        masks are decoded.
        """
        boxes, embeds, mask_embeds = outputs["boxes"], outputs["embeds"], outputs["mask_embeds"]
        selected = select_detections(outputs["logits"].sigmoid(), self.max_per_img, score_thr)
        results = []
        for i, kept in enumerate(selected):
            det_boxes = clip_boxes(boxes[i, kept.query_index], input_sizes[i])  # [k, 4]
            keep = (det_boxes[:, 2] > det_boxes[:, 0]) & (det_boxes[:, 3] > det_boxes[:, 1])
            kept_queries = kept.query_index[keep]
            with inference_part("masks"):
                mask_probs = self.mask_encoding.decode(mask_embeds[i, kept_queries])  # [n, 28, 28]
            results.append(input_detections(input_sizes[i], det_boxes[keep], kept.scores[keep], kept.labels[keep],
                                            mask_probs, embeds=embeds[i, kept_queries], query_index=kept_queries))
        return results

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
