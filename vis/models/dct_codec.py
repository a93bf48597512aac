"""DCT mask codec: a box-relative binary mask <-> a short vector of low-frequency DCT coefficients.

SOLQ (reference_models.md §4.2) represents each instance mask by the first ``n_keep`` = 256 coefficients,
in zig-zag order, of the orthonormal 2-D DCT-II of the mask cut by its box and resized to
``mask_size`` x ``mask_size`` = 128 x 128. What is reproduced from the reference (``models/dct.py``,
``solq.py``):

- the transform is ``cv2.dct`` on a float32 0/1 mask, i.e. the orthonormal DCT-II (``scipy.fft.dctn(norm='ortho')``);
  here it is ``D @ M @ D.T`` with the orthonormal DCT matrix ``D`` (``D @ D.T = I``), so decoding is ``D.T @ C @ D``;
- the coefficient matrix is scanned in the JPEG zig-zag order starting at (row 0, col 0); on anti-diagonal
  ``d = row + col`` the scan runs from row ``d`` up to row 0 when ``d`` is even and from row 0 down when odd;
- decoding puts the kept coefficients back (the rest are 0), inverts, and binarises each instance with its
  own adaptive threshold ``(max + min) / 2`` of the reconstruction (strictly greater), not a fixed 0.5.

Everything is batched torch (two matrix products per direction), so targets are built on the model's device.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import nn


def dct_matrix(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Orthonormal DCT-II matrix [n, n]: ``D[k, i] = a_k cos(pi (2i + 1) k / 2n)``, ``a_0 = sqrt(1/n)``,
    ``a_k = sqrt(2/n)``. The 1-D transform of a column vector ``x`` is ``D @ x``; ``D`` is orthogonal."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(dtype)


def zigzag_order(n: int, count: Optional[int] = None) -> List[Tuple[int, int]]:
    """The first ``count`` (default all n*n) (row, col) cells of an n x n matrix in JPEG zig-zag order."""
    count = n * n if count is None else int(count)
    cells: List[Tuple[int, int]] = []
    for d in range(2 * n - 1):
        rows = range(max(0, d - n + 1), min(d, n - 1) + 1)  # rows that hold a cell of anti-diagonal d
        if d % 2 == 0:
            rows = reversed(rows)  # even diagonals run upwards: from the largest row to the smallest
        for row in rows:
            cells.append((row, d - row))
            if len(cells) == count:
                return cells
    return cells


class DCTMaskCodec(nn.Module):
    """Encode [M, S, S] masks to [M, n_keep] zig-zag DCT vectors and decode them back.

    Args:
        mask_size: side S of the box-relative mask (128 in SOLQ).
        n_keep: number of zig-zag coefficients kept (256 in SOLQ).

    The DCT matrix and the zig-zag indices are non-persistent buffers: derived from the two sizes, they are
    not part of a checkpoint (the reference stores none either).
    """

    def __init__(self, mask_size: int = 128, n_keep: int = 256):
        super().__init__()
        if not 0 < n_keep <= mask_size * mask_size:
            raise ValueError(f"n_keep must be in 1..{mask_size * mask_size}, got {n_keep}")
        self.mask_size = int(mask_size)
        self.n_keep = int(n_keep)
        flat = [row * mask_size + col for row, col in zigzag_order(mask_size, n_keep)]
        self.register_buffer("dct", dct_matrix(mask_size, torch.float32), persistent=False)
        self.register_buffer("zigzag", torch.tensor(flat, dtype=torch.int64), persistent=False)

    def transform(self, masks: torch.Tensor) -> torch.Tensor:
        """[M, S, S] -> full orthonormal 2-D DCT coefficients [M, S, S] (``cv2.dct`` of each mask).

        Computed in the input's precision even under autocast: targets up to 128 need more than float16."""
        d = self.dct.to(masks.dtype)
        with torch.autocast(device_type=masks.device.type, enabled=False):
            return d @ masks @ d.t()

    def inverse_transform(self, coeffs: torch.Tensor) -> torch.Tensor:
        """[M, S, S] coefficients -> [M, S, S] reconstruction (``cv2.idct``), never under autocast."""
        d = self.dct.to(coeffs.dtype)
        with torch.autocast(device_type=coeffs.device.type, enabled=False):
            return d.t() @ coeffs @ d

    def encode(self, masks: torch.Tensor) -> torch.Tensor:
        """masks: [M, S, S] (bool or 0/1 float) -> [M, n_keep] float32 coefficients in zig-zag order."""
        coeffs = self.transform(masks.to(torch.float32))  # [M, S, S]
        return coeffs.flatten(1)[:, self.zigzag]  # row-major flat index = row * S + col

    def reconstruct(self, vectors: torch.Tensor) -> torch.Tensor:
        """[M, n_keep] -> real-valued [M, S, S]: the kept coefficients back in place, the others 0, inverted."""
        num = vectors.shape[0]
        coeffs = vectors.new_zeros((num, self.mask_size * self.mask_size))
        coeffs[:, self.zigzag] = vectors
        return self.inverse_transform(coeffs.view(num, self.mask_size, self.mask_size))

    def decode(self, vectors: torch.Tensor) -> torch.Tensor:
        """[M, n_keep] -> binary float [M, S, S]: ``reconstruction > (max + min) / 2`` per instance (reference)."""
        recon = self.reconstruct(vectors.to(torch.float32))
        if recon.shape[0] == 0:
            return recon
        flat = recon.flatten(1)
        threshold = (flat.max(dim=1).values + flat.min(dim=1).values) / 2  # [M]
        return (recon > threshold[:, None, None]).to(torch.float32)
