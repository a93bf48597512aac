"""DETR's set criterion, shared by the three segmenters.

A model returns one *prediction set* per cascade stage (QueryInst, ISTR) or decoder layer (SOLQ): a dict with at
least ``logits`` [N, P, K] and ``boxes`` [N, P, 4] (xyxy in input-image pixels, with gradient). For every set,
`SetCriterion` matches the queries to the ground truth (Hungarian, on the detached set), then adds each loss term:

    losses["s{set}.loss_{term}"] = term(set, inputs, matches, normalizer) * weight[term] * set_weight[set]

Every term returns a sum divided by the ``normalizer``: the number of ground-truth instances in the batch
(``count='gt'``, DETR, ISTR, SOLQ) or of matched queries in this set (``count='matched'``, mmdet's QueryInst),
averaged over processes and clamped to >= 1. The shared terms are the focal class loss, L1 and GIoU on boxes;
each paper's mask term (QueryInst's dynamic mask head, ISTR's PCA embeddings, SOLQ's DCT vectors) lives with its
model and gets what it needs through `LossInputs.extras`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch
from torchvision.ops import box_convert

from .losses import giou_loss, l1_loss, reduce_mean, sigmoid_focal_loss
from .matcher import HungarianMatcher

Matches = List[Tuple[torch.Tensor, torch.Tensor]]  # per image (pred_idx [M_i], gt_idx [M_i])
PredictionSet = Dict[str, Any]  # tensors, plus e.g. QueryInst's int ``stage``


@dataclass
class LossInputs:
    """What the loss terms see besides one prediction set: the same for every set of one forward.

    targets: per image ``labels`` [G], ``boxes`` [G, 4] xyxy, ``masks`` [G, h, w]; image_sizes: unpadded (h, w);
    extras: what a model's own terms need, computed once per forward (features, GT mask crops, ...).
    """

    targets: Sequence[Dict[str, torch.Tensor]]
    image_sizes: Sequence[Tuple[int, int]]
    extras: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def gt_boxes_normalized_cxcywh(self) -> List[torch.Tensor]:
        """Per image, the GT boxes as DETR's normalised (cx, cy, w, h) of the unpadded image (once per forward)."""
        gt = []
        for target, (h, w) in zip(self.targets, self.image_sizes):
            gt.append(box_convert(target["boxes"] / target["boxes"].new_tensor([w, h, w, h]), "xyxy", "cxcywh"))
        return gt


LossTerm = Callable[[PredictionSet, LossInputs, Matches, torch.Tensor], torch.Tensor]


def matched(values: torch.Tensor, matches: Matches) -> torch.Tensor:
    """values [N, P, ...] -> the matched queries' rows [M, ...], image by image."""
    return torch.cat([values[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)])


def matched_targets(per_image: Sequence[torch.Tensor], matches: Matches) -> torch.Tensor:
    """Per image [G_i, ...] ground-truth values -> the rows matched to queries [M, ...], in `matched`'s order."""
    return torch.cat([values[gt_idx] for values, (_, gt_idx) in zip(per_image, matches)])


def image_whwh(boxes: torch.Tensor, image_sizes: Sequence[Tuple[int, int]], matches: Matches) -> torch.Tensor:
    """[M, 4] = (w, h, w, h) of the image of each matched query (the box-L1 normaliser)."""
    rows = [boxes.new_tensor([w, h, w, h]).expand(len(pred_idx), 4)
            for (h, w), (pred_idx, _) in zip(image_sizes, matches)]
    return torch.cat(rows)


def one_hot_targets(logits: torch.Tensor, targets: Sequence[Dict[str, torch.Tensor]], matches: Matches) -> torch.Tensor:
    """[N, P, K] focal targets: 1 at (matched query, its GT label), all-zero rows for unmatched queries."""
    onehot = torch.zeros_like(logits)
    for i, (pred_idx, gt_idx) in enumerate(matches):
        onehot[i, pred_idx, targets[i]["labels"][gt_idx]] = 1.0
    return onehot


class FocalClassLoss:
    """Sigmoid focal loss over all P x K logits (background = all-zero row) / normalizer."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0):
        self.alpha, self.gamma = alpha, gamma

    def __call__(self, preds: PredictionSet, inputs: LossInputs, matches: Matches, normalizer: torch.Tensor):
        logits = preds["logits"]
        onehot = one_hot_targets(logits, inputs.targets, matches)
        return sigmoid_focal_loss(logits, onehot, alpha=self.alpha, gamma=self.gamma, reduction="sum") / normalizer


BOX_SPACES = ("pixels", "normalized_cxcywh")


def _check_box_space(space: str) -> str:
    if space not in BOX_SPACES:
        raise ValueError(f"space must be one of {BOX_SPACES}, got '{space}'")
    return space


class BoxL1Loss:
    """L1 between matched boxes and their GT boxes, normalised by the image size, / normalizer.

    ``space='pixels'`` (Sparse R-CNN, QueryInst, ISTR): xyxy ``boxes`` divided by the image's (w, h, w, h);
    ``space='normalized_cxcywh'`` (DETR, SOLQ): the set's ``boxes_cxcywh`` (its raw output) against the GT in the
    same form.
    """

    def __init__(self, space: str = "pixels"):
        self.space = _check_box_space(space)

    def __call__(self, preds: PredictionSet, inputs: LossInputs, matches: Matches, normalizer: torch.Tensor):
        if self.space == "normalized_cxcywh":
            src = matched(preds["boxes_cxcywh"], matches)
            return l1_loss(src, matched_targets(inputs.gt_boxes_normalized_cxcywh, matches)) / normalizer
        src = matched(preds["boxes"], matches)
        gt = matched_targets([t["boxes"] for t in inputs.targets], matches).to(src.dtype)
        whwh = image_whwh(src, inputs.image_sizes, matches)
        return l1_loss(src / whwh, gt / whwh) / normalizer


class GIoULoss:
    """``1 - GIoU`` of matched boxes and their GT boxes / normalizer, in `BoxL1Loss`'s ``space``."""

    def __init__(self, space: str = "pixels"):
        self.space = _check_box_space(space)

    def __call__(self, preds: PredictionSet, inputs: LossInputs, matches: Matches, normalizer: torch.Tensor):
        if self.space == "normalized_cxcywh":
            src = box_convert(matched(preds["boxes_cxcywh"], matches), "cxcywh", "xyxy")
            gt = box_convert(matched_targets(inputs.gt_boxes_normalized_cxcywh, matches), "cxcywh", "xyxy")
            return giou_loss(src, gt) / normalizer
        src = matched(preds["boxes"], matches)
        gt = matched_targets([t["boxes"] for t in inputs.targets], matches).to(src.dtype)
        return giou_loss(src, gt) / normalizer


class MatchedPredictions(NamedTuple):
    """Per image, the predictions the last set matched to ground truth during training (what a track head
    trained jointly embeds).

    boxes: [m_i, 4] detached xyxy in input-image pixels; gt_index: [m_i] index of the matched GT instance.
    """

    boxes: List[torch.Tensor]
    gt_index: List[torch.Tensor]


class SetCriterion:
    """Per prediction set: Hungarian matching, then the weighted loss terms (see the module docstring).

    Args:
        matcher: the shared `HungarianMatcher`, set up with the paper's costs.
        terms: loss name (``cls``, ``bbox``, ``giou``, a model's mask terms) -> `LossTerm`, in call order. A term
            with a ``names`` attribute returns a dict of several losses computed together (ISTR's two mask losses
            share their matched rows).
        weights: loss name -> weight (``loss_weights`` of the config).
        count: ``'gt'`` or ``'matched'``, what the normalizer counts.
        set_weights: optional per-set factor (QueryInst's ``stage_loss_weights``).
        extra_match_cost: optional ``(set, inputs) -> per image [P, G_i] weighted cost`` added to the matching
            cost (ISTR's mask-embedding cost).
    """

    def __init__(
        self,
        matcher: HungarianMatcher,
        terms: Mapping[str, LossTerm],
        weights: Mapping[str, float],
        count: str = "gt",
        set_weights: Optional[Sequence[float]] = None,
        extra_match_cost: Optional[Callable[[PredictionSet, LossInputs], List[torch.Tensor]]] = None,
    ):
        if count not in ("gt", "matched"):
            raise ValueError(f"count must be 'gt' or 'matched', got '{count}'")
        names = [n for key, term in terms.items() for n in getattr(term, "names", (key,))]
        missing = sorted(set(names) - set(weights))
        if missing:
            raise ValueError(f"no weight for loss term '{missing[0]}'")
        self.matcher = matcher
        self.terms = dict(terms)
        self.weights = {name: float(weights[name]) for name in names}
        self.count = count
        self.set_weights = list(set_weights) if set_weights is not None else None
        self.extra_match_cost = extra_match_cost

    def match(self, preds: PredictionSet, inputs: LossInputs) -> Matches:
        """One set's assignment, on its detached logits and boxes."""
        extra = self.extra_match_cost(preds, inputs) if self.extra_match_cost is not None else None
        return self.matcher(preds["logits"].detach(), preds["boxes"].detach(), inputs.targets, inputs.image_sizes,
                            extra)

    def __call__(self, sets: Iterable[PredictionSet], inputs: LossInputs
                 ) -> Tuple[Dict[str, torch.Tensor], MatchedPredictions]:
        """-> ({'s{set}.loss_{term}': weighted loss}, the last set's matched predictions).

        ``sets`` may be a generator (a cascade yielding stage by stage): each set's losses are then computed
        before the next set exists, the order of operations of the references (and so their exact gradients).
        """
        normalizer = None
        losses: Dict[str, torch.Tensor] = {}
        matches: Matches = []
        preds: Optional[PredictionSet] = None
        for index, preds in enumerate(sets):
            if self.set_weights is not None and index >= len(self.set_weights):
                raise ValueError(f"more prediction sets than the {len(self.set_weights)} set weights")
            if self.count == "gt" and normalizer is None:
                num_gt = preds["logits"].new_tensor(float(sum(len(t["labels"]) for t in inputs.targets)))
                normalizer = reduce_mean(num_gt).clamp(min=1.0)
            matches = self.match(preds, inputs)
            if self.count == "matched":
                num_matched = preds["logits"].new_tensor(float(sum(len(p) for p, _ in matches)))
                normalizer = reduce_mean(num_matched).clamp(min=1.0)
            for key, term in self.terms.items():
                values = term(preds, inputs, matches, normalizer)
                if not isinstance(values, dict):
                    values = {key: values}
                for name, value in values.items():
                    value = value * self.weights[name]
                    if self.set_weights is not None:
                        value = value * self.set_weights[index]
                    losses[f"s{index}.loss_{name}"] = value
        if preds is None:
            raise ValueError("no prediction sets")
        last_boxes = preds["boxes"].detach()
        matched_predictions = MatchedPredictions(
            boxes=[last_boxes[i, pred_idx] for i, (pred_idx, _) in enumerate(matches)],
            gt_index=[gt_idx for _, gt_idx in matches],
        )
        return losses, matched_predictions
