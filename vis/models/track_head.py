"""MaskTrack R-CNN embedding (track) head, as in mmtracking / mmdet 3 ``RoIEmbedHead`` (reference_models.md §5.2).

Each instance is embedded from its own RoI features: RoIAlign 7x7 on the segmenter's multi-scale maps
(aligned, adaptive sampling, mmdet level rule) -> flatten (C*49) -> fc 1024 -> ReLU -> fc 1024 -> ReLU.
mmtrack keeps a ReLU after the last fc and the original MaskTrack R-CNN does not; the two are not
interchangeable, so ``last_relu`` is an option (default: mmtrack, whose checkpoints are the ones people use).

Training (§5.3): each key-frame instance is classified among [new object] + the reference frame's instances,
with logits = [0, key · refᵀ] (dot product, no temperature) and cross-entropy. The target is 1 + the index of
the same identity in the reference frame, or 0 when the identity is absent there.
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .roi_pool import MultiLevelRoIAlign
from .segmenters.base import FeatureMaps


class TrackHead(nn.Module):
    """Per-instance appearance embedding for online association.

    Args:
        in_channels: channels of the segmenter's feature maps.
        strides: strides of those maps (RoIs are assigned to levels by the mmdet rule).
        roi_size: pooled RoI side (7).
        fc_channels: width of the fcs and of the embedding (1024).
        num_fcs: number of fcs (2).
        last_relu: ReLU after the last fc (mmtrack: True; original MaskTrack R-CNN: False).
    """

    def __init__(self, in_channels: int = 256, strides: Sequence[int] = (4, 8, 16, 32), roi_size: int = 7,
                 fc_channels: int = 1024, num_fcs: int = 2, last_relu: bool = True):
        super().__init__()
        # mmtrack's embed head has its own extractor with sampling_ratio=0 (adaptive), aligned=True.
        self.roi_pool = MultiLevelRoIAlign(roi_size, list(strides), sampling_ratio=0, aligned=True)
        dims = [in_channels * roi_size * roi_size] + [fc_channels] * num_fcs
        self.fcs = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(num_fcs))
        self.last_relu = last_relu
        self.embed_dim = fc_channels

    def forward(self, features: FeatureMaps, boxes: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """boxes: per image [n_i, 4] xyxy in input-image pixels -> per image embeddings [n_i, fc_channels]."""
        counts = [len(b) for b in boxes]
        if sum(counts) == 0:
            # Keep every parameter in the graph (DDP) while returning empty embeddings.
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return [features.maps[0].new_zeros((0, self.embed_dim)) + zero for _ in boxes]
        rois = self.roi_pool(features.maps, [b.to(features.maps[0].dtype) for b in boxes])  # [sum n, C, 7, 7]
        x = rois.flatten(1)  # [sum n, C*49]
        for i, fc in enumerate(self.fcs):
            x = fc(x)
            if i < len(self.fcs) - 1 or self.last_relu:
                x = F.relu(x)
        return list(x.split(counts))

    @staticmethod
    def match_logits(key_embeds: torch.Tensor, ref_embeds: torch.Tensor) -> torch.Tensor:
        """[n, D], [m, D] -> [n, 1 + m]: a zero "new object" logit, then dot products."""
        dots = key_embeds @ ref_embeds.t()
        return torch.cat([dots.new_zeros((dots.shape[0], 1)), dots], dim=1)

    def loss(self, key_embeds: Sequence[torch.Tensor], ref_embeds: Sequence[torch.Tensor],
             key_ids: Sequence[torch.Tensor], ref_ids: Sequence[torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of each key instance over [new, ref_1..ref_m], averaged over images.

        Per image the sum is divided by max(#key instances whose identity is in the reference frame, 1), as
        mmdet 3 does (the original divides by all positives).
        """
        losses = []
        for key, ref, kid, rid in zip(key_embeds, ref_embeds, key_ids, ref_ids):
            if len(key) == 0:
                losses.append(key.sum() * 0.0 + ref.sum() * 0.0)
                continue
            same = kid[:, None] == rid[None, :]  # [n, m]
            if same.shape[1] == 0:  # empty reference frame: every key instance is "new"
                target = torch.zeros_like(kid)
            else:
                target = torch.where(same.any(1), same.float().argmax(1) + 1, torch.zeros_like(kid))
            logits = self.match_logits(key, ref)
            total = F.cross_entropy(logits, target, reduction="sum")
            losses.append(total / (target > 0).sum().clamp(min=1))
        return torch.stack(losses).mean()
