"""One-to-one assignment of predictions to ground truth (set prediction), shared by the query-based segmenters.

The cost of predicting GT ``j`` with query ``i`` is

    cost_class * focal(i, label_j) + cost_bbox * L1(box_i, box_j) + cost_giou * -GIoU(box_i, box_j) [+ extra]

and ``scipy.optimize.linear_sum_assignment`` picks the cheapest one-to-one matching per image.

Reference: mmdet ``HungarianAssigner`` with ``FocalLossCost``, ``BBoxL1Cost(box_format='xyxy')`` and
``IoUCost(iou_mode='giou')`` (reference_models.md §1.9). The L1 term compares boxes divided by the image's
``[W, H, W, H]`` (the unpadded input size); GIoU uses absolute boxes (GIoU is invariant to per-axis scaling,
so the normalised boxes DETR-style heads use give the same value).
Other segmenters plug in: SOLQ takes the L1 on normalised cxcywh (``l1_box_format='cxcywh'``, ``eps=1e-8``),
ISTR adds its mask-embedding cost (`cosine_embedding_cost`) through ``extra_costs``.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn
from torchvision.ops import box_convert, generalized_box_iou


def focal_class_cost(
    logits: torch.Tensor, gt_labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0, eps: float = 1e-12
) -> torch.Tensor:
    """logits: [P, K], gt_labels: [G] -> [P, G]: the focal loss of calling each query each GT's class,
    minus the focal loss of calling it background for that class (mmdet ``FocalLossCost``)."""
    prob = logits.sigmoid()
    neg_cost = -(1 - prob + eps).log() * (1 - alpha) * prob.pow(gamma)
    pos_cost = -(prob + eps).log() * alpha * (1 - prob).pow(gamma)
    return pos_cost[:, gt_labels] - neg_cost[:, gt_labels]


def cosine_embedding_cost(pred_embeds: torch.Tensor, gt_embeds: torch.Tensor) -> torch.Tensor:
    """pred_embeds: [P, D], gt_embeds: [G, D] -> [P, G] cost ``-(cos + 1) / 2`` in [-1, 0].

    The cosine similarity of the L2-normalised vectors, mapped so that identical directions cost -1 and
    opposite ones 0 (ISTR's mask-embedding cost, reference_models.md §3.1; pass it, weighted, as an
    ``extra_cost``).
    """
    pred = F.normalize(pred_embeds.float(), p=2, dim=1)
    gt = F.normalize(gt_embeds.float(), p=2, dim=1)
    return -(pred @ gt.t() + 1.0) / 2.0


class HungarianMatcher(nn.Module):
    """Per-image Hungarian matching on focal class cost + normalised-box L1 + (-GIoU).

    Args:
        cost_class, cost_bbox, cost_giou: weights of the three terms (QueryInst: 2, 5, 2).
        focal_alpha, focal_gamma, eps: focal class-cost parameters.
        l1_box_format: 'xyxy' (QueryInst, ISTR) or 'cxcywh' (SOLQ / Deformable DETR) for the L1 term.
    """

    def __init__(
        self,
        cost_class: float = 2.0,
        cost_bbox: float = 5.0,
        cost_giou: float = 2.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        eps: float = 1e-12,
        l1_box_format: str = "xyxy",
    ):
        super().__init__()
        if l1_box_format not in ("xyxy", "cxcywh"):
            raise ValueError(f"l1_box_format must be 'xyxy' or 'cxcywh', got '{l1_box_format}'")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.eps = eps
        self.l1_box_format = l1_box_format

    def cost_matrix(
        self,
        logits: torch.Tensor,
        boxes: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
        image_size: Tuple[int, int],
    ) -> torch.Tensor:
        """One image. logits [P, K], boxes [P, 4] and gt_boxes [G, 4] absolute xyxy, gt_labels [G]
        -> weighted cost [P, G]. ``image_size`` is the unpadded (h, w) the L1 term is normalised by."""
        h, w = image_size
        scale = boxes.new_tensor([w, h, w, h])
        norm_boxes, norm_gt = boxes / scale, gt_boxes / scale
        if self.l1_box_format == "cxcywh":
            norm_boxes = box_convert(norm_boxes, "xyxy", "cxcywh")
            norm_gt = box_convert(norm_gt, "xyxy", "cxcywh")
        cost = self.cost_class * focal_class_cost(logits, gt_labels, self.focal_alpha, self.focal_gamma, self.eps)
        cost = cost + self.cost_bbox * torch.cdist(norm_boxes, norm_gt, p=1)
        cost = cost - self.cost_giou * generalized_box_iou(boxes, gt_boxes)
        return cost

    @torch.no_grad()
    def match_single(
        self,
        logits: torch.Tensor,
        boxes: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
        image_size: Tuple[int, int],
        extra_cost: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """One image -> (pred_idx [M], gt_idx [M]) int64 on the logits' device, pred_idx ascending.

        ``extra_cost`` ([P, G], already weighted) is added to the cost, e.g. ISTR's mask-embedding cost.
        With no GT (or no predictions) nothing is matched: every query is background.
        """
        device = logits.device
        num_preds, num_gts = logits.shape[0], gt_labels.shape[0]
        if num_preds == 0 or num_gts == 0:
            empty = torch.zeros(0, dtype=torch.int64, device=device)
            return empty, empty.clone()
        cost = self.cost_matrix(logits.float(), boxes.float(), gt_labels, gt_boxes.float(), image_size)
        if extra_cost is not None:
            cost = cost + extra_cost
        pred_idx, gt_idx = linear_sum_assignment(cost.cpu().numpy())
        # linear_sum_assignment returns rows sorted ascending, i.e. matched queries in query order.
        return (
            torch.as_tensor(pred_idx, dtype=torch.int64, device=device),
            torch.as_tensor(gt_idx, dtype=torch.int64, device=device),
        )

    @torch.no_grad()
    def forward(
        self,
        logits: torch.Tensor,
        boxes: torch.Tensor,
        targets: Sequence[Dict[str, torch.Tensor]],
        image_sizes: Sequence[Tuple[int, int]],
        extra_costs: Optional[Sequence[Optional[torch.Tensor]]] = None,
    ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """logits: [N, P, K], boxes: [N, P, 4] absolute xyxy; targets: per image ``labels`` [G], ``boxes`` [G, 4].

        Returns one ``(pred_idx, gt_idx)`` pair per image.
        """
        matches = []
        for i, target in enumerate(targets):
            extra = extra_costs[i] if extra_costs is not None else None
            matches.append(
                self.match_single(logits[i], boxes[i], target["labels"], target["boxes"], image_sizes[i], extra)
            )
        return matches
