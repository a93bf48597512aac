"""Multi-level RoIAlign: pool each box from the one FPN level that suits its size.

torchvision's ``MultiScaleRoIAlign`` is not usable here: it calls ``roi_align`` with ``aligned=False`` and has
its own level rule. The reference models use ``aligned=True`` (half-pixel shift), so this module calls
``torchvision.ops.roi_align`` once per level with a swappable level rule (reference_models.md §1.5, §7.1):

- ``'mmdet'`` (QueryInst): ``lvl = floor(log2(sqrt(w*h) / finest_scale + 1e-6))``, ``finest_scale=56``;
- ``'detectron2'`` (ISTR): ``lvl = floor(4 + log2(sqrt(w*h) / 224 + 1e-8)) - 2``;

both clamped to the available levels. Level 0 is the finest map (P2, stride 4).

torchvision's CPU ``roi_align`` runs on one thread (a sizeable part of R-50 QueryInst's frame at 100 proposals;
docs/performance.md). Each box's output depends on that box alone, so at inference the boxes of a level are split
across ``torch.get_num_threads()`` threads (`pool_level`): the same bits in less time.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torchvision.ops import roi_align


def mmdet_roi_levels(boxes: torch.Tensor, num_levels: int, finest_scale: float = 56.0) -> torch.Tensor:
    """boxes: [R, 4] xyxy -> int64 [R] level index. ``sqrt(w*h)`` without the legacy +1 (mmdet 2.x/3.x)."""
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    levels = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return levels.clamp(min=0, max=num_levels - 1).long()


def detectron2_roi_levels(
    boxes: torch.Tensor,
    num_levels: int,
    canonical_box_size: float = 224.0,
    canonical_level: int = 4,
    min_level: int = 2,
) -> torch.Tensor:
    """boxes: [R, 4] xyxy -> int64 [R] level index (detectron2 ``assign_boxes_to_levels``)."""
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    levels = torch.floor(canonical_level + torch.log2(scale / canonical_box_size + 1e-8))
    return (levels.clamp(min=min_level, max=min_level + num_levels - 1) - min_level).long()


# Fewest boxes per thread worth a hand-off (~50 us each; one box costs 20-200 us).
MIN_BOXES_PER_THREAD = 8
_pool: Optional[Tuple[int, int, ThreadPoolExecutor]] = None  # (process id, workers, pool): rebuilt after a fork


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    """A pool of at least ``workers`` threads, one per process (a forked child gets its own)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid() or _pool[1] < workers:
        if _pool is not None and _pool[0] == os.getpid():
            _pool[2].shutdown(wait=False)
        _pool = (os.getpid(), workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="roi_align"))
    return _pool[2]


def _split_across_threads(feature: torch.Tensor, num_boxes: int) -> int:
    """How many threads to pool ``num_boxes`` boxes of ``feature`` on: 1 unless at eager CPU inference."""
    if feature.device.type != "cpu" or type(feature) is not torch.Tensor or torch.is_grad_enabled():
        return 1  # on a GPU, traced or exported (subclassed tensors, symbolic sizes), or training
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return 1
    threads = min(torch.get_num_threads(), num_boxes // MIN_BOXES_PER_THREAD)
    return max(threads, 1)


def pool_level(feature: torch.Tensor, rois: torch.Tensor, output_size: Tuple[int, int], spatial_scale: float,
               sampling_ratio: int, aligned: bool) -> torch.Tensor:
    """``torchvision.ops.roi_align`` of one level; at eager CPU inference the boxes are split into chunks pooled
    at once, one per torch thread: this one and a pool's (the same bits: each box's output is its own).
    Autocast is thread-local, so under it the chunks are given what torchvision's autocast kernel would pass
    (float32 map and boxes) and the result comes back in the map's dtype, as from that kernel."""
    threads = _split_across_threads(feature, rois.shape[0])
    if threads == 1:
        return roi_align(feature, rois, output_size=output_size, spatial_scale=spatial_scale,
                         sampling_ratio=sampling_ratio, aligned=aligned)
    dtype = feature.dtype
    if torch.is_autocast_enabled("cpu"):
        feature, rois = feature.float(), rois.float()
    first, *rest = rois.chunk(threads)  # the first on this thread, the others on the pool's meanwhile
    others = [_thread_pool(threads - 1).submit(roi_align, feature, chunk, output_size, spatial_scale,
                                               sampling_ratio, aligned) for chunk in rest]
    pooled = [roi_align(feature, first, output_size, spatial_scale, sampling_ratio, aligned)]
    return torch.cat(pooled + [other.result() for other in others]).to(dtype)


class MultiLevelRoIAlign(nn.Module):
    """Pool ``output_size`` x ``output_size`` features for per-image box lists from a list of FPN maps.

    Args:
        output_size: 7 (box head) or 14 (mask head) in QueryInst.
        strides: stride of each feature map, finest first.
        sampling_ratio: bilinear samples per bin side (2 in mmdet/detectron2 configs; 0 = adaptive).
        aligned: half-pixel shift (True for every reference model except the original MaskTrack R-CNN).
        level_rule: 'mmdet' or 'detectron2' (see module docstring).
        finest_scale: mmdet rule's scale of level 0 (56).
        canonical_box_size, canonical_level: detectron2 rule's parameters (224, 4).
    """

    def __init__(
        self,
        output_size: Union[int, Tuple[int, int]],
        strides: Sequence[int] = (4, 8, 16, 32),
        sampling_ratio: int = 2,
        aligned: bool = True,
        level_rule: str = "mmdet",
        finest_scale: float = 56.0,
        canonical_box_size: float = 224.0,
        canonical_level: int = 4,
    ):
        super().__init__()
        if level_rule not in ("mmdet", "detectron2"):
            raise ValueError(f"level_rule must be 'mmdet' or 'detectron2', got '{level_rule}'")
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.strides = tuple(int(s) for s in strides)
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.level_rule = level_rule
        self.finest_scale = finest_scale
        self.canonical_box_size = canonical_box_size
        self.canonical_level = canonical_level

    def assign_levels(self, boxes: torch.Tensor) -> torch.Tensor:
        num_levels = len(self.strides)
        if self.level_rule == "mmdet":
            return mmdet_roi_levels(boxes, num_levels, self.finest_scale)
        min_level = int(round(math.log2(self.strides[0])))
        return detectron2_roi_levels(boxes, num_levels, self.canonical_box_size, self.canonical_level, min_level)

    def forward(self, features: List[torch.Tensor], boxes: List[torch.Tensor]) -> torch.Tensor:
        """features: per level [N, C, H_l, W_l]; boxes: per image [R_i, 4] xyxy in input pixels.

        Returns [sum R_i, C, S, S], image-major in the order of ``boxes``. Boxes get no gradient from
        RoIAlign (as with mmcv's RoIAlign); they are detached here to say so explicitly.
        """
        if len(features) != len(self.strides):
            raise ValueError(f"expected {len(self.strides)} feature maps, got {len(features)}")
        rois = torch.cat(
            [torch.cat([b.new_full((b.shape[0], 1), float(i)), b.detach()], dim=1) for i, b in enumerate(boxes)]
        )  # [R, 5] = (image index, x1, y1, x2, y2)
        num_channels = features[0].shape[1]
        out = features[0].new_zeros((rois.shape[0], num_channels) + self.output_size)
        levels = self.assign_levels(rois[:, 1:])
        training = torch.is_grad_enabled()
        unused: List[torch.Tensor] = []
        # Every level is pooled, also with no RoI on it: no branch on the data at inference, so an exported graph
        # pools whichever levels its input's boxes need (an empty RoIAlign costs nothing).
        for level, (feature, stride) in enumerate(zip(features, self.strides)):
            index = torch.nonzero(levels == level).squeeze(1)
            out[index] = pool_level(feature, rois[index], self.output_size, 1.0 / stride, self.sampling_ratio,
                                    self.aligned).to(out.dtype)
            if training and index.numel() == 0:
                unused.append(feature)
        # Touch the unused levels with weight 0 so every FPN parameter is in the graph (DDP requires it unless
        # find_unused_parameters; mmdet's extractor does the same).
        for feature in unused:
            out = out + feature.flatten()[0] * 0.0
        return out
