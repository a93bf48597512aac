"""Per-image inference latency of a segmenter, the figure papers and users compare.

Times ``model.predict`` end to end (pre-processing, backbone, heads, mask pasting) on random images of
the given sizes, after warm-up, with ``torch.no_grad`` in eval mode. Random weights are fine for
latency: no step of these models depends on the values except top-k, which always keeps ``max_per_img``.
"""
from __future__ import annotations

import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch


def measure_latency(model: torch.nn.Module, sizes: Sequence[Tuple[int, int]], runs: int = 3, warmup: int = 1,
                    device: str = "cpu") -> List[Dict[str, float]]:
    """-> one dict per (h, w): {'height', 'width', 'median_s', 'min_s', 'runs'} for batch size 1."""
    model = model.to(device).eval()
    results = []
    for height, width in sizes:
        image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8).float().to(device)
        timings = []
        for i in range(warmup + runs):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            with torch.no_grad():
                model.predict([image], orig_sizes=[(height, width)])
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= warmup:
                timings.append(time.perf_counter() - start)
        results.append({"height": height, "width": width, "median_s": statistics.median(timings),
                        "min_s": min(timings), "runs": runs})
    return results


def synthetic_tracking_frames(num_frames: int, objects: int = 10, dim: int = 1024,
                              mask_size: Optional[Tuple[int, int]] = None, size: Tuple[int, int] = (360, 640),
                              seed: int = 0) -> list:
    """Detections for timing a tracker: every frame shows the same ``objects`` (moving 40-px boxes, noisy
    per-object ``track_embeds``, shuffled order, scores 0.2-1.0), so the memory holds ``objects`` tracks and
    each frame brings as many detections. With ``mask_size`` empty bool masks of that size ride along."""
    from ..structures import Instances

    gen = torch.Generator().manual_seed(seed)
    height, width = mask_size or size
    centers = torch.rand(objects, 2, generator=gen) * torch.tensor([float(width), float(height)])
    velocity = torch.randn(objects, 2, generator=gen) * 3
    identity = torch.randn(objects, dim, generator=gen) / dim ** 0.25  # self dot product ~ sqrt(dim)
    frames = []
    for t in range(num_frames):
        order = torch.randperm(objects, generator=gen)
        c = centers[order] + velocity[order] * t
        fields = dict(boxes=torch.cat([c - 20, c + 20], dim=1), scores=torch.rand(objects, generator=gen) * 0.8 + 0.2,
                      labels=order % 3, query_index=order,
                      track_embeds=identity[order] + 0.1 * torch.randn(objects, dim, generator=gen))
        if mask_size:
            fields["masks"] = torch.zeros((objects, height, width), dtype=torch.bool)
        frames.append(Instances((height, width), **fields))
    return frames


def time_tracker_updates(tracker, frames: Sequence, warmup: int = 20) -> List[float]:
    """Seconds of each ``tracker.update`` after the first ``warmup`` frames."""
    timings = []
    for index, instances in enumerate(frames):
        start = time.perf_counter()
        tracker.update(instances)
        if index >= warmup:
            timings.append(time.perf_counter() - start)
    return timings
