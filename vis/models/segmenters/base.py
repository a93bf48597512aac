"""`FrameSegmenter`: what every per-frame instance segmenter offers the rest of the toolkit.

The trainer, the evaluators, the tracker and the tools only use this interface (docs/design.md,
"Model contract"):

    model(images, targets)                 -> dict[str, Tensor] of weighted losses (training)
    model.predict(images, orig_sizes=None, score_thr=None) -> list[Instances]     (inference)

Pre-processing (normalise, then pad with 0 to a multiple of 32, as mmdet's ``DetDataPreprocessor``) and the
mapping of results back to the frame live in the model's `FrameTransform` (``model.transform``), once, so heads
never see raw pixels or padding and no segmenter rescales or pastes on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from ...errors import ConfigError
from ...structures import Instances
from ...timing import inference_part
from ..frame_transform import IMAGENET_PIXEL_MEAN, IMAGENET_PIXEL_STD, FrameTransform, Images
from ..set_criterion import MatchedPredictions

Network = Callable[[torch.Tensor, torch.Tensor], Dict[str, torch.Tensor]]  # (images, sizes) -> named outputs


def merge_weights(given: Optional[Dict[str, float]], defaults: Dict[str, float], what: str) -> Dict[str, float]:
    """A model's ``loss_weights`` / ``match_costs`` config over its defaults; an unknown name is a ConfigError."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown config key '{unknown[0]}' in model {what} (accepted: {', '.join(defaults)})")
    return {**defaults, **{k: float(v) for k, v in given.items()}}


@dataclass
class SegmenterConfig:
    """The settings every segmenter's config section has (each model's ``Config`` adds its own): its label space,
    backbone, query width, criterion weights, what the shared post-processor keeps and its input normalisation."""

    num_classes: int = 80
    backbone: Optional[Dict] = None
    hidden_dim: int = 256
    # training: the set criterion's weights and matching costs over the model's defaults
    loss_weights: Optional[Dict[str, float]] = None
    match_costs: Optional[Dict[str, float]] = None
    # inference and input
    max_per_img: int = 100
    mask_threshold: float = 0.5
    class_names: Optional[Sequence[str]] = None
    pixel_mean: Sequence[float] = IMAGENET_PIXEL_MEAN
    pixel_std: Sequence[float] = IMAGENET_PIXEL_STD

    def frame_transform(self, size_divisibility: int) -> FrameTransform:
        return FrameTransform(self.pixel_mean, self.pixel_std, size_divisibility, self.mask_threshold)


class FeatureMaps(NamedTuple):
    """Multi-scale features of a padded batch: what a track head pools per-instance features from.

    maps: [N, C, H_l, W_l] per level; strides: input pixels per feature cell per level;
    image_sizes: unpadded (h, w) of each input image (boxes given to the track head are in these pixels).
    """

    maps: List[torch.Tensor]
    strides: List[int]
    image_sizes: List[Tuple[int, int]]


class FrameSegmenter(nn.Module):
    """Abstract per-frame segmenter.

    Args:
        transform: the way in and back out (`FrameTransform`: normalisation, padding, rescaling, pasting).
        num_classes: number of foreground classes K (labels are 0..K-1).
        hidden_dim: the query width (``feature_channels``).
        max_per_img: detections kept per image by the shared post-processor.
        class_names: optional list of K names.
    """

    def __init__(self, transform: FrameTransform, num_classes: int, hidden_dim: int, max_per_img: int = 100,
                 class_names: Optional[Sequence[str]] = None):
        super().__init__()
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names but num_classes is {num_classes}")
        if int(max_per_img) < 1:
            raise ConfigError(f"model: max_per_img must be at least 1, got {max_per_img}")
        self.transform = transform
        self.num_classes = int(num_classes)
        self.hidden_dim = int(hidden_dim)
        self.max_per_img = int(max_per_img)
        self.class_names = list(class_names) if class_names is not None else None

    @property
    def device(self) -> torch.device:
        return self.transform.pixel_mean.device

    @property
    def mask_threshold(self) -> float:
        return self.transform.mask_threshold

    @property
    def size_divisibility(self) -> int:
        return self.transform.size_divisibility

    def targets_to_device(self, targets: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Move the tensors of each target dict to the model's device (other entries are kept)."""
        moved = []
        for target in targets:
            moved.append({k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in target.items()})
        return moved

    # -- the contract -----------------------------------------------------------------------------
    feature_strides: Tuple[int, ...] = (4, 8, 16, 32)

    @property
    def feature_channels(self) -> int:
        """Channels of every map returned by `extract_features` (what a track head is built for): the query
        width ``hidden_dim`` in all three segmenters."""
        return int(self.hidden_dim)

    def extract_features(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """Normalised padded images [N, 3, H, W] -> multi-scale maps at ``feature_strides``."""
        raise NotImplementedError

    def extract_feature_maps(self, images: Images) -> FeatureMaps:
        """Raw images -> `FeatureMaps` (e.g. a reference frame for the track head)."""
        batch = self.transform(images)
        return FeatureMaps(self.extract_features(batch.tensor), list(self.feature_strides), batch.image_sizes)

    def forward(self, images: Images, targets: Sequence[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        """Training: weighted losses, one entry per loss term (the trainer sums them)."""
        if targets is None:
            raise ValueError(f"{type(self).__name__}.forward computes training losses and needs targets; use predict()")
        return self.forward_train(images, targets)[0]

    def forward_train(
        self, images: Images, targets: Sequence[Dict[str, Any]]
    ) -> Tuple[Dict[str, torch.Tensor], FeatureMaps, MatchedPredictions]:
        """Losses, plus what a track head trained jointly needs: the features and the matched predictions."""
        raise NotImplementedError

    def predict(self, images: Images, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                defer_masks: bool = False, score_thr: Optional[float] = None,
                network: Optional[Network] = None, clip_boxes: bool = False) -> List[Instances]:
        """Inference: one ``Instances`` per image at ``orig_sizes`` (default: the input sizes) with
        ``boxes``, ``scores``, ``labels``, ``masks`` (bool), ``embeds`` and ``query_index``: the top
        ``max_per_img`` (query, class) pairs, and of those only the ones scoring at least ``score_thr`` when it
        is given (`vis.models.postprocess.select_detections`; masks are predicted for these alone). With
        ``defer_masks`` the masks are a `DeferredMasks` to paste once detections are selected
        (`vis.structures.image_masks`); ``clip_boxes`` clips the boxes to the image (`FrameTransform.to_frame`).
        ``network``: see `detect`."""
        detections, _ = self.detect(images, score_thr, network)
        return self.transform.to_frame(detections, orig_sizes, defer_masks, clip_boxes)

    @torch.no_grad()
    def detect(self, images: Images, score_thr: Optional[float] = None, network: Optional[Network] = None
               ) -> Tuple[List[Instances], FeatureMaps]:
        """The detections in input pixels (``mask_probs`` in their boxes, not pasted: `FrameTransform.to_frame`
        takes them to the frame) and the features they came from, so a track head can embed them without
        running the backbone twice. Inference is `network` (the part an ONNX file holds), then `postprocess`;
        ``network`` replaces this model's own, e.g. by an ONNX Runtime session (`vis.runtime`)."""
        with inference_part("preprocess"):
            batch = self.transform(images)
        outputs = (network or self.network)(batch.tensor, batch.size_tensor())
        detections = self.postprocess(outputs, batch.image_sizes, score_thr)
        maps = [outputs[name] for name in self.feature_outputs]
        return detections, FeatureMaps(maps, list(self.feature_strides), batch.image_sizes)

    # -- inference, in two steps -------------------------------------------------------------------
    @property
    def network_outputs(self) -> Tuple[str, ...]:
        """The names of `network`'s outputs, in the order an exported graph gives them."""
        raise NotImplementedError

    @property
    def feature_outputs(self) -> Tuple[str, ...]:
        """The names of the outputs that are the feature maps at ``feature_strides`` (for a track head)."""
        raise NotImplementedError

    def network(self, tensor: torch.Tensor, image_sizes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The per-frame network: normalised padded images [N, 3, H, W] and their unpadded sizes float [N, 2] as
        (h, w) -> the last prediction set for every query (``logits`` [N, Q, K], ``boxes`` [N, Q, 4] absolute xyxy
        in input pixels, ``embeds`` [N, Q, C]), what mask prediction needs and the feature maps, by
        `network_outputs` name. Tensors only, so that it exports to ONNX with the image size dynamic."""
        raise NotImplementedError

    def postprocess(self, outputs: Dict[str, torch.Tensor], input_sizes: Sequence[Tuple[int, int]],
                    score_thr: Optional[float] = None) -> List[Instances]:
        """`network` outputs -> one `Instances` per image at its input size (see `detect`): select the
        detections, predict their masks as ``mask_probs`` in their boxes."""
        raise NotImplementedError

    def init_weights(self) -> None:
        """Load the ImageNet weights named by the config (``backbone.pretrained``).

        Called by the trainer when a run starts from scratch (not when resuming or with ``--load-from``),
        as mmdet's ``init_weights``: building a model never reads files, so any tool can build any config.
        """
        for module in self.modules():
            path = getattr(module, "pretrained", None)
            if isinstance(path, str) and path and hasattr(module, "load_pretrained"):
                module.load_pretrained(path)

    # Checkpoint keys, read by vis.engine.loading / vis.engine.export so that the engine knows no model's layout:
    # a key prefix only this segmenter's checkpoints have, ours and the official ones alike (None: unrecognised),
    checkpoint_signature: Optional[str] = None
    # and where its ResNet trunk's keys are (torchvision names below the prefix).
    backbone_prefix: str = "backbone."
    # The submodule between the trunk and the query heads whose convolutions int8 export may quantize too.
    neck_module: str = "neck"
    # A convolutional mask head that post-processing runs on the kept detections, which a runtime may run instead
    # (`vis.runtime`: int8 through ONNX Runtime): the submodule's path, or None where masks are decoded from
    # vectors (ISTR, SOLQ). Its forward takes (roi_feats [R, C, S, S], attn_feats [R, C]) -> [R, K, 2S, 2S].
    mask_head_module: Optional[str] = None

    def convert_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Rename the keys of an official checkpoint to this model's (identity unless a model overrides it).

        Checkpoint loading calls it on every file, so it must leave this project's own keys unchanged."""
        return state_dict

    def classifier_param_names(self) -> List[str]:
        """State-dict keys whose shape depends on ``num_classes`` (re-initialised when finetuning to
        another label set)."""
        raise NotImplementedError


def input_detections(input_size: Tuple[int, int], boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                     mask_probs: torch.Tensor, **fields: torch.Tensor) -> Instances:
    """One image's kept detections in input pixels: boxes [n, 4] xyxy in the unpadded input, mask_probs
    [n, s, s] probabilities in box coordinates, extra ``fields`` (``embeds``, ``query_index``)."""
    return Instances(input_size, boxes=boxes, scores=scores, labels=labels, mask_probs=mask_probs, **fields)
