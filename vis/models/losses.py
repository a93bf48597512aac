"""Loss functions shared by the query-based segmenters, in the exact forms of the reference implementations.

All functions return the SUM over elements (or per-sample values with ``reduction='none'``); callers divide by
an ``avg_factor`` (the number of matched GT averaged over GPUs, see `reduce_mean`) as mmdet does, instead of
averaging per image.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else loss.sum() * 0.0
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got '{reduction}'")


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "sum"
) -> torch.Tensor:
    """Binary focal loss on logits (any shape) against 0/1 targets of the same shape.

    ``BCE(x, t) * (alpha t + (1-alpha)(1-t)) * p_t^gamma`` with ``p_t = 1 - p`` for positives and ``p``
    for negatives (mmdet ``py_sigmoid_focal_loss``). Background queries have an all-zero target row.
    """
    targets = targets.to(logits.dtype)
    prob = logits.sigmoid()
    one_minus_pt = (1 - prob) * targets + prob * (1 - targets)
    weight = (alpha * targets + (1 - alpha) * (1 - targets)) * one_minus_pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * weight
    return _reduce(loss, reduction)


def aligned_giou(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """GIoU of boxes1[i] with boxes2[i] ([N, 4] xyxy each) -> [N].

    Union and enclosing area are clamped to ``eps`` as mmdet's ``bbox_overlaps(mode='giou', is_aligned=True)``
    does, so degenerate (zero-area) GT boxes give a finite loss.
    """
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    inter_wh = (torch.min(boxes1[:, 2:], boxes2[:, 2:]) - torch.max(boxes1[:, :2], boxes2[:, :2])).clamp(min=0)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    union = (area1 + area2 - inter).clamp(min=eps)
    enclose_wh = (torch.max(boxes1[:, 2:], boxes2[:, 2:]) - torch.min(boxes1[:, :2], boxes2[:, :2])).clamp(min=0)
    enclose = (enclose_wh[:, 0] * enclose_wh[:, 1]).clamp(min=eps)
    return inter / union - (enclose - union) / enclose


def giou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6, reduction: str = "sum") -> torch.Tensor:
    """``1 - GIoU`` between aligned xyxy boxes [N, 4] (mmdet ``GIoULoss``)."""
    return _reduce(1 - aligned_giou(pred, target, eps), reduction)


def dice_loss(
    probs: torch.Tensor,
    targets: torch.Tensor,
    eps: float = 1e-5,
    reduction: str = "sum",
    eps_in_each_sum: bool = True,
) -> torch.Tensor:
    """Per-instance dice loss ``1 - 2 sum(xy) / ((sum(x^2) + eps) + (sum(y^2) + eps))``.

    probs: [N, ...] probabilities (already sigmoid-ed), targets: [N, ...] 0/1. This is mmdet ``DiceLoss`` with
    ``naive_dice=False`` (squared sums, eps added to each), which QueryInst uses. ``eps_in_each_sum=False``
    adds eps once, ``1 - 2 sum(xy) / (sum(x^2) + sum(y^2) + eps)``, as ISTR's criterion does.
    """
    x = probs.flatten(1)
    y = targets.flatten(1).to(x.dtype)
    inter = (x * y).sum(1)
    if eps_in_each_sum:
        denom = ((x * x).sum(1) + eps) + ((y * y).sum(1) + eps)
    else:
        denom = (x * x).sum(1) + (y * y).sum(1) + eps
    return _reduce(1 - 2 * inter / denom, reduction)


def l1_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    return _reduce((pred - target).abs(), reduction)


def reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over torch.distributed ranks (identity when not distributed).

    Used for ``avg_factor``: the number of matched GT averaged over GPUs, so every rank normalises by the
    same number, as mmdet does.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
    return tensor
