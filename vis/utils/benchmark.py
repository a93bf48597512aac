"""Per-image inference latency of a segmenter, the figure papers and users compare.

Times ``model.predict`` end to end (pre-processing, backbone, heads, mask pasting) on random images of
the given sizes, after warm-up, with ``torch.no_grad`` in eval mode. Random weights are fine for
latency: no step of these models depends on the values except top-k, which always keeps ``max_per_img``.
"""
from __future__ import annotations

import statistics
import time
from typing import Dict, List, Sequence, Tuple

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
