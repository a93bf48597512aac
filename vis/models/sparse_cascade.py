"""The sparse cascade QueryInst and ISTR share (Sparse R-CNN): learned proposal boxes, refined stage by stage.

Each stage pools RoI features at its input boxes, lets its head turn (queries, RoIs) into class logits, box deltas,
the next queries and the paper's own per-query output, and decodes the deltas into the next stage's boxes. Boxes
are detached between stages; queries are not. The stage heads themselves (mmdet's ``DIIHead``, ISTR's
``RCNNHead``) stay in their papers' modules, under their checkpoints' names.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import torch
from torch import nn
from torchvision.ops import box_convert

from ..structures import ImageSizes, image_whwh
from ..timing import inference_part
from .backbone import run_fpn

StageFn = Callable[[int, List[torch.Tensor], torch.Tensor, torch.Tensor], Dict[str, torch.Tensor]]


def init_full_image_boxes_(boxes: nn.Embedding) -> None:
    """Learned proposal boxes start as the whole image: normalised (cx, cy, w, h) = (0.5, 0.5, 1, 1)."""
    with torch.no_grad():
        boxes.weight[:, :2] = 0.5
        boxes.weight[:, 2:] = 1.0


def learned_boxes(weight: torch.Tensor, image_sizes: ImageSizes) -> Tuple[torch.Tensor, torch.Tensor]:
    """weight [P, 4] normalised cxcywh, image_sizes (h, w) per image (a list or a tensor [N, 2]) -> boxes
    [N, P, 4] absolute xyxy per image (keeping their gradient: the stage-0 box losses train them) and imgs_whwh
    [N, 1, 4]."""
    imgs_whwh = image_whwh(image_sizes, weight)  # [N, 1, 4]
    return box_convert(weight, "cxcywh", "xyxy")[None] * imgs_whwh, imgs_whwh


def fc_norm_act(num_layers: int, dim: int, activation: Callable[[], nn.Module]) -> nn.Sequential:
    """``num_layers`` x [Linear(no bias), LayerNorm, activation]: the class / box / mask towers of both papers'
    stage heads (ReLU in mmdet's DIIHead, ELU in ISTR); keys ``{3i}.weight``, ``{3i+1}.{weight,bias}``."""
    layers: List[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Linear(dim, dim, bias=False), nn.LayerNorm(dim), activation()]
    return nn.Sequential(*layers)


def refine_boxes(pooler: nn.Module, head: nn.Module, box_coder, features: List[torch.Tensor], boxes: torch.Tensor,
                 queries: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One stage: boxes [N, P, 4] xyxy, queries [N, P, C] -> (cls_logits [N, P, K], new boxes [N, P, 4] with
    gradient through the deltas, next queries [N, P, C], the head's fourth output [N, P, ...]).

    The head maps (RoI features [N*P, C, S, S], queries [N, P, C]) to four per-RoI outputs [N*P, ...] in
    image-major order; they are laid out per image here."""
    num_images, num_queries = boxes.shape[:2]
    roi_feats = pooler(features, list(boxes))  # [N*P, C, S, S]
    cls_logits, deltas, obj_feats, extra = head(roi_feats, queries)  # each [N*P, ...]
    new_boxes = box_coder.decode(boxes.reshape(-1, 4), deltas)  # [N*P, 4]
    return tuple(t.view(num_images, num_queries, *t.shape[1:]) for t in (cls_logits, new_boxes, obj_feats, extra))


def run_cascade(stage_fn: StageFn, num_stages: int, features: List[torch.Tensor], boxes: torch.Tensor,
                queries: torch.Tensor) -> Iterator[Dict[str, torch.Tensor]]:
    """Yields every stage's prediction set (``stage_fn`` returns a dict with ``boxes`` and ``obj_feats``).

    A generator, so that `vis.models.set_criterion.SetCriterion` computes a stage's losses before the next stage
    runs, in the references' order of operations."""
    for stage in range(num_stages):
        out = stage_fn(stage, features, boxes, queries)
        yield out
        boxes, queries = out["boxes"].detach(), out["obj_feats"]


def fpn_cascade_network(segmenter: nn.Module, tensor: torch.Tensor, image_sizes: ImageSizes, own_output: str
                        ) -> Dict[str, torch.Tensor]:
    """The per-frame network of a ResNet-FPN + sparse-cascade segmenter (QueryInst, ISTR): trunk, FPN, every stage
    -> the last stage's ``logits``, ``boxes``, ``embeds`` (``obj_feats``, the next query) and the paper's own
    per-query output ``own_output`` for all P queries, plus the FPN maps under ``segmenter.feature_outputs``."""
    with inference_part("backbone"):
        trunk = segmenter.backbone(tensor)
    with inference_part("neck"):
        features = run_fpn(segmenter.neck, trunk)
    with inference_part("heads"):
        *_, last = segmenter.forward_sets(features, image_sizes)
    return {"logits": last["logits"], "boxes": last["boxes"], "embeds": last["obj_feats"],
            own_output: last[own_output], **dict(zip(segmenter.feature_outputs, features))}
