"""Box deltas <-> boxes, the ``DeltaXYWH`` parameterisation used by QueryInst's box refinement.

A delta ``(dx, dy, dw, dh)`` moves a prior box ``(px, py, pw, ph)`` (centre, size) to
``(px + pw * dx, py + ph * dy, pw * exp(dw), ph * exp(dh))``, after de-normalising the raw
deltas with ``delta * std + mean``.

Reference (mmdet ``DeltaXYWHBBoxCoder`` as configured by QueryInst, reference_models.md §1.8):
means 0, stds (0.5, 0.5, 1, 1), ``dw``/``dh`` clamped to ``±|ln(16/1000)| = ±4.135`` on BOTH sides
(the official Sparse R-CNN clamps only the maximum; mmdet clamps both), and no clipping to the image:
refined boxes may leave the image and are used that way by the next stage and by the losses.
ISTR / Sparse R-CNN (reference_models.md §3) write the same stds as weights (2, 2, 1, 1) and clamp only the
maximum, at ln(1e5 / 16): ``DeltaXYWHBoxCoder(wh_ratio_clip=16 / 1e5, clamp_both_sides=False)``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


class DeltaXYWHBoxCoder:
    """Encode xyxy targets against xyxy priors, and decode deltas back to xyxy boxes.

    ``wh_ratio_clip`` bounds the log size change: ``|dw|, |dh| <= |ln(wh_ratio_clip)|``; with
    ``clamp_both_sides=False`` only from above, ``dw, dh <= |ln(wh_ratio_clip)|`` (Sparse R-CNN / ISTR).
    """

    def __init__(
        self,
        means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        stds: Sequence[float] = (0.5, 0.5, 1.0, 1.0),
        wh_ratio_clip: float = 16 / 1000,
        clamp_both_sides: bool = True,
    ):
        self.means = tuple(float(m) for m in means)
        self.stds = tuple(float(s) for s in stds)
        self.max_log_ratio = abs(math.log(wh_ratio_clip))
        self.clamp_both_sides = bool(clamp_both_sides)

    def encode(self, priors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """priors, targets: [..., 4] xyxy -> normalised deltas [..., 4] (no clamping, as mmdet ``bbox2delta``)."""
        prior_ctr = (priors[..., :2] + priors[..., 2:]) * 0.5
        prior_wh = priors[..., 2:] - priors[..., :2]
        target_ctr = (targets[..., :2] + targets[..., 2:]) * 0.5
        target_wh = targets[..., 2:] - targets[..., :2]
        d_ctr = (target_ctr - prior_ctr) / prior_wh
        d_wh = torch.log(target_wh / prior_wh)
        deltas = torch.cat([d_ctr, d_wh], dim=-1)
        means = deltas.new_tensor(self.means)
        stds = deltas.new_tensor(self.stds)
        return (deltas - means) / stds

    def decode(self, priors: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """priors: [..., 4] xyxy, deltas: [..., 4] normalised -> boxes [..., 4] xyxy, not clipped."""
        means = deltas.new_tensor(self.means)
        stds = deltas.new_tensor(self.stds)
        deltas = deltas * stds + means
        d_ctr = deltas[..., :2]
        # Clamped on both sides, as mmdet's delta2bbox does (Sparse R-CNN clamps only the maximum).
        min_log_ratio = -self.max_log_ratio if self.clamp_both_sides else None
        d_wh = deltas[..., 2:].clamp(min=min_log_ratio, max=self.max_log_ratio)
        prior_ctr = (priors[..., :2] + priors[..., 2:]) * 0.5
        prior_wh = priors[..., 2:] - priors[..., :2]
        ctr = prior_ctr + prior_wh * d_ctr
        wh = prior_wh * d_wh.exp()
        return torch.cat([ctr - wh * 0.5, ctr + wh * 0.5], dim=-1)
