"""The post-processing the three segmenters share: (query, class) top-k without NMS, as DETR-family models do,
then the optional score threshold of the caller.

Their own parts (QueryInst's mask head on the kept queries, ISTR's box clipping and PCA decoding, SOLQ's DCT
decoding) come after this selection, so they run only for the detections that are returned;
the model's `vis.models.frame_transform.FrameTransform` then rescales and pastes.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

import torch


def top_query_classes(scores: torch.Tensor, max_per_img: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """scores [N, Q, K] (sigmoid probabilities) -> the ``max_per_img`` best (query, class) pairs per image:
    (scores [N, k], labels [N, k], query_index [N, k]), best first.

    A query may be kept under several labels. The references take ``topk(sorted=False)``; sorting only fixes the
    order of the same set.
    """
    num_queries, num_classes = scores.shape[1:]
    k = min(int(max_per_img), num_queries * num_classes)
    flat = scores.flatten(1)  # [N, Q*K], index = query * K + label
    top_scores, top_idx = flat.topk(k, dim=1, sorted=True)  # [N, k]
    return top_scores, top_idx % num_classes, top_idx // num_classes


class Selected(NamedTuple):
    """One image's kept (query, class) pairs, best first: scores [n], labels [n], query_index [n]."""

    scores: torch.Tensor
    labels: torch.Tensor
    query_index: torch.Tensor


def select_detections(scores: torch.Tensor, max_per_img: int, score_thr: Optional[float] = None) -> List[Selected]:
    """scores [N, Q, K] -> per image the `top_query_classes` pairs with a score of at least ``score_thr`` (None:
    all ``max_per_img``).

    The threshold is the one a caller applies next anyway (a tracker drops detections below its ``score_thr``);
    applied here, before mask prediction, it spares the masks of detections that would be thrown away, and the
    kept ones are the same: top-k is sorted, so the threshold cuts a prefix of it."""
    if score_thr is not None and not 0.0 <= float(score_thr) <= 1.0:
        raise ValueError(f"score_thr must be in [0, 1] (a probability), got {score_thr}")
    top_scores, labels, query_index = top_query_classes(scores, max_per_img)  # [N, k]
    selected = []
    for i in range(top_scores.shape[0]):
        n = top_scores.shape[1] if score_thr is None else int((top_scores[i] >= float(score_thr)).sum())
        selected.append(Selected(top_scores[i, :n], labels[i, :n], query_index[i, :n]))
    return selected
