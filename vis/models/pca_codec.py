"""PCA mask codec: box-relative 28x28 masks <-> 60-d whitened vectors (ISTR-v1 "mask encoding").

ISTR predicts a short vector per query instead of a mask and decodes it with a fixed linear basis fitted once
on the training masks (reference_models.md §3.1, ``LME/mask_generation.py`` and ``MaskEncoding.py``):

- fitting data: every usable training instance, cropped to its GT box and resized to ``S x S`` (binary)
  (`pipelines.mask_codec`: the instances `vis.data.coco.CocoDataset` keeps as targets);
- noise-then-logit: per pixel ``r ~ U(0, 0.05)`` floored at 0.01, ``m -> 1 - r`` if ``m > r`` else ``r``,
  then ``logit(m)`` (so 0/1 pixels become finite, slightly jittered logits around -/+3.2);
- a whitened PCA on those ``S*S`` logit vectors: ``components`` [D, S*S] orthonormal rows,
  ``explained_variances`` [D] (variance along each component, ddof 1) and ``means`` [S*S];
- encode (training targets only, with fresh noise each call): ``e = (logit_noisy(M) - means) C^T / sqrt(var)``;
- decode: ``M = sigmoid((e * sqrt(var)) C + means)``, reshaped to S x S in box coordinates.

The three tensors are buffers of `PCAMaskCodec`, named as the reference's ``mask_encoding.*`` parameters, so
checkpoints carry them. Building a model never reads the codec file: the buffers start as placeholders and
the file named by the config is loaded by ``init_weights()`` when a run starts from scratch, like ImageNet
backbone weights (`FrameSegmenter.init_weights`); a checkpoint restores them otherwise.

The reference fits with sklearn ``IncrementalPCA(whiten=True)``. Here the exact covariance is accumulated in
float64 over any number of masks and diagonalised (``torch.linalg.eigh``): the same components (up to
numerical precision), without keeping the masks in memory and without sklearn. Component signs follow
sklearn's ``svd_flip`` rule (largest-magnitude entry positive) so that fits are reproducible.
Two deliberate differences from the reference script: masks are cut with the same aligned-RoIAlign crop that
makes this toolkit's training targets (detectron2 rasterises COCO polygons directly in the box; the two differ
along the boundary), and all instances are used unless ``max_instances`` is given (the reference keeps the
first 100,000).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, DataError

NOISE_MAX = 0.05  # reference VALUE_MAX
NOISE_MIN = 0.01  # reference VALUE_MIN
CODEC_FORMAT = "vis-pca-mask-codec"
CODEC_VERSION = 1
# Keys of the reference's .npz component files (each with a leading axis of 1).
_NPZ_KEYS = {"components": "components_c", "explained_variances": "explained_variance_c", "means": "mean_c"}


def noisy_logit(masks: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """0/1 masks (any shape) -> float32 logits after the reference's per-pixel noise (module docstring).

    ``generator`` makes the noise reproducible; it may live on another device than ``masks``.
    """
    masks = masks.to(torch.float32)
    if generator is None:
        noise = torch.rand(masks.shape, device=masks.device)
    else:
        noise = torch.rand(masks.shape, generator=generator, device=generator.device).to(masks.device)
    noise = (noise * NOISE_MAX).clamp(min=NOISE_MIN)
    probs = torch.where(masks > noise, 1.0 - noise, noise)
    return torch.log(probs / (1.0 - probs))


class PCAMaskCodec(nn.Module):
    """Fixed PCA basis for ``mask_size`` x ``mask_size`` box-relative masks, ``dim`` components.

    Buffers (persistent, so in every checkpoint): ``components`` [dim, S*S], ``explained_variances`` [dim],
    ``means`` [S*S]. ``pretrained`` names the codec file that `FrameSegmenter.init_weights` loads through
    `load_pretrained` (a file written by `save_codec` / ``tools/fit_mask_codec.py``, or the reference's ``.npz``).
    `is_fitted` says whether real values are in place (from the file or from a checkpoint).
    """

    def __init__(self, dim: int = 60, mask_size: int = 28, pretrained: Optional[str] = None):
        super().__init__()
        if dim < 1 or mask_size < 1 or dim > mask_size * mask_size:
            raise ValueError(f"PCA codec needs 1 <= dim <= mask_size^2, got dim={dim}, mask_size={mask_size}")
        self.dim = int(dim)
        self.mask_size = int(mask_size)
        num_pixels = self.mask_size * self.mask_size
        # Placeholders until a codec file or a checkpoint provides the values (variances 1 keep encode finite).
        self.register_buffer("components", torch.zeros(self.dim, num_pixels))
        self.register_buffer("explained_variances", torch.ones(self.dim))
        self.register_buffer("means", torch.zeros(num_pixels))
        self.pretrained = pretrained

    def extra_repr(self) -> str:
        return f"dim={self.dim}, mask_size={self.mask_size}, pretrained={self.pretrained!r}"

    def is_fitted(self) -> bool:
        """False while the buffers still hold the placeholders (all-zero components)."""
        return bool(self.components.abs().amax() > 0)

    # -- encode / decode ----------------------------------------------------------------------------
    def encode(self, masks: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """0/1 masks [n, S, S] (or [n, S*S]) -> whitened embeddings [n, dim] (fresh logit noise each call)."""
        num_pixels = self.components.shape[1]
        if masks.shape[1:].numel() != num_pixels:
            raise ValueError(f"masks of shape {tuple(masks.shape)} do not fit the codec's {num_pixels} pixels")
        flat = masks.reshape(masks.shape[0], num_pixels)  # [n, S*S], row-major as the reference
        logits = noisy_logit(flat, generator)  # [n, S*S]
        return ((logits - self.means) @ self.components.t()) / self.explained_variances.sqrt()

    def decode_logits(self, embeds: torch.Tensor) -> torch.Tensor:
        """Embeddings [n, dim] -> mask logits [n, S, S] (before the sigmoid)."""
        basis = self.components * self.explained_variances.sqrt()[:, None]  # [dim, S*S], un-whitened
        logits = embeds.to(basis.dtype) @ basis + self.means  # [n, S*S]
        return logits.view(-1, self.mask_size, self.mask_size)

    def decode(self, embeds: torch.Tensor) -> torch.Tensor:
        """Embeddings [n, dim] -> mask probabilities [n, S, S] (sigmoid, in training and at test time)."""
        return self.decode_logits(embeds).sigmoid()

    # -- values -------------------------------------------------------------------------------------
    @torch.no_grad()
    def set_codec(self, state: Mapping[str, Any], source: str = "codec") -> None:
        """Copy ``components``, ``explained_variances``, ``means`` from ``state`` (all checked before any copy)."""
        values = {}
        for name in ("components", "explained_variances", "means"):
            if name not in state:
                raise CheckpointError(f"{source} has no '{name}'")
            value = torch.as_tensor(state[name])
            expected = tuple(getattr(self, name).shape)
            if tuple(value.shape) != expected:
                raise CheckpointError(
                    f"{source}: '{name}' has shape {tuple(value.shape)}, the model's codec expects "
                    f"{expected} (dim={self.dim}, mask_size={self.mask_size})"
                )
            values[name] = value
        if not bool((values["explained_variances"] > 0).all()):
            raise CheckpointError(f"{source}: explained_variances must be positive")
        for name, value in values.items():
            buffer = getattr(self, name)
            buffer.copy_(value.to(buffer.device, buffer.dtype))

    def load_pretrained(self, path: str) -> None:
        """Load the codec file named by the config (called by `FrameSegmenter.init_weights`)."""
        self.set_codec(load_codec_file(path), source=f"mask codec {path}")


# ------------------------------------------------------------------------------------------------
# Fitting
# ------------------------------------------------------------------------------------------------
class PCAStatistics:
    """Running float64 sums for an exact PCA of many vectors without keeping them."""

    def __init__(self, num_features: int):
        self.count = 0
        self.total = torch.zeros(num_features, dtype=torch.float64)
        self.outer = torch.zeros(num_features, num_features, dtype=torch.float64)

    def update(self, x: torch.Tensor) -> None:
        """x: [n, num_features]."""
        x = x.to(torch.float64)
        self.count += x.shape[0]
        self.total += x.sum(0)
        self.outer += x.t() @ x

    def fit(self, dim: int) -> Dict[str, torch.Tensor]:
        """-> float32 ``components`` [dim, F] (orthonormal rows, descending variance), ``explained_variances``
        [dim] (ddof 1, as sklearn), ``means`` [F] and ``explained_variance_ratio`` [dim]."""
        if self.count <= dim:
            raise DataError(f"a PCA with {dim} components needs more than {dim} masks, got {self.count}")
        mean = self.total / self.count
        cov = (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)
        cov = (cov + cov.t()) / 2
        eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
        order = torch.argsort(eigvals, descending=True)[:dim]
        variances = eigvals[order].clamp(min=0)
        components = eigvecs[:, order].t().contiguous()  # [dim, F]
        # sklearn svd_flip(u_based_decision=False): the largest-magnitude entry of each component is positive.
        signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
        components = components * torch.where(signs == 0, torch.ones_like(signs), signs)
        total_variance = eigvals.clamp(min=0).sum()
        if float(variances[-1]) <= 0:
            raise DataError(f"the masks span fewer than {dim} dimensions; fit fewer components")
        return {
            "components": components.float(),
            "explained_variances": variances.float(),
            "means": mean.float(),
            "explained_variance_ratio": (variances / total_variance).float(),
        }


def fit_pca_codec(
    mask_batches: Iterable[torch.Tensor], dim: int = 60, seed: int = 0, max_instances: Optional[int] = None
) -> Dict[str, Any]:
    """Fit the codec on batches of binary box-relative masks [n, S, S] (noise-then-logit, whitened PCA).

    ``seed`` fixes the logit noise; ``max_instances`` stops after that many masks (the reference's
    ``mask_generation.py`` keeps the first 100,000). Returns the `PCAStatistics.fit` tensors plus
    ``mask_size``, ``dim``, ``num_instances``.
    """
    generator = torch.Generator().manual_seed(int(seed))
    stats: Optional[PCAStatistics] = None
    mask_size = None
    for batch in mask_batches:
        if max_instances is not None:
            left = int(max_instances) - (stats.count if stats is not None else 0)
            if left <= 0:
                break
            batch = batch[:left]
        if batch.shape[0] == 0:
            continue
        if mask_size is None:
            mask_size = int(batch.shape[-1])
            stats = PCAStatistics(mask_size * mask_size)
        stats.update(noisy_logit(batch.reshape(batch.shape[0], -1), generator))
    if stats is None:
        raise DataError("no masks to fit the codec on")
    fitted = stats.fit(dim)
    return {**fitted, "mask_size": mask_size, "dim": int(dim), "num_instances": stats.count}


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------
def save_codec(path: str, fitted: Mapping[str, Any]) -> None:
    """Write a fitted codec atomically as a torch file ({format, version, components, ...})."""
    from ..io.files import atomic_open

    obj = {"format": CODEC_FORMAT, "version": CODEC_VERSION}
    for key, value in fitted.items():
        obj[key] = value.detach().cpu().clone() if isinstance(value, torch.Tensor) else value
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def load_codec_file(path: str) -> Dict[str, torch.Tensor]:
    """Read a codec file: ours (`save_codec`) or the reference's ``.npz`` (``components_c`` etc., leading axis 1).

    Returns ``components``, ``explained_variances``, ``means`` as float32 tensors. Anything wrong is a
    one-line `CheckpointError` that says how to make the file.
    """
    if not os.path.isfile(path):
        raise CheckpointError(
            f"mask codec file not found: {path} (fit it with: python tools/fit_mask_codec.py ANN_FILE --out {path})"
        )
    try:
        if path.endswith(".npz"):
            with np.load(path) as npz:
                missing = [k for k in _NPZ_KEYS.values() if k not in npz]
                if missing:
                    raise CheckpointError(f"mask codec {path} has no '{missing[0]}' array")
                return {name: torch.from_numpy(np.asarray(npz[key][0], dtype=np.float32))
                        for name, key in _NPZ_KEYS.items()}
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()
        raise CheckpointError(f"cannot read mask codec {path}: {type(exc).__name__}: {reason[0] if reason else ''}") \
            from None
    if not isinstance(obj, dict) or obj.get("format") != CODEC_FORMAT:
        raise CheckpointError(f"{path} is not a mask codec file (write one with tools/fit_mask_codec.py)")
    return {name: obj[name].float() for name in ("components", "explained_variances", "means") if name in obj}


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary masks [n, ...] x [n, ...] -> IoU per pair [n] (1 where both are empty)."""
    pred = pred.flatten(1).bool()
    target = target.flatten(1).bool()
    inter = (pred & target).sum(1).float()
    union = (pred | target).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


__all__: Sequence[str] = [
    "PCAMaskCodec",
    "PCAStatistics",
    "noisy_logit",
    "fit_pca_codec",
    "save_codec",
    "load_codec_file",
    "mask_iou",
]
