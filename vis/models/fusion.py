"""Inference-time rewrites of a trained model's weights: less work for the same outputs.

**BatchNorm folded into the convolution before it.** In eval mode a BatchNorm is a fixed per-channel affine map,
``y = (x - mean) / sqrt(var + eps) * weight + bias``; after a convolution it can be folded into that convolution's
weight and bias (`torch.nn.utils.fusion.fuse_conv_bn_weights`), which saves one pass over every feature map of the
trunk (and of QueryInst's mask head) at the cost of float-noise differences. ``BatchNorm2d`` in eval mode (mmdet's
``norm_eval``) and torchvision's ``FrozenBatchNorm2d`` (DETR, detectron2) are both folded.

The pairs are found by name, as the modules that hold them register them: a ResNet block's ``conv{i}`` / ``bn{i}``,
its stem's ``conv1`` / ``bn1``, the ``downsample`` ``Sequential(conv, bn)`` (``0`` / ``1``) and QueryInst's
``ConvBNReLU`` (``conv`` / ``bn``). In all of these the BatchNorm's input is that convolution's output and nothing
else reads the convolution's output, which is what folding needs; the folded BatchNorm becomes ``nn.Identity``.

**Weights cast once for autocast** (`cast_for_autocast`). Autocast runs linear layers and convolutions in its
lower precision and casts their float32 weights to it *on every call*: for R-50 QueryInst (its dynamic-parameter
layers hold most of its 172 M parameters) that is 684 MB read and 342 MB written per frame. Casting them once gives
the same bits (the same rounding of the same values), so only the work changes.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torchvision.ops import FrozenBatchNorm2d

# (convolution, the BatchNorm applied to its output) by child name.
CONV_BN_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"), ("conv", "bn"), ("0", "1"))


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    if type(conv) is not nn.Conv2d:
        return False
    if isinstance(norm, FrozenBatchNorm2d):
        return True
    return isinstance(norm, nn.BatchNorm2d) and not norm.training and norm.track_running_stats and norm.affine


def fold_conv_bn(conv: nn.Conv2d, norm: nn.Module) -> nn.Conv2d:
    """-> a new convolution (with a bias) computing ``norm(conv(x))``; ``norm`` in eval mode."""
    fused = copy.deepcopy(conv)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    weight, bias = fuse_conv_bn_weights(conv.weight, bias, norm.running_mean, norm.running_var, norm.eps,
                                        norm.weight, norm.bias)
    fused.weight = nn.Parameter(weight.detach(), requires_grad=False)
    fused.bias = nn.Parameter(bias.detach(), requires_grad=False)
    return fused


@torch.no_grad()
def fold_batchnorms(model: nn.Module) -> int:
    """Fold every (convolution, BatchNorm) pair of `CONV_BN_PAIRS` whose BatchNorm is in eval mode or frozen;
    -> how many were folded. Call after ``model.eval()``: the model is for inference from then on (its state
    dict lacks the folded BatchNorms' keys; a later ``train()`` would train the folded weights)."""
    folded = 0
    for module in list(model.modules()):
        children = dict(module.named_children())
        for conv_name, norm_name in CONV_BN_PAIRS:
            conv, norm = children.get(conv_name), children.get(norm_name)
            if conv is None or norm is None or not _foldable(conv, norm):
                continue
            setattr(module, conv_name, fold_conv_bn(conv, norm))
            setattr(module, norm_name, nn.Identity())
            folded += 1
    return folded


# Modules whose weights autocast casts to its lower precision at every call (their ops are on autocast's
# lower-precision list on CPU and CUDA alike).
AUTOCAST_WEIGHT_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                           nn.ConvTranspose3d)


@torch.no_grad()
def cast_for_autocast(model: nn.Module, dtype: torch.dtype) -> int:
    """Cast the weight and bias of every linear layer and convolution to ``dtype`` (the autocast dtype the model
    will run under: `vis.inference.amp_dtype`) -> how many modules were cast. Predictions under autocast stay
    bit-identical; the model must run under autocast from then on (its float32 inputs meet ``dtype`` weights).

    ``nn.MultiheadAttention`` is left alone: its fused kernel reads the packed input projection (a bare
    parameter) and the output projection together, so they keep one dtype. Everything else (norms, embeddings,
    bare parameters and buffers) is not cast by autocast either and stays float32."""
    skip = {id(inner) for module in model.modules() if isinstance(module, nn.MultiheadAttention)
            for inner in module.modules()}
    cast = 0
    for module in model.modules():
        if id(module) in skip or not isinstance(module, AUTOCAST_WEIGHT_MODULES):
            continue
        for name in ("weight", "bias"):
            value = getattr(module, name)
            if value is not None and value.is_floating_point() and value.dtype != dtype:
                setattr(module, name, nn.Parameter(value.detach().to(dtype), requires_grad=False))
        cast += 1
    model.autocast_weights_dtype = dtype  # read by vis.inference.predict_frames: no float32 run of these weights
    return cast
