"""Where the time and memory of streaming video inference go: the body of ``tools/benchmark_video.py``.

On the same frames of one synthetic video it measures, in this order:

1. decode fps      -- the frame reader alone (PyAV / image folder, `vis.io.video.FrameReader`);
2. model fps       -- test-time resize + ``model.predict`` (backbone, heads; masks deferred, since the pipeline
                      pastes only the tracked ones) on frames already in memory, ``batch_size`` at a time
                      (default 1), after warm-up; the ceiling for end-to-end speed;
3. tracker ms      -- ``tracker.update`` on the model's own detections of those frames (the tracker's own score
                      filter, as in the pipeline), plus the synthetic 10-tracks x 10-detections case of
                      ``tools/benchmark_tracker.py`` for a figure that does not depend on the weights;
4. end-to-end fps  -- `pipelines.video.run_video` with every output (annotated mp4, YouTube-VIS JSON, JSONL,
                      MOT), model loading excluded; the target is >= 0.95 x model fps. Model-only and end-to-end
                      run alternately (``repeats`` times, medians and min-max) in one process with the same torch
                      threads, so their ratio is an honest one;
5. memory          -- `run_video` over a long video (default 5,000 frames): resident memory (RSS) and its
                      peak at frame 100 and at the end; the target is < 50 MB of growth;
6. many videos and a live stream (``many_videos``, ``live_frames``; off by default): `pipelines.benchmark_batch`.

Without a checkpoint the config's model runs with random weights (speed only: the number of detections
that pass the score threshold then says nothing about a trained model), saved once to a temporary
checkpoint so that `run_video` loads it exactly as it loads a trained one.
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from vis.config import load_config
from vis.errors import ConfigError, VisError
from vis.io.video import FrameSpan
from vis.options import RunOptions


def _quiet(*_: Any) -> None:
    """The default of the reporting callbacks: a library function prints nothing itself."""


# -- inputs ------------------------------------------------------------------------------------------
def synthetic_video(work_dir: str, num_frames: int, size: Tuple[int, int], seed: int = 0,
                    on_note: Callable[[str], None] = _quiet) -> str:
    """``work_dir/long_<h>x<w>_<n>.mp4`` (written once, then reused): see `write_long_video`."""
    from vis.data.synthetic import write_long_video

    height, width = size
    path = os.path.join(work_dir, f"long_{height}x{width}_{num_frames}.mp4")
    if not os.path.isfile(path):
        on_note(f"writing {num_frames}-frame synthetic video {path} ...")
        write_long_video(path, num_frames, height, width, seed=seed, progress=True)
    return path


def random_checkpoint(config: str, work_dir: str, cfg_options: Optional[Sequence[str]] = None) -> str:
    """Save the config's model with its initial (random) weights; -> the checkpoint path."""
    from vis.engine.checkpoint import save_checkpoint
    from vis.models import build_model

    cfg = load_config(config, cfg_options)
    if cfg.get("model") is None:
        raise ConfigError(f"config {config} has no model section")
    torch.manual_seed(0)
    model = build_model(cfg.model)
    name = os.path.splitext(os.path.basename(config))[0]
    path = os.path.join(work_dir, "random_weights", name, "random.pth")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return save_checkpoint(path, model, meta={"note": "random weights, for speed measurements only"})


# -- the measurements --------------------------------------------------------------------------------
@dataclass
class BenchmarkPlan:
    """What to measure on: the video (default: a synthetic one of ``size``, written once under ``work_dir``),
    the frames of the speed figures, the length of the memory run (0 skips it) and the frame of its first memory
    probe, and how many alternated model-only / end-to-end runs."""

    video: Optional[str] = None
    frames: int = 200
    long_frames: int = 5000
    size: Tuple[int, int] = (360, 640)
    repeats: int = 3
    work_dir: str = "work/benchmark_video"
    rss_frame: int = 100
    many_videos: int = 0  # short clips run as one batch and as separate processes (0: skip)
    many_frames: int = 20  # frames per short clip
    live_frames: int = 0  # frames of the live-stream memory run (0: skip)

    def many(self) -> Any:
        """The `pipelines.benchmark_batch.ManyVideosPlan` of these figures."""
        from .benchmark_batch import ManyVideosPlan

        return ManyVideosPlan(self.many_videos, self.many_frames, self.live_frames, self.size,
                              work_dir=self.work_dir)

    def check(self) -> "BenchmarkPlan":
        if self.frames < 1:
            raise VisError(f"--frames must be >= 1, got {self.frames}")
        if self.repeats < 1:
            raise VisError(f"--repeats must be >= 1, got {self.repeats}")
        if self.long_frames and self.long_frames <= self.rss_frame:
            raise VisError(f"--long-frames must be larger than {self.rss_frame} (or 0 to skip the memory run)")
        self.many().check()
        return self


def benchmark_video(options: RunOptions, plan: BenchmarkPlan, on_figure: Callable[[str, Any, str], None] = _quiet,
                    on_note: Callable[[str], None] = _quiet) -> Dict[str, Any]:
    """Run every measurement of the module docstring; -> a flat dict of figures.

    ``on_figure(key, value, unit)`` is called as each figure is taken (the tool prints it: the long run takes
    minutes) and ``on_note(text)`` for what is being prepared. ``options`` name the model as `run_video`'s do
    (nothing: the bundled demo model), and a config alone runs with random weights.

    Model-only and end-to-end speed are measured in this one process with the same torch threads (``threads``, by
    default `vis.utils.threads.streaming_threads`: what `run_video` uses), alternately ``plan.repeats`` times, each
    end-to-end run writing to its own folder; the figures are medians with their min-max. End to end does
    everything the model-only loop does and more, so an honest e2e / model ratio is at most about 1.
    ``batch_size`` frames go to each predict call in both (as ``run_video --batch-size``); ``backend``, ``onnx``,
    ``compiled``: the runtime of the per-frame network, as in `run_video`.
    """
    from vis.inference import build_preprocess, build_video_tracker, check_amp, load_video_model, resolve_device
    from vis.utils.benchmark import model_speed, read_frames, synthetic_tracker_ms, tracker_speed
    from vis.utils.threads import streaming_threads

    from .video import run_video

    options.check(config_alone=True)
    plan.check()
    threads = streaming_threads(options.threads)
    torch.set_num_threads(threads)
    torch_device = resolve_device(options.device)
    check_amp(options.amp, torch_device)
    os.makedirs(plan.work_dir, exist_ok=True)
    weights = "random" if options.config is not None and options.checkpoint is None else None
    if weights:
        options = replace(options, checkpoint=random_checkpoint(options.config, plan.work_dir, options.cfg_options))
    options = replace(options.resolve(quiet=True), threads=threads)
    video = plan.video or synthetic_video(plan.work_dir, max(plan.frames, plan.long_frames, plan.live_frames),
                                          plan.size, on_note=on_note)
    report: Dict[str, Any] = {"config": options.config, "weights": weights or options.checkpoint, "video": video,
                              "device": str(torch_device), "amp": options.amp, "threads": threads,
                              "repeats": plan.repeats, "frames": plan.frames, "batch_size": options.batch_size,
                              "backend": options.backend, "onnx": options.onnx, "compiled": options.compiled}

    def show(key: str, value: Any, unit: str = "") -> None:
        report[key] = value
        on_figure(key, value, unit)

    images, decode_fps = read_frames(video, plan.frames)
    show("frame_size", f"{images[0].shape[0]}x{images[0].shape[1]}")
    show("decode_fps", decode_fps, "frames/s")

    loaded = load_video_model(options, torch_device)
    model = loaded.model
    show("tracker", loaded.tracker_cfg["type"])
    preprocess = build_preprocess(loaded.cfg)
    model_input = tuple(preprocess(images[0]).shape[-2:])
    show("model_input", f"{model_input[0]}x{model_input[1]}")
    model_runs: List[float] = []
    e2e_runs: List[float] = []
    detections = None
    for repeat in range(plan.repeats):
        fps, found = model_speed(model, preprocess, images, torch_device, options.amp, batch_size=options.batch_size)
        model_runs.append(fps)
        detections = detections if detections is not None else found
        e2e = run_video(video, options, out_dir=os.path.join(plan.work_dir, f"out_{repeat}"),
                        span=FrameSpan(end=plan.frames), progress=False)
        e2e_runs.append(e2e["fps"])
    model_fps, e2e_fps = statistics.median(model_runs), statistics.median(e2e_runs)
    show("model_fps", model_fps, f"frames/s (median of {plan.repeats}, {min(model_runs):.2f}-{max(model_runs):.2f})")
    show("end_to_end_fps", e2e_fps, f"frames/s (median of {plan.repeats}, {min(e2e_runs):.2f}-{max(e2e_runs):.2f}; "
         f"all four outputs)")
    show("end_to_end_over_model", e2e_fps / model_fps, "(same process, same threads, runs alternated)")
    del images

    tracking = tracker_speed(build_video_tracker(loaded.tracker_cfg, options.score_thr), detections)
    show("tracker_ms_per_frame", tracking["mean_ms"], f"ms (median {tracking['median_ms']:.3f}; "
         f"{tracking['mean_live_tracks']:.1f} live tracks, {tracking['mean_detections']:.1f} detections per frame)")
    show("tracker_ms_10_tracks", synthetic_tracker_ms(), "ms (synthetic: 10 live tracks x 10 detections, median)")
    del model, detections

    _long_runs(video, options, plan, show, on_note)
    return report


def _long_runs(video: str, options: RunOptions, plan: BenchmarkPlan, show: Callable[..., None],
               on_note: Callable[[str], None]) -> None:
    """Parts 5 and 6: memory over a long video, then many videos and a live stream, where the plan asks."""
    if plan.long_frames:
        _memory_run(video, options, plan, show)
    if plan.many_videos or plan.live_frames:
        from .benchmark_batch import benchmark_many_videos

        benchmark_many_videos(options, plan.many(), video, show, on_note)


def _memory_run(video: str, options: RunOptions, plan: BenchmarkPlan, show: Callable[..., None]) -> None:
    """The long run, in a fresh process so that the memory is the pipeline's alone, not what the measurements
    before it left."""
    began = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    out_dir = os.path.join(plan.work_dir, "out_long")
    worker = context.Process(target=long_run, args=(queue, video, options, out_dir, plan.long_frames,
                                                     plan.rss_frame))
    worker.start()
    outcome = queue.get()
    worker.join()
    if "error" in outcome:
        raise VisError(f"the long run failed: {outcome['error']}")
    run, early, end = outcome["run"], outcome["early"], outcome["end"]
    rss_frame = plan.rss_frame
    show("long_run_frames", run["frames"], f"frames in {time.perf_counter() - began:.0f} s ({run['fps']:.2f} frames/s)")
    show(f"rss_mb_at_frame_{rss_frame}", early[0], f"MB (peak so far {early[1]:.1f} MB)")
    show("rss_mb_at_end", end[0], f"MB (peak {end[1]:.1f} MB, outputs written)")
    show("rss_growth_mb", end[0] - early[0], f"MB from frame {rss_frame} to {run['frames']}")
    show("peak_rss_growth_mb", end[1] - early[1], "MB")


def long_run(queue: Any, video: str, options: RunOptions, out_dir: str, frames: int, rss_frame: int) -> None:
    """Body of the memory run's process: `run_video` with a probe at ``rss_frame``; reports through ``queue``."""
    from vis.utils.benchmark import MemoryProbe, memory_mb

    from .video import run_video

    torch.set_num_threads(options.threads)
    probe = MemoryProbe(at=rss_frame)
    try:
        run = run_video(video, options, out_dir=out_dir, span=FrameSpan(end=frames), progress=True, on_frame=probe)
        queue.put({"run": {k: run[k] for k in ("frames", "fps")}, "early": probe.reading, "end": memory_mb()})
    except BaseException as exc:  # the parent turns it into a one-line error
        queue.put({"error": f"{type(exc).__name__}: {exc}"})
