"""Measurement primitives of the benchmarks: each returns numbers, none prints (the ``tools/benchmark_*.py``
scripts print; `pipelines.benchmark_video` composes them).

`measure_latency` times ``model.predict`` end to end (pre-processing, backbone, heads, mask pasting) on random
images of the given sizes, after warm-up, with ``torch.no_grad`` in eval mode. Random weights are fine for
latency: no step of these models depends on the values except top-k, which always keeps ``max_per_img``.
`model_speed`, `tracker_speed` and `read_frames` time the streaming pipeline's stages on real frames;
`memory_mb` reads this process's resident memory.
"""
from __future__ import annotations

import resource
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
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


def memory_mb() -> Tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB: /proc/self/status on Linux, else getrusage's peak twice."""
    try:
        fields = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = float(value.split()[0]) / 1024.0  # kB -> MB
        return fields["VmRSS"], fields["VmHWM"]
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 * (1024.0 if sys.platform == "darwin" else 1))
        return peak, peak


# -- inputs ------------------------------------------------------------------------------------------

def read_frames(video: str, num_frames: int) -> Tuple[List[np.ndarray], float]:
    """The first ``num_frames`` frames (RGB uint8) and the decode speed in frames/s."""
    from ..io.video import FrameReader, open_frame_source

    source = open_frame_source(video, 0, num_frames)
    frames = []
    began = time.perf_counter()
    with FrameReader(source) as reader:
        for _, image in reader:
            frames.append(image)
    seconds = time.perf_counter() - began
    source.close()
    return frames, len(frames) / seconds if seconds > 0 else float("inf")


# -- the measurements --------------------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)

def model_speed(model: torch.nn.Module, preprocess: Any, frames: Sequence[np.ndarray], device: torch.device,
                amp: bool = False, warmup: int = 3) -> Tuple[float, List[Any]]:
    """(frames/s of preprocess + predict over ``frames``, the per-frame Instances on the CPU)."""
    from ..inference import predict_frames

    from ..structures import Instances

    results = []
    for i, image in enumerate(list(frames[:warmup]) + list(frames)):
        if i == warmup:
            _sync(device)
            began = time.perf_counter()
        size = (int(image.shape[0]), int(image.shape[1]))
        (instances,) = predict_frames(model, [preprocess(image).to(device)], [size], amp, defer_masks=True)
        if i >= warmup:  # the tracker figure below is taken without masks
            results.append(Instances(instances.image_size, **{
                k: v for k, v in instances.fields().items() if k != "masks"}).to("cpu"))
    _sync(device)
    seconds = time.perf_counter() - began
    return len(frames) / seconds, results

def tracker_speed(tracker: Any, detections: Sequence[Any]) -> Dict[str, float]:
    """ms/frame of ``tracker.update`` on real detections, which it filters by its own ``score_thr`` as in
    `vis.inference.track_video`; -> mean and median ms, mean live tracks and detections given."""
    tracker.reset()
    timings, live, dets = [], [], []
    for index, instances in enumerate(detections):
        began = time.perf_counter()
        tracker.update(instances, frame_index=index)
        timings.append(time.perf_counter() - began)
        live.append(tracker.num_tracks)
        dets.append(len(instances))
    return {"mean_ms": 1000 * statistics.mean(timings), "median_ms": 1000 * statistics.median(timings),
            "mean_live_tracks": statistics.mean(live), "mean_detections": statistics.mean(dets)}

def synthetic_tracker_ms(objects: int = 10, frames: int = 300, dim: int = 1024) -> float:
    """Median ms/frame of OnlineTracker.update with ``objects`` live tracks and as many detections (masks
    not carried), as ``tools/benchmark_tracker.py``."""
    from ..tracking import OnlineTracker

    timings = time_tracker_updates(OnlineTracker(), synthetic_tracking_frames(frames + 20, objects, dim), warmup=20)
    return 1000 * statistics.median(timings)


def config_latencies(configs: Sequence[str], sizes: Sequence[Tuple[int, int]], runs: int = 3, device: str = "cpu",
                     threads: Optional[int] = None):
    """`measure_latency` of each config's model (seeded random weights) -> rows ``{'config', 'model', 'device',
    'threads', 'height', 'width', 'median_s', 'min_s', 'runs'}``, yielded as they are measured."""
    from ..config import load_config
    from ..errors import ConfigError
    from ..models import build_model

    if threads:
        torch.set_num_threads(threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda but no CUDA device is available")
    for path in configs:
        cfg = load_config(path)
        torch.manual_seed(0)
        model = build_model(cfg.model)
        for row in measure_latency(model, sizes, runs=runs, device=device):
            yield {"config": path, "model": type(model).__name__, "device": device,
                   "threads": torch.get_num_threads(), **row}


def tracker_benchmark(frames: int = 1000, objects: int = 10, dim: int = 1024,
                      mask_size: Optional[Tuple[int, int]] = None, assignment: str = "optimal", threads: int = 1,
                      warmup: int = 20) -> Dict[str, Any]:
    """ms/frame of `OnlineTracker.update` on `synthetic_tracking_frames` -> ``{'mean_ms', 'median_ms', 'tracks',
    'detections', 'threads', ...}`` (the settings echoed)."""
    from ..tracking import OnlineTracker

    torch.set_num_threads(threads)
    video = synthetic_tracking_frames(warmup + frames, objects, dim, mask_size)
    tracker = OnlineTracker(assignment=assignment)  # defaults; scores are >= 0.2
    timings = time_tracker_updates(tracker, video, warmup)
    return {"mean_ms": statistics.mean(timings) * 1000, "median_ms": statistics.median(timings) * 1000,
            "tracks": tracker.num_tracks, "detections": len(video[-1]), "ids_used": tracker.next_id, "dim": dim,
            "mask_size": mask_size,
            "assignment": assignment, "threads": threads, "frames": frames}
