"""ResNet + FPN feature extractor: P2..P5 (strides 4, 8, 16, 32), no P6; or the bare ResNet (C2..C5).

Reference (mmdet ResNet/FPN as QueryInst configures them, reference_models.md §1.2, §2):
- ResNet ``style='pytorch'`` (stride on the 3x3 conv), which is torchvision's ResNet, so the parameter names
  are torchvision's and ImageNet weights are a torchvision ``resnet*`` state dict.
- ``frozen_stages=1``: stem and ``layer1`` get ``requires_grad=False`` and stay in eval mode.
- ``norm_eval=True``: EVERY BatchNorm of the ResNet stays in eval mode (running statistics) while training,
  although the affine parameters of layers 2-4 are still trained.
- FPN with ``num_outs == len(in_channels)``: four outputs, no extra level; nearest upsampling to the size of
  the finer map (torchvision ``FeaturePyramidNetwork`` does exactly this). Conv init is xavier-uniform with zero
  bias, as mmdet's FPN does (torchvision's default is kaiming-uniform).

DETR-style models (SOLQ) use the trunk alone (`build_resnet`) with ``norm='frozen_bn'``: DETR's
``FrozenBatchNorm2d``, whose affine weights and statistics are buffers, so nothing in a BN is trained
(reference_models.md §2.4).
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
import torchvision
from torch import nn
from torchvision.ops import FeaturePyramidNetwork, FrozenBatchNorm2d

from ..config import check_kwargs
from ..errors import CheckpointError, ConfigError

_RESNETS = {
    18: (torchvision.models.resnet18, [64, 128, 256, 512]),
    34: (torchvision.models.resnet34, [64, 128, 256, 512]),
    50: (torchvision.models.resnet50, [256, 512, 1024, 2048]),
    101: (torchvision.models.resnet101, [256, 512, 1024, 2048]),
}


_NORMS = {"bn": nn.BatchNorm2d, "frozen_bn": FrozenBatchNorm2d}


class ResNetTrunk(nn.Module):
    """torchvision ResNet without ``avgpool``/``fc``, returning C2..C5.

    Parameter names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ...), which are also mmdet's.
    ``norm``: 'bn' (``BatchNorm2d``; mmdet, detectron2-style training with ``norm_eval``) or 'frozen_bn'
    (torchvision ``FrozenBatchNorm2d``, eps 1e-5: weight, bias and statistics are buffers; DETR family).
    """

    def __init__(self, depth: int = 50, frozen_stages: int = 1, norm_eval: bool = True, norm: str = "bn"):
        super().__init__()
        if depth not in _RESNETS:
            raise ConfigError(f"model backbone: depth must be one of {sorted(_RESNETS)}, got {depth}")
        if not -1 <= frozen_stages <= 4:
            raise ConfigError(f"model backbone: frozen_stages must be in -1..4, got {frozen_stages}")
        if norm not in _NORMS:
            raise ConfigError(f"model backbone: norm must be one of {sorted(_NORMS)}, got '{norm}'")
        factory, channels = _RESNETS[depth]
        net = factory(weights=None, norm_layer=_NORMS[norm])
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels: List[int] = list(channels)
        self.depth = depth
        self.norm = norm
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._freeze_stages()

    def _frozen_modules(self) -> List[nn.Module]:
        """Stage 0 is the stem; stage i >= 1 is ``layer{i}``; stages 0..frozen_stages are frozen."""
        if self.frozen_stages < 0:
            return []
        modules: List[nn.Module] = [self.conv1, self.bn1]
        modules += [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]
        return modules

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad_(False)

    def train(self, mode: bool = True) -> "ResNetTrunk":
        """Frozen stages always run in eval mode; with ``norm_eval`` every BatchNorm does too."""
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """x: [N, 3, H, W] normalised -> [C2, C3, C4, C5] at strides 4, 8, 16, 32."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]

    def load_pretrained(self, path: str) -> None:
        """Load ImageNet weights from a local torchvision ``resnet*`` state dict (never downloads).

        The file may nest the dict under 'state_dict' or 'model'; ``fc.*`` and a ``module.`` prefix are ignored.
        """
        state = load_state_dict_file(path)
        state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise CheckpointError(
                f"pretrained file {path} does not fit ResNet-{self.depth}: "
                f"{len(missing)} keys missing (e.g. '{missing[0]}')"
            )
        for key in own:
            if tuple(state[key].shape) != tuple(own[key].shape):
                raise CheckpointError(
                    f"pretrained file {path} does not fit ResNet-{self.depth}: '{key}' has shape "
                    f"{tuple(state[key].shape)}, expected {tuple(own[key].shape)}"
                )
        self.load_state_dict({k: state[k] for k in own}, strict=True)
        logging.getLogger("vis.models").info(f"loaded ResNet-{self.depth} weights from {path}")


def load_state_dict_file(path: str) -> Dict[str, torch.Tensor]:
    """Read a state dict from a local file; anything wrong is a one-line `CheckpointError`."""
    if not os.path.isfile(path):
        raise CheckpointError(f"pretrained weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with disallowed objects, ...
        reason = str(exc).strip().splitlines()
        raise CheckpointError(
            f"cannot read weights file {path}: {type(exc).__name__}: {reason[0] if reason else ''}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"weights file {path} does not hold a state dict of tensors")
    return obj


def build_fpn(in_channels: List[int], out_channels: int = 256) -> FeaturePyramidNetwork:
    """torchvision FPN (lateral 1x1 + output 3x3 per level, no extra block), xavier-initialised as in mmdet."""
    fpn = FeaturePyramidNetwork(in_channels, out_channels, extra_blocks=None)
    for module in fpn.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return fpn


class ResNetFPN(nn.Module):
    """ResNet trunk (``body``) + FPN (``fpn``): images -> [P2, P3, P4, P5].

    Segmenters that mirror mmdet key names register ``body`` as ``backbone`` and ``fpn`` as ``neck``.
    """

    def __init__(self, body: ResNetTrunk, fpn: FeaturePyramidNetwork):
        super().__init__()
        self.body = body
        self.fpn = fpn
        self.strides = [4, 8, 16, 32]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return run_fpn(self.fpn, self.body(x))


def run_fpn(fpn: FeaturePyramidNetwork, feats: List[torch.Tensor]) -> List[torch.Tensor]:
    """[C2..C5] -> [P2..P5] through a torchvision FPN (which takes and returns ordered dicts)."""
    outputs = fpn(OrderedDict((f"c{i + 2}", f) for i, f in enumerate(feats)))
    return list(outputs.values())


def build_resnet(
    depth: int = 50,
    pretrained: Optional[str] = None,
    frozen_stages: int = 1,
    norm_eval: bool = True,
    norm: str = "bn",
) -> ResNetTrunk:
    """The bare ResNet-{18,34,50,101} trunk returning C2..C5, for models that build their own neck (SOLQ).

    ``norm``: 'bn' or 'frozen_bn' (see `ResNetTrunk`). ``pretrained`` is only remembered, as in
    `build_backbone`, and loaded by `FrameSegmenter.init_weights`.
    """
    body = ResNetTrunk(depth=depth, frozen_stages=frozen_stages, norm_eval=norm_eval, norm=norm)
    body.pretrained = pretrained
    return body


def build_backbone(
    depth: int = 50,
    pretrained: Optional[str] = None,
    frozen_stages: int = 1,
    norm_eval: bool = True,
    fpn_channels: int = 256,
    norm: str = "bn",
) -> ResNetFPN:
    """ResNet-{18,34,50,101} + FPN returning P2..P5 with ``fpn_channels`` channels.

    ``pretrained``: path of a local torchvision ResNet state dict (ImageNet); None keeps torchvision's init.
    It is only remembered here and loaded by `FrameSegmenter.init_weights` when training starts (mmdet's
    ``init_weights``), so tools can build a model from any config without the file being present.
    ``norm``: 'bn' or 'frozen_bn' (see `ResNetTrunk`; detectron2's FrozenBN, as ISTR uses).
    """
    body = ResNetTrunk(depth=depth, frozen_stages=frozen_stages, norm_eval=norm_eval, norm=norm)
    body.pretrained = pretrained
    return ResNetFPN(body, build_fpn(body.out_channels, fpn_channels))


def check_fpn_backbone_config(given: Optional[Dict], defaults: Dict) -> Dict:
    """A model's ``backbone`` config over its defaults, checked against `build_backbone` (unknown keys are a
    ConfigError). ``fpn_channels`` is not accepted: the FPN width is the model's ``hidden_dim``."""
    cfg = {**defaults, **(given or {})}
    check_kwargs(build_backbone, cfg, "model backbone")
    if "fpn_channels" in cfg:
        raise ConfigError("model backbone: 'fpn_channels' is set by the model's hidden_dim")
    return cfg
