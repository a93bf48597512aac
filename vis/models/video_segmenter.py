"""`VideoSegmenter`: any `FrameSegmenter` plus a MaskTrack-style track head, trained jointly.

This follows what the QueryInst authors describe for QueryInst-VIS (reference_models.md §6): the segmenter
is trained on the key frame only; the reference frame goes through the backbone under ``no_grad`` and its
instances are embedded from their **GT boxes**; the key frame's instances are the predictions the last stage
matched to GT (Hungarian), embedded from their predicted boxes. Association at inference is MaskTrack R-CNN's
(`vis.tracking.OnlineTracker`).

State-dict keys are ``segmenter.*`` and ``track_head.*``. An image checkpoint of the segmenter alone (COCO
pretraining) loads into a VideoSegmenter: `convert_state_dict` prefixes its keys, and the track head keeps
its fresh initialisation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ..structures import Instances
from ..timing import inference_part
from .segmenters.base import FrameSegmenter, Images, Network
from .track_head import TrackHead


@dataclass
class VideoSegmenterConfig:
    """The ``model`` section of a video config: the segmenter's own section, the track head's settings
    (`TrackHead`) and the weight of its loss."""

    segmenter: Mapping[str, Any]
    track_head: Optional[Mapping[str, Any]] = None
    track_loss_weight: float = 1.0


class VideoSegmenter(nn.Module):
    """Per-frame segmenter + track head. Training takes (key, reference) frame pairs; `predict` adds
    ``track_embeds`` [n, D] to every frame's Instances for the tracker."""

    # Read by vis.engine.loading / vis.engine.export: only video checkpoints have track-head keys, and the
    # segmenter's keys (and its ResNet trunk's) are those of an image checkpoint below "segmenter.".
    Config = VideoSegmenterConfig
    checkpoint_signature = "track_head."
    wrapped_prefix = "segmenter."

    def __init__(self, segmenter: FrameSegmenter, track_head: TrackHead, track_loss_weight: float = 1.0):
        super().__init__()
        self.segmenter = segmenter
        self.track_head = track_head
        self.track_loss_weight = float(track_loss_weight)

    @classmethod
    def from_config(cls, cfg: "VideoSegmenterConfig") -> "VideoSegmenter":
        """The segmenter from its own section, then a track head sized for its features."""
        from . import build_model  # the segmenter table lives there

        segmenter = build_model(cfg.segmenter)
        track_head = TrackHead(in_channels=segmenter.feature_channels, strides=segmenter.feature_strides,
                               **dict(cfg.track_head or {}))
        return cls(segmenter, track_head, cfg.track_loss_weight)

    # The rest of the toolkit sees the segmenter's label space.
    @property
    def num_classes(self) -> int:
        return self.segmenter.num_classes

    @property
    def class_names(self) -> Optional[List[str]]:
        return self.segmenter.class_names

    @class_names.setter
    def class_names(self, names: Optional[Sequence[str]]) -> None:
        self.segmenter.class_names = list(names) if names is not None else None

    def init_weights(self) -> None:
        self.segmenter.init_weights()

    # -- training ---------------------------------------------------------------------------------
    def forward(self, images: Images, targets: Sequence[Dict], ref_images: Optional[Images] = None,
                ref_targets: Optional[Sequence[Dict]] = None) -> Dict[str, torch.Tensor]:
        """Segmenter losses on the key frame + ``loss_track``; without reference frames (still images,
        e.g. a COCO stage) only the segmenter losses."""
        losses, features, matched = self.segmenter.forward_train(images, targets)
        if ref_images is None:
            return losses
        if ref_targets is None:
            raise ValueError("ref_images given without ref_targets")
        device = features.maps[0].device
        with torch.no_grad():  # the reference frame only provides features to embed (no segmentation loss)
            ref_features = self.segmenter.extract_feature_maps(ref_images)
        ref_boxes = [t["boxes"].to(device) for t in ref_targets]
        key_embeds = self.track_head(features, matched.boxes)
        ref_embeds = self.track_head(ref_features, ref_boxes)
        key_ids = [t["instance_ids"].to(device)[idx] for t, idx in zip(targets, matched.gt_index)]
        ref_ids = [t["instance_ids"].to(device) for t in ref_targets]
        losses["loss_track"] = self.track_head.loss(key_embeds, ref_embeds, key_ids, ref_ids) * self.track_loss_weight
        return losses

    # -- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, images: Images, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                defer_masks: bool = False, score_thr: Optional[float] = None,
                network: Optional[Network] = None, clip_boxes: bool = False) -> List[Instances]:
        """The segmenter's Instances (`FrameSegmenter.predict`) plus ``track_embeds`` computed from the same
        features, for the returned detections only: the track head pools at the boxes in input pixels, before
        the segmenter's transform takes them to the frame. ``network`` replaces the segmenter's network."""
        detections, features = self.segmenter.detect(images, score_thr, network)
        with inference_part("track_head"):
            embeds = self.track_head(features, [found.boxes for found in detections])
        for found, found_embeds in zip(detections, embeds):
            found.track_embeds = found_embeds
        return self.segmenter.transform.to_frame(detections, orig_sizes, defer_masks, clip_boxes)

    # -- checkpoints and reporting ----------------------------------------------------------------
    def convert_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """A segmenter-only (image) checkpoint gets the ``segmenter.`` prefix after the segmenter's own renaming."""
        if any(k.startswith(("segmenter.", "track_head.")) for k in state_dict):
            return state_dict
        return {f"segmenter.{k}": v for k, v in self.segmenter.convert_state_dict(state_dict).items()}

    def describe_conversion(self, state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
        describe = getattr(self.segmenter, "describe_conversion", None)
        if not callable(describe) or any(k.startswith(("segmenter.", "track_head.")) for k in state_dict):
            return None
        return describe(state_dict)

    def classifier_param_names(self) -> List[str]:
        return [f"segmenter.{name}" for name in self.segmenter.classifier_param_names()]

    def param_parts(self) -> Dict[str, List[str]]:
        parts = getattr(self.segmenter, "param_parts", None)
        inner = parts() if callable(parts) else {n: [n] for n, _ in self.segmenter.named_children()}
        out = {name: [f"segmenter.{p}" for p in prefixes] for name, prefixes in inner.items()}
        out["track_head"] = ["track_head"]
        return out
