"""SOLQ (Dong et al., NeurIPS 2021) as implemented in megvii-research/SOLQ (reference_models.md §4).

Deformable DETR with iterative box refinement, plus a mask *vector* per query:

1. ResNet C3, C4, C5 (strides 8, 16, 32) -> ``input_proj`` (1x1 conv + GroupNorm(32)) and one extra level from
   C5 (3x3 stride-2 conv + GN, stride 64), all at ``hidden_dim``; DETR sine position encodings per level;
2. deformable encoder over the 4 levels -> memory; deformable decoder with ``num_queries`` learned queries, each
   layer refining its box (`vis.models.deformable_transformer`);
3. per decoder layer: ``class_embed[l]`` (sigmoid classifier), ``bbox_embed[l]`` (box MLP), and ONE
   ``vector_embed`` MLP shared by all layers predicting the mask as ``n_keep`` = 256 zig-zag DCT coefficients of
   the 128x128 box-relative mask (`vis.models.dct_codec`).

Training: per decoder layer, Hungarian matching (focal class cost 2, L1 on normalised cxcywh 5, -GIoU 2; no mask
cost) and the losses ``loss_cls`` (focal, x2; the reference's ``loss_ce``), ``loss_bbox`` (L1, x5), ``loss_giou``
(x2), each divided by the number of GT boxes averaged over GPUs, and ``loss_vector`` = 3 x mean L1 between
predicted and target DCT vectors of the matched queries (mean over instances x coefficients, per GPU, as the
reference), through the shared `vis.models.set_criterion.SetCriterion`: layer ``i``'s losses are
``s{i}.loss_*`` (the reference names the last layer's without a suffix and the others ``_{i}``). Targets: each
GT mask cut by its GT box, resized to 128x128 (aligned RoIAlign, >= 0.5), DCT-encoded.

Inference: top ``max_per_img`` (query, class) pairs of the last layer's sigmoid scores (no NMS, no threshold);
the vector is decoded to a 128x128 mask with the adaptive (max+min)/2 threshold; the model's `FrameTransform`
scales the boxes to the frame and pastes the masks into them.

State-dict keys mirror the official checkpoint: ``backbone.0.body.*`` (torchvision ResNet names; ``backbone.1``
is the parameter-free position encoding), ``input_proj.{l}.{0,1}``, ``query_embed``, ``transformer.*``,
``class_embed.{l}``, ``bbox_embed.{l}.layers.{j}`` (also under ``transformer.decoder.bbox_embed``: the same
modules) and ``vector_embed.{l}.layers.{j}`` (one module listed once per layer). The only difference is the
label space: the official COCO head has 91 rows indexed by COCO category id, this model's ``num_classes`` rows
are contiguous labels; `convert_state_dict` picks the 80 rows of the COCO categories.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_convert

from ...config import check_kwargs
from ...coco_classes import COCO_THING_IDS, NUM_COCO_ID_SLOTS  # row COCO_THING_IDS[label] of the 91-slot head
from ...errors import ConfigError
from ...structures import ImageBatch, ImageSizes, Instances, image_whwh
from ...timing import inference_part
from ..backbone import ResNetTrunk, build_resnet
from ..dct_codec import DCTMaskCodec
from ..deformable_transformer import DeformableTransformer, EncoderOutput, PositionEmbeddingSine
from ..frame_transform import FrameTransform, Images
from ..mask_ops import crop_masks_by_own_boxes
from ..matcher import HungarianMatcher
from ..postprocess import select_detections
from ..set_criterion import (BoxL1Loss, FocalClassLoss, GIoULoss, LossInputs, MatchedPredictions, Matches,
                             PredictionSet, SetCriterion, matched, matched_targets)
from .base import FeatureMaps, FrameSegmenter, SegmenterConfig, input_detections, merge_weights


# ------------------------------------------------------------------------------------------------
# Backbone and heads
# ------------------------------------------------------------------------------------------------
class DETRBackbone(nn.Module):
    """``backbone.0`` of the reference: the ResNet as ``body``; returns C3, C4, C5 (or only C5 for a single level)."""

    def __init__(self, body: ResNetTrunk, return_interm_layers: bool = True):
        super().__init__()
        self.body = body
        channels = body.out_channels
        self.return_interm_layers = return_interm_layers
        self.strides = [8, 16, 32] if return_interm_layers else [32]
        self.num_channels = list(channels[1:]) if return_interm_layers else [channels[3]]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """x: [N, 3, H, W] normalised -> [C3, C4, C5] (or [C5])."""
        _, c3, c4, c5 = self.body(x)
        return [c3, c4, c5] if self.return_interm_layers else [c5]


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (DETR ``MLP``: keys ``layers.{j}``)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class SOLQOutput(NamedTuple):
    """Every decoder layer's predictions (D layers, N images, Q queries)."""

    logits: torch.Tensor  # [D, N, Q, K]
    boxes: torch.Tensor  # [D, N, Q, 4] normalised cx, cy, w, h of each unpadded image
    vectors: torch.Tensor  # [D, N, Q, n_keep] DCT coefficients in zig-zag order
    hidden: torch.Tensor  # [D, N, Q, C] decoder hidden states (the per-instance query features)


def normalized_cxcywh_to_xyxy(boxes: torch.Tensor, image_sizes: ImageSizes) -> torch.Tensor:
    """[N, Q, 4] normalised cxcywh -> [N, Q, 4] absolute xyxy in each image's unpadded pixels; image_sizes (h, w)
    per image, a list or a tensor [N, 2]."""
    return box_convert(boxes, "cxcywh", "xyxy") * image_whwh(image_sizes, boxes)  # [N, Q, 4] * [N, 1, 4]


# ------------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------------
class DCTVectorLoss:
    """SOLQ's mask term: mean L1 between the matched queries' vectors and their GT masks' DCT vectors
    (``inputs.extras['gt_vectors']``), a mean over instances x coefficients on each process, NOT divided by the
    normalizer (the reference's ``loss_masks`` with ``vector_loss_coef`` as the weight)."""

    def __call__(self, preds: PredictionSet, inputs: LossInputs, matches: Matches, normalizer: torch.Tensor):
        src = matched(preds["vectors"], matches)  # [M, n_keep]
        if src.shape[0] == 0:  # no GT on this process: a zero that keeps the vector head in the graph
            return preds["vectors"].sum() * 0.0
        return F.l1_loss(src, matched_targets(inputs.extras["gt_vectors"], matches), reduction="mean")


# ------------------------------------------------------------------------------------------------
# The segmenter
# ------------------------------------------------------------------------------------------------
_DEFAULT_BACKBONE = dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True, norm="frozen_bn")
_DEFAULT_LOSS_WEIGHTS = dict(cls=2.0, bbox=5.0, giou=2.0, vector=3.0)
_DEFAULT_MATCH_COSTS = dict(cls=2.0, bbox=5.0, giou=2.0)
_GN_GROUPS = 32


@dataclass
class SOLQConfig(SegmenterConfig):
    """The ``model`` section of a SOLQ config. Defaults are the official R-50 model (``configs/r50_solq_train.sh``):
    hidden 384, 8 heads, 6 + 6 layers, FFN 1024, dropout 0.1, 4 levels, 4 points, 300 queries, vector MLP
    384 -> 1024 -> 1024 -> 256, with 80 contiguous COCO classes instead of the 91 category-id slots.

    ``num_classes=91`` with ``unused_labels`` (the slots no COCO category uses) is the official head exactly: the
    release file loads unchanged and unused slots are never emitted. ``size_divisibility=1`` pads a batch only to
    its largest image, with the padding mask, as the official ``nested_tensor_from_tensor_list``.
    """

    num_queries: int = 300
    # the Deformable DETR transformer
    hidden_dim: int = 384
    num_heads: int = 8
    enc_layers: int = 6
    dec_layers: int = 6
    dim_feedforward: int = 1024
    dropout: float = 0.1
    num_feature_levels: int = 4
    enc_n_points: int = 4
    dec_n_points: int = 4
    # the DCT mask vectors: the first n_keep zig-zag coefficients of mask_size^2 box-relative masks
    vector_hidden_dim: int = 1024
    mask_size: int = 128
    n_keep: int = 256
    focal_alpha: float = 0.25  # the focal class loss and cost
    size_divisibility: int = 1  # pad a batch only to its largest image
    unused_labels: Optional[Sequence[int]] = None

    def __post_init__(self) -> None:
        """Sizes the modules cannot be built with are one-line ConfigErrors, before anything is built."""
        unused = sorted({int(label) for label in (self.unused_labels or ())})
        if any(not 0 <= label < self.num_classes for label in unused):
            raise ConfigError(f"model unused_labels must lie in 0..{self.num_classes - 1}, got {unused}")
        self.unused_labels = unused
        self.backbone = {**_DEFAULT_BACKBONE, **(self.backbone or {})}
        check_kwargs(build_resnet, self.backbone, "model backbone")
        if self.num_feature_levels < 1 or self.num_feature_levels == 2:
            raise ConfigError(f"model num_feature_levels must be 1 (C5) or >= 3 (C3-C5 + extra levels), "
                              f"got {self.num_feature_levels}")
        if self.hidden_dim % _GN_GROUPS != 0:
            raise ConfigError(f"model hidden_dim must be a multiple of {_GN_GROUPS} (GroupNorm), got {self.hidden_dim}")
        if self.hidden_dim % self.num_heads != 0 or (self.hidden_dim // 2) % 2 != 0:
            raise ConfigError(f"model hidden_dim {self.hidden_dim} must be divisible by num_heads {self.num_heads} "
                              f"and by 4")


class SOLQHeads(NamedTuple):
    """The per-query parts on top of the transformer, under the reference's names."""

    class_embed: nn.ModuleList  # [dec_layers] Linear(C, K)
    bbox_embed: nn.ModuleList  # [dec_layers] MLP(C, C, 4, 3)
    vector_embed: nn.ModuleList  # ONE MLP(C, vector_hidden_dim, n_keep, 3), listed once per layer
    query_embed: nn.Embedding  # [Q, 2C]: query position | target


def build_solq_heads(cfg: SOLQConfig) -> SOLQHeads:
    """The heads, initialised as the reference: per-layer class and box heads cloned from ONE initialised head
    (so all start equal), the first box head's w, h bias at -2, and one vector MLP shared by all layers."""
    class_embed = nn.Linear(cfg.hidden_dim, cfg.num_classes)
    nn.init.constant_(class_embed.bias, -math.log((1 - 0.01) / 0.01))  # prior probability 0.01
    bbox_embed = MLP(cfg.hidden_dim, cfg.hidden_dim, 4, 3)
    nn.init.zeros_(bbox_embed.layers[-1].weight)
    nn.init.zeros_(bbox_embed.layers[-1].bias)
    class_embeds = nn.ModuleList([copy.deepcopy(class_embed) for _ in range(cfg.dec_layers)])
    bbox_embeds = nn.ModuleList([copy.deepcopy(bbox_embed) for _ in range(cfg.dec_layers)])
    nn.init.constant_(bbox_embeds[0].layers[-1].bias[2:], -2.0)  # only the first layer's w, h

    vector_embed = MLP(cfg.hidden_dim, cfg.vector_hidden_dim, cfg.n_keep, 3)
    nn.init.zeros_(vector_embed.layers[-1].weight)
    nn.init.zeros_(vector_embed.layers[-1].bias)
    nn.init.constant_(vector_embed.layers[-1].bias[2:], -2.0)  # as the reference (copied from its box head)
    vector_embeds = nn.ModuleList([vector_embed for _ in range(cfg.dec_layers)])
    return SOLQHeads(class_embeds, bbox_embeds, vector_embeds, nn.Embedding(cfg.num_queries, cfg.hidden_dim * 2))


def build_input_proj(trunk: DETRBackbone, hidden_dim: int, num_feature_levels: int) -> nn.ModuleList:
    """1x1 conv + GN per trunk level, then 3x3 stride-2 conv + GN extra levels (on C5, then on the previous extra
    level) up to ``num_feature_levels``; convolutions xavier-initialised as the reference."""
    proj: List[nn.Module] = []
    for channels in trunk.num_channels:
        proj.append(nn.Sequential(nn.Conv2d(channels, hidden_dim, 1), nn.GroupNorm(_GN_GROUPS, hidden_dim)))
    in_channels = trunk.num_channels[-1]
    for _ in range(num_feature_levels - len(trunk.num_channels)):
        proj.append(nn.Sequential(
            nn.Conv2d(in_channels, hidden_dim, 3, stride=2, padding=1), nn.GroupNorm(_GN_GROUPS, hidden_dim)
        ))
        in_channels = hidden_dim
    input_proj = nn.ModuleList(proj)
    for seq in input_proj:
        nn.init.xavier_uniform_(seq[0].weight, gain=1)
        nn.init.zeros_(seq[0].bias)
    return input_proj


def build_solq_criterion(cfg: SOLQConfig) -> SetCriterion:
    """Reference SetCriterion: every box/class term / #GT in the batch (averaged over processes, >= 1). Its
    ``focal.mean(1).sum() / num_boxes * num_queries`` is FocalClassLoss's plain sum / num_boxes."""
    costs = merge_weights(cfg.match_costs, _DEFAULT_MATCH_COSTS, "match_costs")
    matcher = HungarianMatcher(cost_class=costs["cls"], cost_bbox=costs["bbox"], cost_giou=costs["giou"],
                               focal_alpha=cfg.focal_alpha, eps=1e-8, l1_box_format="cxcywh")
    return SetCriterion(
        matcher,
        {"cls": FocalClassLoss(alpha=cfg.focal_alpha, gamma=2.0), "bbox": BoxL1Loss("normalized_cxcywh"),
         "giou": GIoULoss("normalized_cxcywh"), "vector": DCTVectorLoss()},
        merge_weights(cfg.loss_weights, _DEFAULT_LOSS_WEIGHTS, "loss_weights"),
        count="gt",
    )


class SOLQ(FrameSegmenter):
    """SOLQ: ResNet + Deformable DETR (box refinement) + a shared MLP predicting DCT mask vectors.

    Built from its parts (`SOLQ.from_config` makes them from a `SOLQConfig`): the ResNet with DETR's position
    encoding (``backbone``), the input projections, the transformer, the heads, the DCT codec and the criterion.
    """

    Config = SOLQConfig
    checkpoint_signature = "vector_embed."  # the DCT mask-vector MLP
    backbone_prefix = "backbone.0.body."  # DETR's Joiner(Backbone(body=ResNet), position encoding)
    neck_module = "input_proj"  # the convolutions before the deformable encoder

    def __init__(self, transform: FrameTransform, backbone: nn.ModuleList, input_proj: nn.ModuleList,
                 transformer: DeformableTransformer, heads: SOLQHeads, codec: DCTMaskCodec, criterion: SetCriterion,
                 max_per_img: int = 100, class_names: Optional[Sequence[str]] = None,
                 unused_labels: Sequence[int] = ()):
        super().__init__(transform, heads.class_embed[0].out_features, transformer.d_model, max_per_img, class_names)
        self.unused_labels = list(unused_labels)
        self.num_queries = heads.query_embed.num_embeddings
        self.num_feature_levels = len(input_proj)
        self.dec_layers = len(heads.class_embed)
        # Registered in the reference's order (transformer first), so the state dict lists keys as its does.
        self.transformer = transformer
        self.class_embed, self.bbox_embed, self.vector_embed, self.query_embed = heads
        self.transformer.decoder.bbox_embed = self.bbox_embed  # the same modules (reference's refinement hack)
        self.input_proj = input_proj
        self.backbone = backbone  # ``backbone.0`` = ResNet, ``backbone.1`` = sine position encoding (DETR's Joiner)
        strides = list(backbone[0].strides)
        while len(strides) < self.num_feature_levels:
            strides.append(strides[-1] * 2)
        self.feature_strides = tuple(strides)
        self.codec = codec
        self.matcher = criterion.matcher
        self.criterion = criterion

    @classmethod
    def from_config(cls, cfg: SOLQConfig) -> "SOLQ":
        """Build the parts in the reference's order (transformer, heads, ResNet, projections): with a seed, the
        same initial weights as the reference."""
        transformer = DeformableTransformer(
            cfg.hidden_dim, cfg.num_heads, cfg.enc_layers, cfg.dec_layers, cfg.dim_feedforward, cfg.dropout,
            cfg.num_feature_levels, cfg.enc_n_points, cfg.dec_n_points,
        )
        heads = build_solq_heads(cfg)
        trunk = DETRBackbone(build_resnet(**cfg.backbone), return_interm_layers=cfg.num_feature_levels > 1)
        input_proj = build_input_proj(trunk, cfg.hidden_dim, cfg.num_feature_levels)
        backbone = nn.ModuleList([trunk, PositionEmbeddingSine(cfg.hidden_dim // 2)])
        transform = cfg.frame_transform(cfg.size_divisibility)
        return cls(transform, backbone, input_proj, transformer, heads, DCTMaskCodec(cfg.mask_size, cfg.n_keep),
                   build_solq_criterion(cfg), cfg.max_per_img, cfg.class_names, cfg.unused_labels)

    # -- shared forward pieces --------------------------------------------------------------------
    def _levels(
        self, feats: List[torch.Tensor], padding_mask: torch.Tensor
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
        """The trunk's C3..C5 and the padding mask [N, H, W] (True = padding) -> per level the projected map
        [N, C, H_l, W_l], its padding mask [N, H_l, W_l] (nearest-downsampled) and its position encoding."""
        srcs = [proj(f) for proj, f in zip(self.input_proj, feats)]
        for level in range(len(feats), self.num_feature_levels):
            srcs.append(self.input_proj[level](feats[-1] if level == len(feats) else srcs[-1]))
        masks = [F.interpolate(padding_mask[None].float(), size=s.shape[-2:]).to(torch.bool)[0] for s in srcs]
        pos = [self.backbone[1](m).to(s.dtype) for m, s in zip(masks, srcs)]
        return srcs, masks, pos

    def encode(self, tensor: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> EncoderOutput:
        """Backbone + input projections + deformable encoder. padding_mask: bool [N, H, W], True on padding
        (None: nothing is padding)."""
        if padding_mask is None:
            padding_mask = torch.zeros(tensor.shape[:1] + tensor.shape[2:], dtype=torch.bool, device=tensor.device)
        with inference_part("backbone"):
            feats = self.backbone[0](tensor)
        with inference_part("neck"):
            srcs, masks, pos = self._levels(feats, padding_mask)
            return self.transformer.encode(srcs, masks, pos)

    def decode(self, enc: EncoderOutput) -> SOLQOutput:
        """Decoder + per-layer heads -> every layer's logits, boxes, vectors and hidden states."""
        hidden, boxes, _ = self.transformer.decode(self.query_embed.weight, enc)
        logits = torch.stack([self.class_embed[l](hidden[l]) for l in range(self.dec_layers)])
        vectors = torch.stack([self.vector_embed[l](hidden[l]) for l in range(self.dec_layers)])
        return SOLQOutput(logits, boxes, vectors, hidden)

    def extract_features(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """Normalised images [N, 3, H, W] (no padding) -> the encoder memory as maps at ``feature_strides``."""
        return self.encode(tensor).maps()

    def extract_feature_maps(self, images: Images) -> FeatureMaps:
        """Raw images -> encoder memory maps, with the batch's padding masked as in training."""
        batch = self.transform(images)
        enc = self.encode(batch.tensor, ~batch.valid_mask())
        return FeatureMaps(enc.maps(), list(self.feature_strides), batch.image_sizes)

    def _run(self, batch: ImageBatch) -> Tuple[EncoderOutput, SOLQOutput]:
        enc = self.encode(batch.tensor, ~batch.valid_mask())
        with inference_part("heads"):
            return enc, self.decode(enc)

    # -- training ---------------------------------------------------------------------------------
    def forward_train(
        self, images: Images, targets: Sequence[Dict]
    ) -> Tuple[Dict[str, torch.Tensor], FeatureMaps, MatchedPredictions]:
        """images: ImageBatch or list of [3, h, w] (0..255); targets: per image ``boxes`` [G, 4] xyxy, ``labels``
        [G], ``masks`` bool [G, h, w] -> ({'s{layer}.loss_{cls,bbox,giou,vector}': weighted loss}, the encoder
        memory maps, the last layer's matched predictions)."""
        batch = self.transform(images)
        targets = self.targets_to_device(targets)
        enc, out = self._run(batch)
        losses, matched_predictions = self.criterion(self.prediction_sets(out, batch.image_sizes),
                                                     self.loss_inputs(targets, batch.image_sizes))
        return losses, FeatureMaps(enc.maps(), list(self.feature_strides), batch.image_sizes), matched_predictions

    @staticmethod
    def prediction_sets(out: SOLQOutput, image_sizes: Sequence[Tuple[int, int]]) -> List[Dict[str, torch.Tensor]]:
        """Every decoder layer's raw outputs as a prediction set: ``logits``, ``boxes`` (absolute xyxy, for the
        matching), ``boxes_cxcywh`` (the normalised output the box losses use), ``vectors``."""
        return [
            {"logits": out.logits[layer], "boxes": normalized_cxcywh_to_xyxy(out.boxes[layer], image_sizes),
             "boxes_cxcywh": out.boxes[layer], "vectors": out.vectors[layer]}
            for layer in range(out.logits.shape[0])
        ]

    def loss_inputs(self, targets: Sequence[Dict[str, torch.Tensor]], image_sizes: Sequence[Tuple[int, int]]
                    ) -> LossInputs:
        """The GT DCT vectors depend on the GT only: encoded once for all layers."""
        return LossInputs(targets, image_sizes, {"gt_vectors": [self.target_vectors(t) for t in targets]})

    def target_vectors(self, target: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Every GT mask cut by its own GT box, resized to S x S and binarised (>= 0.5), DCT-encoded -> [G, n_keep]."""
        return self.codec.encode(crop_masks_by_own_boxes(target, self.codec.mask_size))

    # -- inference --------------------------------------------------------------------------------
    @property
    def feature_outputs(self) -> Tuple[str, ...]:
        """The encoder memory as one map per level, ``m0`` the finest."""
        return tuple(f"m{level}" for level in range(self.num_feature_levels))

    @property
    def network_outputs(self) -> Tuple[str, ...]:
        return ("logits", "boxes", "embeds", "vectors") + self.feature_outputs

    def network(self, tensor: torch.Tensor, image_sizes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Backbone, encoder and decoder -> the last layer's ``logits``, ``boxes`` (absolute xyxy), ``embeds``
        (hidden state) and ``vectors`` (DCT coefficients) for all Q queries, and the encoder memory maps. The
        padding mask is made from ``image_sizes`` here, so that an exported graph makes it too."""
        height, width = tensor.shape[-2:]
        rows = torch.arange(height, device=tensor.device)[None, :, None]  # [1, H, 1]
        cols = torch.arange(width, device=tensor.device)[None, None, :]  # [1, 1, W]
        padding_mask = ~((rows < image_sizes[:, 0, None, None]) & (cols < image_sizes[:, 1, None, None]))  # [N, H, W]
        enc = self.encode(tensor, padding_mask)
        with inference_part("heads"):
            out = self.decode(enc)
        return {"logits": out.logits[-1], "boxes": normalized_cxcywh_to_xyxy(out.boxes[-1], image_sizes),
                "embeds": out.hidden[-1], "vectors": out.vectors[-1], **dict(zip(self.feature_outputs, enc.maps()))}

    def postprocess(self, outputs: Dict[str, torch.Tensor], input_sizes: Sequence[Tuple[int, int]],
                    score_thr: Optional[float] = None) -> List[Instances]:
        """Last layer's top ``max_per_img`` (query, class) pairs by sigmoid score, those below ``score_thr`` (when
        given) dropped; no NMS.

        A query may appear several times with different labels. Each kept query's vector is decoded to a binary
        128x128 mask (threshold (max+min)/2), its ``mask_probs``. ``embeds`` is the query's last decoder hidden
        state. Call ``eval()`` first (dropout).
        """
        boxes, embeds, vectors = outputs["boxes"], outputs["embeds"], outputs["vectors"]
        scores = outputs["logits"].sigmoid()  # [N, Q, K]
        if self.unused_labels:  # slots no category uses (the 91-slot COCO head) are never emitted
            scores[..., self.unused_labels] = 0.0
        results = []
        for i, kept in enumerate(select_detections(scores, self.max_per_img, score_thr)):
            with inference_part("masks"):
                masks = self.codec.decode(vectors[i, kept.query_index])  # [k, S, S] in {0, 1}
            results.append(input_detections(input_sizes[i], boxes[i, kept.query_index], kept.scores, kept.labels,
                                            masks, embeds=embeds[i, kept.query_index], query_index=kept.query_index))
        return results

    # -- checkpoints and reporting --------------------------------------------------------------
    def param_parts(self) -> Dict[str, List[str]]:
        """Two parts: the ResNet, and everything else (``non_backbone``: input projections, queries, transformer,
        class/box heads and the shared vector MLP counted once), which is the reference's 30.74M for R-50 with
        the 91-slot head."""
        return {
            "backbone": ["backbone"],
            "non_backbone": ["input_proj", "query_embed", "transformer", "class_embed", "bbox_embed", "vector_embed"],
        }

    def convert_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Official checkpoints use this model's key names; only the COCO head differs: its 91 rows are indexed
        by COCO category id. For an 80-class model the rows of the 80 COCO categories are picked (label order =
        category-id order, as the COCO dataset's contiguous labels). Anything else is returned unchanged."""
        if not self._holds_coco_id_slots(state_dict):
            return state_dict
        rows = torch.tensor(COCO_THING_IDS, dtype=torch.int64)
        converted = dict(state_dict)
        for layer in range(self.dec_layers):
            for kind in ("weight", "bias"):
                key = f"class_embed.{layer}.{kind}"
                if key in converted and converted[key].shape[0] == NUM_COCO_ID_SLOTS:
                    converted[key] = converted[key][rows.to(converted[key].device)]
        return converted

    def _holds_coco_id_slots(self, state_dict: Dict[str, torch.Tensor]) -> bool:
        """An official 91-slot head for this 80-class model: the case `convert_state_dict` maps."""
        first = state_dict.get("class_embed.0.weight")
        return (first is not None and first.shape[0] == NUM_COCO_ID_SLOTS
                and self.num_classes == len(COCO_THING_IDS))

    def describe_conversion(self, state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
        """What `convert_state_dict` does to ``state_dict``, for the load report (None: nothing)."""
        if self._holds_coco_id_slots(state_dict):
            return (f"class head: the rows of the {len(COCO_THING_IDS)} COCO categories taken from the checkpoint's "
                    f"{NUM_COCO_ID_SLOTS} category-id slots")
        return None

    def classifier_param_names(self) -> List[str]:
        return [f"class_embed.{l}.{kind}" for l in range(self.dec_layers) for kind in ("weight", "bias")]
