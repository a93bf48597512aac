"""The per-frame network compiled by ``torch.compile`` (``--compile``), in place of the eager one.

Compiling takes a while before the first frame, longer for larger models; what it buys depends on the device (on
a GPU, fused kernels and fewer launches; docs/performance.md has the CPU figures). The
compiled graph has dynamic shapes, so frames of another size do not recompile it, and it is timed as one part,
``network``, like a runtime's."""
from __future__ import annotations

from typing import Dict

import torch

from ..timing import inference_part


class CompiledNetwork:
    """``torch.compile(network, dynamic=True)`` with the signature of `FrameSegmenter.network`."""

    def __init__(self, network):
        self.compiled = torch.compile(network, dynamic=True)

    def __call__(self, tensor: torch.Tensor, image_sizes: torch.Tensor) -> Dict[str, torch.Tensor]:
        with inference_part("network"):
            return self.compiled(tensor, image_sizes)
