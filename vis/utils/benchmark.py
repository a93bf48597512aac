"""Measurement primitives of the benchmarks: each returns numbers, none prints (the ``tools/benchmark_*.py``
scripts print; `pipelines.benchmark_video` composes them).

`measure_latency` times ``model.predict`` on a seeded random image per input size, after warm-up, with
``torch.no_grad`` in eval mode: the whole call and each part the model marks (`vis.timing`), as median, min and
max over the runs, so a figure comes with its spread and with where the time goes. `config_latencies` runs it on
configs (random weights or a checkpoint) and labels each row with what the numbers depend on (device, threads,
backend, folded BatchNorms, weights); ``tools/benchmark_model.py`` prints those rows. Random weights time the same
work as trained ones as long as as many detections come out: without a score threshold top-k keeps
``max_per_img`` (every one gets a mask, the worst case), but a model that drops empty boxes (ISTR) may return
fewer, hence the ``detections`` figure in every row.
`model_speed`, `tracker_speed` and `read_frames` time the streaming pipeline's stages on real frames;
`memory_mb` reads this process's resident memory.
"""
from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..timing import PARTS, PartTimer


def random_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A [3, h, w] float image of uint8 values drawn from a seeded generator: every run, and every rerun of the
    benchmark, feeds the model the same pixels."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), generator=generator, dtype=torch.uint8).float()


def _spread_ms(seconds: Sequence[float]) -> Dict[str, float]:
    """Per-run seconds -> median, min and max in ms: the median is the figure, min-max says how noisy it was."""
    ms = [1000.0 * value for value in seconds]
    return {"median": statistics.median(ms), "min": min(ms), "max": max(ms)}


def _check_runs(runs: int, warmup: int, batch_size: int = 1) -> None:
    from ..errors import ConfigError

    if runs < 1:
        raise ConfigError(f"--runs must be >= 1, got {runs}")
    if warmup < 0:
        raise ConfigError(f"--warmup must be >= 0, got {warmup}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")


def measure_latency(model: Any, sizes: Sequence[Tuple[int, int]], runs: int = 7, warmup: int = 2,
                    device: Any = "cpu", score_thr: Optional[float] = None, amp: bool = False,
                    seed: int = 0, batch_size: int = 1) -> List[Dict[str, Any]]:
    """Time ``model.predict`` on ``batch_size`` seeded random images per (h, w), whole and per part -> one row each
    (``per_frame_ms``: the total's median over the batch; ``detections``: of the first image).

    Each of the ``warmup + runs`` calls is `vis.inference.predict_frames` (the inference path's call, ``amp``
    included) inside a `vis.timing.PartTimer`; the whole call is timed with ``perf_counter`` (CUDA-synchronised on a
    GPU). Per timed run, "post" is the total minus the named parts: what
    ``predict`` does outside them (top-k, selection, box rescaling, building the Instances). A row holds
    ``ms[part] = {'median', 'min', 'max'}`` for each part the model marked (in `PARTS` order), then "post" and
    "total"; ``detections`` (median count returned) and ``predict_over_backbone_neck`` (total median over the
    backbone + neck medians: how much the rest adds to the feature extraction). On CUDA the part timer
    synchronises at each part boundary, which a plain ``predict`` would not do; the total includes that.
    """
    from ..inference import predict_frames

    _check_runs(runs, warmup, batch_size)
    device = torch.device(device)
    if isinstance(model, torch.nn.Module):
        model = model.to(device).eval()
    rows = []
    for height, width in sizes:
        images = [random_image(height, width, seed + index).to(device) for index in range(batch_size)]
        totals: List[float] = []
        part_runs: List[Dict[str, float]] = []
        detections: List[int] = []
        for index in range(warmup + runs):
            with PartTimer(device) as timer:
                _sync(device)
                start = time.perf_counter()
                results = predict_frames(model, images, [(height, width)] * batch_size, amp, score_thr=score_thr)
                _sync(device)
                total = time.perf_counter() - start
            if index >= warmup:
                totals.append(total)
                part_runs.append(dict(timer.seconds))
                detections.append(len(results[0]))
        marked = {name for seconds in part_runs for name in seconds}
        names = [name for name in PARTS if name in marked] + sorted(marked - set(PARTS))
        ms = {name: _spread_ms([seconds.get(name, 0.0) for seconds in part_runs]) for name in names}
        ms["post"] = _spread_ms([total - sum(seconds.values()) for total, seconds in zip(totals, part_runs)])
        ms["total"] = _spread_ms(totals)
        features = sum(ms[name]["median"] for name in ("backbone", "neck") if name in ms)
        rows.append({"height": height, "width": width, "runs": runs, "warmup": warmup, "score_thr": score_thr,
                     "amp": amp, "batch_size": batch_size, "per_frame_ms": ms["total"]["median"] / batch_size,
                     "detections": statistics.median(detections), "ms": ms,
                     "total_runs_ms": [1000.0 * value for value in totals],
                     "predict_over_backbone_neck": ms["total"]["median"] / features if features > 0 else None})
    return rows


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


class MemoryProbe:
    """A progress callback (``probe(count)``) that keeps `memory_mb` when the count reaches ``at``: the early
    reading of a memory run, taken inside the run without touching its loop."""

    def __init__(self, at: int):
        self.at = int(at)
        self.reading: Optional[Tuple[float, float]] = None

    def __call__(self, count: int) -> None:
        if count == self.at:
            self.reading = memory_mb()


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
                amp: bool = False, warmup: int = 3, batch_size: int = 1) -> Tuple[float, List[Any]]:
    """(frames/s of preprocess + predict over ``frames``, ``batch_size`` at a time, the per-frame Instances on the
    CPU). The first ``warmup`` batches are run before the clock starts."""
    from ..inference import predict_frames

    from ..structures import Instances

    frames = list(frames)
    batches = [frames[i:i + batch_size] for i in range(0, len(frames), batch_size)]
    results = []
    for i, batch in enumerate(batches[:warmup] + batches):
        if i == warmup:
            _sync(device)
            began = time.perf_counter()
        sizes = [(int(image.shape[0]), int(image.shape[1])) for image in batch]
        found = predict_frames(model, [preprocess(image).to(device) for image in batch], sizes, amp,
                               defer_masks=True)
        if i >= warmup:  # the tracker figure below is taken without masks
            results.extend(Instances(instances.image_size, **{
                k: v for k, v in instances.fields().items() if k != "masks"}).to("cpu") for instances in found)
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


def parse_sizes(texts: Sequence[str]) -> List[Tuple[int, int]]:
    """``HxW`` strings -> (h, w) pairs; a malformed one is a one-line `ConfigError` (the tool's exit code 2)."""
    import argparse

    from ..cli import parse_size
    from ..errors import ConfigError

    sizes = []
    for text in texts:
        try:
            sizes.append(parse_size(text))
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(f"--sizes: {exc}") from None
    return sizes


@dataclass(frozen=True)
class LatencyOptions:
    """How `config_latencies` measures each (config, size), as `measure_latency` takes it: ``runs`` timed calls
    after ``warmup`` untimed ones, on ``batch_size`` images drawn from ``seed``, ``score_thr`` passed to predict
    (None: every top-k detection gets a mask, the worst case)."""

    runs: int = 7
    warmup: int = 2
    score_thr: Optional[float] = None
    seed: int = 0
    batch_size: int = 1


def config_latencies(configs: Sequence[str], sizes: Sequence[Tuple[int, int]],
                     options: LatencyOptions = LatencyOptions(), device: str = "cpu", threads: Optional[int] = None,
                     checkpoint: Optional[str] = None, fold: bool = True, backend: str = "pytorch", amp: bool = False,
                     onnx: Optional[str] = None, compiled: bool = False) -> Iterator[Dict[str, Any]]:
    """`measure_latency` of each config's model, measured as ``options`` says -> rows yielded as they are
    measured, each with what the numbers depend on: ``config``, ``model`` (class), ``device``, ``threads``,
    ``backend``, ``weights`` (the checkpoint or "random weights"), ``batchnorms_folded`` (how many) and
    ``max_per_img``.

    Without ``checkpoint`` the weights are random (``torch.manual_seed(0)``); like `vis.inference.load_model`,
    the model is put in eval mode and its BatchNorms folded unless ``fold`` is False, so both time the same
    graph. Every option is checked before any model is built: bad input is a one-line `ConfigError`."""
    from ..config import load_config
    from ..errors import ConfigError
    from ..inference import check_amp, load_model, resolve_device, runtime_model
    from ..runtime import BACKENDS
    from ..models import build_model
    from ..models.fusion import fold_batchnorms

    if not configs:
        raise ConfigError("no config given")
    if checkpoint is not None and len(configs) != 1:
        raise ConfigError(f"--checkpoint needs exactly one config, got {len(configs)}")
    _check_runs(options.runs, options.warmup, options.batch_size)
    for height, width in sizes:
        if height < 1 or width < 1:
            raise ConfigError(f"--sizes: {height}x{width} is not a positive HxW size")
    if options.score_thr is not None and not 0.0 <= options.score_thr <= 1.0:
        raise ConfigError(f"--score-thr must be in [0, 1], got {options.score_thr}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend}: unknown, use one of {', '.join(BACKENDS)}")
    if onnx is not None and backend != "onnxruntime":
        raise ConfigError("--onnx is run by --backend onnxruntime")
    if onnx is not None and len(configs) != 1:
        raise ConfigError(f"--onnx needs exactly one config, got {len(configs)}")
    torch_device = resolve_device(device)
    check_amp(amp, torch_device)
    if threads:
        torch.set_num_threads(threads)
    loaded = []  # every config read before the first is timed: a typo in the last one fails at once
    for path in configs:
        cfg = load_config(path)
        if cfg.get("model") is None:
            raise ConfigError(f"config {path} has no model section")
        loaded.append((path, cfg))
    for path, cfg in loaded:
        if checkpoint is None:
            torch.manual_seed(0)
            model = build_model(cfg.model)
        else:
            model, _ = load_model(cfg, checkpoint, torch_device, fold_batchnorm=False)
        model.to(torch_device).eval()
        folded = fold_batchnorms(model) if fold else 0
        segmenter = getattr(model, "segmenter", model)
        predictor = runtime_model(model, backend, onnx, threads=torch.get_num_threads(), compiled=compiled,
                                  amp=amp)
        for row in measure_latency(predictor, sizes, runs=options.runs, warmup=options.warmup, device=torch_device,
                                   score_thr=options.score_thr, amp=amp, seed=options.seed,
                                   batch_size=options.batch_size):
            name = type(model).__name__
            if segmenter is not model:
                name += f"({type(segmenter).__name__})"
            yield {"config": path, "model": name, "device": str(torch_device),
                   "threads": torch.get_num_threads(), "backend": backend, "onnx": onnx, "compiled": compiled,
                   "weights": checkpoint if checkpoint is not None else "random weights",
                   "batchnorms_folded": folded, "max_per_img": getattr(segmenter, "max_per_img", None), **row}


def latency_header(row: Dict[str, Any]) -> str:
    """The settings shared by every table of one benchmark run, as one line."""
    threshold = "none (every top-k detection gets a mask)" if row["score_thr"] is None else row["score_thr"]
    rough = " (fewer than 5: the medians are rough)" if row["runs"] < 5 else ""
    backend = row["backend"] + (" (torch.compile)" if row.get("compiled") else "")
    return (f"device {row['device']}, {row['threads']} torch thread(s), backend {backend}, "
            f"amp {'on' if row['amp'] else 'off'}, batch {row['batch_size']}, {row['runs']} timed runs{rough} after "
            f"{row['warmup']} warm-up, score_thr {threshold}")


def latency_table(row: Dict[str, Any]) -> str:
    """One (config, size) row of `config_latencies` as a small text table: a line per part, ms."""
    folded = f"{row['batchnorms_folded']} BatchNorms folded" if row["batchnorms_folded"] else "no BatchNorm folded"
    lines = [f"{row['config']}  {row['model']}  {row['height']}x{row['width']}  {row['weights']}, {folded}",
             f"  {'part':<12s} {'median':>9s} {'min':>9s} {'max':>9s}  ms"]
    for name, spread in row["ms"].items():
        lines.append(f"  {name:<12s} {spread['median']:9.2f} {spread['min']:9.2f} {spread['max']:9.2f}")
    ratio = row["predict_over_backbone_neck"]
    ratio_text = "n/a" if ratio is None else f"{ratio:.2f}x"
    lines.append(f"  detections {row['detections']:g} (median, max_per_img {row['max_per_img']}), "
                 f"predict / (backbone + neck) {ratio_text}")
    if row["batch_size"] > 1:
        lines.append(f"  batch of {row['batch_size']}: {row['per_frame_ms']:.2f} ms per frame (the parts are for "
                     f"the whole batch)")
    if row["score_thr"] is None and row["max_per_img"] and row["detections"] < row["max_per_img"]:
        lines.append("  note: fewer detections than max_per_img without a threshold (e.g. empty boxes dropped): "
                     "masks and paste are timed for these only, not the worst case")
    return "\n".join(lines)


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
