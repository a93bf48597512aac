"""Named parts of a model's inference, for the per-part latency table of ``tools/benchmark_model.py``.

Each segmenter marks its parts in ``predict`` with ``with inference_part("backbone"):``. A mark costs one
``torch.profiler.record_function`` (the same names show up in a ``torch.profiler`` table) and, only while a
`PartTimer` is active in this thread, one clock reading on each side (after a CUDA synchronisation when the timer
runs on a GPU). Nothing is timed otherwise, so marks stay in the one inference path at no cost.

The parts (`PARTS`) are the same for the three segmenters; each names what runs in it:

    preprocess  normalise and pad the input batch
    network     backbone + neck + heads when a runtime runs them (`vis.runtime`: ONNX Runtime), not PyTorch
    backbone    the ResNet trunk
    neck        QueryInst / ISTR: the FPN; SOLQ: input projections + deformable encoder
    heads       the query heads: the box cascade (QueryInst, ISTR) or the decoder with its heads (SOLQ)
    masks       mask prediction for the kept detections: QueryInst's mask head, ISTR's PCA decoding, SOLQ's DCT
                decoding
    track_head  a video model's track head: the embeddings of the returned detections
    paste       box-relative masks pasted and thresholded at the output size
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import torch

PARTS = ("preprocess", "network", "backbone", "neck", "heads", "masks", "track_head", "paste")

_current = threading.local()


class PartTimer:
    """Seconds spent in each marked part while active (``with PartTimer() as timer:``), summed over calls.

    ``device``: a CUDA device is synchronised before each clock reading, so a part is charged its own kernels."""

    def __init__(self, device: Optional[torch.device] = None):
        self.seconds: Dict[str, float] = {}
        self._cuda = device is not None and torch.device(device).type == "cuda"
        self._outer: Optional[PartTimer] = None

    def sync(self) -> None:
        if self._cuda:
            torch.cuda.synchronize()

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def __enter__(self) -> "PartTimer":
        self._outer = getattr(_current, "timer", None)
        _current.timer = self
        return self

    def __exit__(self, *exc) -> None:
        _current.timer = self._outer


@contextmanager
def inference_part(name: str) -> Iterator[None]:
    """Mark a part of inference (see the module docstring); nested marks are charged to both parts."""
    if torch.compiler.is_compiling():  # inside a torch.compile graph: no profiler range, no clock
        yield
        return
    timer: Optional[PartTimer] = getattr(_current, "timer", None)
    with torch.profiler.record_function(name):
        if timer is None:
            yield
            return
        timer.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            timer.sync()
            timer.add(name, time.perf_counter() - start)
