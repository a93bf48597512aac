"""The post-processing the three segmenters share: (query, class) top-k without NMS, as DETR-family models do.

Their own parts (QueryInst's mask head on the kept queries, ISTR's box clipping and PCA decoding, SOLQ's DCT
decoding) come after this selection; `vis.models.segmenters.base.make_instances` then rescales and pastes.
"""
from __future__ import annotations

from typing import Tuple

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
