"""`FrameSegmenter`: what every per-frame instance segmenter offers the rest of the toolkit.

The trainer, the evaluators, the tracker and the tools only use this interface (docs/design.md,
"Model contract"):

    model(images, targets)                 -> dict[str, Tensor] of weighted losses (training)
    model.predict(images, orig_sizes=None, score_thr=None) -> list[Instances]     (inference)

Pre-processing (normalise, then pad with 0 to a multiple of 32, as mmdet's ``DetDataPreprocessor``) and
the mapping of results back to the original image size live here, once, so heads never see raw pixels or
padding.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...structures import ImageBatch, Instances
from ...timing import inference_part
from ..mask_ops import DeferredMasks, paste_masks_in_image
from ..set_criterion import MatchedPredictions

IMAGENET_PIXEL_MEAN = (123.675, 116.28, 103.53)
IMAGENET_PIXEL_STD = (58.395, 57.12, 57.375)

Images = Union[ImageBatch, Sequence[torch.Tensor]]
Network = Callable[[torch.Tensor, torch.Tensor], Dict[str, torch.Tensor]]  # (images, sizes) -> named outputs


def merge_weights(given: Optional[Dict[str, float]], defaults: Dict[str, float], what: str) -> Dict[str, float]:
    """A model's ``loss_weights`` / ``match_costs`` config over its defaults; an unknown name is a ConfigError."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown config key '{unknown[0]}' in model {what} (accepted: {', '.join(defaults)})")
    return {**defaults, **{k: float(v) for k, v in given.items()}}


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
        num_classes: number of foreground classes K (labels are 0..K-1).
        class_names: optional list of K names.
        pixel_mean, pixel_std: RGB normalisation for 0..255 inputs.
        size_divisibility: padded batch sides are multiples of this.
    """

    def __init__(
        self,
        num_classes: int,
        hidden_dim: int,
        max_per_img: int = 100,
        mask_threshold: float = 0.5,
        class_names: Optional[Sequence[str]] = None,
        pixel_mean: Sequence[float] = IMAGENET_PIXEL_MEAN,
        pixel_std: Sequence[float] = IMAGENET_PIXEL_STD,
        size_divisibility: int = 32,
    ):
        """The settings every segmenter shares: its label space, query width (``feature_channels``), what the
        shared post-processor keeps (``max_per_img`` detections, masks above ``mask_threshold``) and its input
        normalisation."""
        super().__init__()
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names but num_classes is {num_classes}")
        if int(max_per_img) < 1:
            raise ConfigError(f"model: max_per_img must be at least 1, got {max_per_img}")
        if not 0.0 <= float(mask_threshold) <= 1.0:
            raise ConfigError(f"model: mask_threshold must be in [0, 1] (a probability), got {mask_threshold}")
        self.num_classes = int(num_classes)
        self.hidden_dim = int(hidden_dim)
        self.max_per_img = int(max_per_img)
        self.mask_threshold = float(mask_threshold)
        self.class_names = list(class_names) if class_names is not None else None
        self.size_divisibility = int(size_divisibility)
        # Not persistent: the checkpoint layout mirrors the reference model, which keeps these in its config.
        mean = torch.tensor(pixel_mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(pixel_std, dtype=torch.float32).view(3, 1, 1)
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # -- pre-processing ---------------------------------------------------------------------------
    def preprocess(self, images: Images) -> ImageBatch:
        """Raw 0..255 RGB images (an ``ImageBatch`` padded with anything, or a list of [3, h, w]) ->
        normalised ``ImageBatch`` on the model's device, padded with 0 AFTER normalising to a multiple of
        ``size_divisibility`` (so the padding is the mean colour, as in mmdet). An ``ImageBatch`` padded further
        than that (the data loader pads to 32) is cropped to it: DETR-family models pad only to the largest image."""
        if isinstance(images, ImageBatch):
            d = self.size_divisibility
            height = -(-max(h for h, _ in images.image_sizes) // d) * d
            width = -(-max(w for _, w in images.image_sizes) // d) * d
            tensor = images.tensor[..., :height, :width].to(self.device, torch.float32)
            tensor = (tensor - self.pixel_mean) / self.pixel_std
            pad_h, pad_w = height - tensor.shape[-2], width - tensor.shape[-1]
            if pad_h or pad_w:
                tensor = F.pad(tensor, (0, pad_w, 0, pad_h))
            batch = ImageBatch(tensor, images.image_sizes)
            # Re-zero the padding, which held normalised raw zeros.
            return ImageBatch(tensor * batch.valid_mask()[:, None].to(tensor.dtype), images.image_sizes)
        if len(images) == 0:
            raise ValueError("preprocess needs at least one image")
        normalised = [(im.to(self.device, torch.float32) - self.pixel_mean) / self.pixel_std for im in images]
        return ImageBatch.from_tensors(normalised, self.size_divisibility, pad_value=0.0)

    def preprocess_with_sizes(self, images: Images, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None
                              ) -> Tuple[ImageBatch, List[Tuple[int, int]]]:
        """`preprocess` for inference, plus the output size of each image (default: its input size)."""
        with inference_part("preprocess"):
            batch = self.preprocess(images)
        if orig_sizes is None:
            orig_sizes = batch.image_sizes
        if len(orig_sizes) != len(batch):
            raise ValueError(f"got {len(orig_sizes)} orig_sizes for {len(batch)} images")
        return batch, [tuple(size) for size in orig_sizes]

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
        batch = self.preprocess(images)
        return FeatureMaps(self.extract_features(batch.tensor), list(self.feature_strides), batch.image_sizes)

    def forward(self, images: Images, targets: Sequence[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        """Training: weighted losses, one entry per loss term (the trainer sums them)."""
        if targets is None:
            raise ValueError(f"{type(self).__name__}.forward computes training losses and needs targets; use predict()")
        return self.forward_train(images, targets)[0]

    def detections(self, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, mask_probs: torch.Tensor,
                   input_size: Tuple[int, int], output_size: Tuple[int, int], defer_masks: bool = False,
                   **fields: torch.Tensor) -> Instances:
        """One image's kept detections -> `Instances` at ``output_size`` (`make_instances` with this model's
        ``mask_threshold``)."""
        return make_instances(boxes, scores, labels, mask_probs, input_size, output_size, self.mask_threshold,
                              defer_masks, **fields)

    def forward_train(
        self, images: Images, targets: Sequence[Dict[str, Any]]
    ) -> Tuple[Dict[str, torch.Tensor], FeatureMaps, MatchedPredictions]:
        """Losses, plus what a track head trained jointly needs: the features and the matched predictions."""
        raise NotImplementedError

    def predict(self, images: Images, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                defer_masks: bool = False, score_thr: Optional[float] = None,
                network: Optional[Network] = None) -> List[Instances]:
        """Inference: one ``Instances`` per image at ``orig_sizes`` (default: the input sizes) with
        ``boxes``, ``scores``, ``labels``, ``masks`` (bool), ``embeds`` and ``query_index``: the top
        ``max_per_img`` (query, class) pairs, and of those only the ones scoring at least ``score_thr`` when it
        is given (`vis.models.postprocess.select_detections`; masks are predicted for these alone). With
        ``defer_masks`` the masks are a `DeferredMasks` to paste once detections are selected
        (`vis.structures.image_masks`). ``network``: see `predict_with_features`."""
        return self.predict_with_features(images, orig_sizes, defer_masks, score_thr, network)[0]

    @torch.no_grad()
    def predict_with_features(
        self, images: Images, orig_sizes: Optional[Sequence[Tuple[int, int]]] = None, defer_masks: bool = False,
        score_thr: Optional[float] = None, network: Optional[Network] = None,
    ) -> Tuple[List[Instances], FeatureMaps]:
        """`predict` plus the features it computed, so a track head can embed the detections without running the
        backbone twice. Inference is `network` (the part an ONNX file holds), then `postprocess`; ``network``
        replaces this model's own, e.g. by an ONNX Runtime session (`vis.runtime`)."""
        batch, orig_sizes = self.preprocess_with_sizes(images, orig_sizes)
        outputs = (network or self.network)(batch.tensor, batch.size_tensor())
        results = self.postprocess(outputs, batch.image_sizes, orig_sizes, defer_masks, score_thr)
        maps = [outputs[name] for name in self.feature_outputs]
        return results, FeatureMaps(maps, list(self.feature_strides), batch.image_sizes)

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
                    orig_sizes: Sequence[Tuple[int, int]], defer_masks: bool = False,
                    score_thr: Optional[float] = None) -> List[Instances]:
        """`network` outputs -> one `Instances` per image (see `predict`): select the detections, predict their
        masks, rescale from ``input_sizes`` to ``orig_sizes``."""
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


def make_instances(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask_probs: torch.Tensor,
    input_size: Tuple[int, int],
    output_size: Tuple[int, int],
    mask_threshold: float = 0.5,
    defer_masks: bool = False,
    **fields: torch.Tensor,
) -> Instances:
    """Per-image detections in input-image pixels -> ``Instances`` at ``output_size``.

    boxes: [n, 4] xyxy in the (unpadded) input image; mask_probs: [n, h, w] probabilities in box
    coordinates. Boxes are scaled by output/input size per axis and NOT clipped (as the references);
    masks are pasted at ``output_size`` with the scaled boxes and thresholded, or with ``defer_masks`` kept
    as a `DeferredMasks` that pastes them the same way later. Extra ``fields`` are attached.
    """
    in_h, in_w = int(input_size[0]), int(input_size[1])
    out_h, out_w = int(output_size[0]), int(output_size[1])
    scale = boxes.new_tensor([out_w / in_w, out_h / in_h, out_w / in_w, out_h / in_h])
    boxes = boxes * scale
    if defer_masks:
        masks = DeferredMasks(mask_probs, boxes, (out_h, out_w), mask_threshold)
    else:
        with inference_part("paste"):
            masks = paste_masks_in_image(mask_probs, boxes, (out_h, out_w), threshold=mask_threshold)
    return Instances((out_h, out_w), boxes=boxes, scores=scores, labels=labels, masks=masks, **fields)
