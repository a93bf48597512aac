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
                      peak at frame 100 and at the end; the target is < 50 MB of growth.

Without a checkpoint the config's model runs with random weights (speed only: the number of detections
that pass the score threshold then says nothing about a trained model), saved once to a temporary
checkpoint so that `run_video` loads it exactly as it loads a trained one.
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from vis.config import load_config
from vis.errors import ConfigError, VisError


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
def benchmark_video(config: Optional[str] = None, checkpoint: Optional[str] = None, video: Optional[str] = None,
                    frames: int = 200,
                    long_frames: int = 5000, size: Tuple[int, int] = (360, 640), device: Optional[str] = None,
                    amp: bool = False, score_thr: Optional[float] = None, work_dir: str = "work/benchmark_video",
                    cfg_options: Optional[Sequence[str]] = None, rss_frame: int = 100,
                    tracker: Optional[str] = None, threads: Optional[int] = None, repeats: int = 3,
                    on_figure: Callable[[str, Any, str], None] = _quiet,
                    on_note: Callable[[str], None] = _quiet, batch_size: int = 1, backend: str = "pytorch",
                    onnx: Optional[str] = None, compiled: bool = False) -> Dict[str, Any]:
    """Run every measurement of the module docstring; -> a flat dict of figures.

    ``on_figure(key, value, unit)`` is called as each figure is taken (the tool prints it: the long run takes
    minutes) and ``on_note(text)`` for what is being prepared. Without ``config`` the bundled demo model runs.

    Model-only and end-to-end speed are measured in this one process with the same torch threads (``threads``, by
    default `vis.utils.threads.streaming_threads`: what `run_video` uses), alternately ``repeats`` times, each
    end-to-end run writing to its own folder; the figures are medians with their min-max. End to end does
    everything the model-only loop does and more, so an honest e2e / model ratio is at most about 1.
    ``batch_size`` frames go to each predict call in both (as ``run_video --batch-size``); ``backend``, ``onnx``,
    ``compiled``: the runtime of the per-frame network, as in `run_video`.
    """
    from vis.inference import build_preprocess, build_video_tracker, check_amp, load_video_model, resolve_device
    from vis.utils.benchmark import model_speed, read_frames, synthetic_tracker_ms, tracker_speed
    from vis.utils.threads import streaming_threads

    from .video import resolve_model_files, run_video

    if config is None:
        config, checkpoint = resolve_model_files(None, checkpoint)

    if frames < 1:
        raise VisError(f"--frames must be >= 1, got {frames}")
    if repeats < 1:
        raise VisError(f"--repeats must be >= 1, got {repeats}")
    if batch_size < 1:
        raise VisError(f"--batch-size must be >= 1, got {batch_size}")
    threads = streaming_threads(threads)
    torch.set_num_threads(threads)
    if long_frames and long_frames <= rss_frame:
        raise VisError(f"--long-frames must be larger than {rss_frame} (or 0 to skip the memory run)")
    torch_device = resolve_device(device)
    check_amp(amp, torch_device)
    os.makedirs(work_dir, exist_ok=True)
    if checkpoint is None:
        checkpoint = random_checkpoint(config, work_dir, cfg_options)
        weights = "random"
    else:
        weights = checkpoint
    if video is None:
        video = synthetic_video(work_dir, max(frames, long_frames), size, on_note=on_note)
    report: Dict[str, Any] = {"config": config, "weights": weights, "video": video, "device": str(torch_device),
                              "amp": amp, "threads": threads, "repeats": repeats, "frames": frames,
                              "batch_size": batch_size, "backend": backend, "onnx": onnx, "compiled": compiled}

    def show(key: str, value: Any, unit: str = "") -> None:
        report[key] = value
        on_figure(key, value, unit)

    images, decode_fps = read_frames(video, frames)
    show("frame_size", f"{images[0].shape[0]}x{images[0].shape[1]}")
    show("decode_fps", decode_fps, "frames/s")

    loaded = load_video_model(config, checkpoint, cfg_options, torch_device, tracker, backend, onnx, threads,
                              compiled, amp)
    model = loaded.model
    show("tracker", loaded.tracker_cfg["type"])
    preprocess = build_preprocess(loaded.cfg)
    model_input = tuple(preprocess(images[0]).shape[-2:])
    show("model_input", f"{model_input[0]}x{model_input[1]}")
    model_runs: List[float] = []
    e2e_runs: List[float] = []
    detections = None
    for repeat in range(repeats):
        fps, found = model_speed(model, preprocess, images, torch_device, amp, batch_size=batch_size)
        model_runs.append(fps)
        detections = detections if detections is not None else found
        e2e = run_video(video, config, checkpoint, out_dir=os.path.join(work_dir, f"out_{repeat}"), device=device,
                        score_thr=score_thr, end=frames, progress=False, cfg_options=cfg_options, amp=amp,
                        tracker=tracker, threads=threads, batch_size=batch_size, backend=backend, onnx=onnx,
                        compiled=compiled)
        e2e_runs.append(e2e["fps"])
    model_fps, e2e_fps = statistics.median(model_runs), statistics.median(e2e_runs)
    show("model_fps", model_fps, f"frames/s (median of {repeats}, {min(model_runs):.2f}-{max(model_runs):.2f})")
    show("end_to_end_fps", e2e_fps, f"frames/s (median of {repeats}, {min(e2e_runs):.2f}-{max(e2e_runs):.2f}; "
         f"all four outputs)")
    show("end_to_end_over_model", e2e_fps / model_fps, "(same process, same threads, runs alternated)")
    del images

    tracking = tracker_speed(build_video_tracker(loaded.tracker_cfg, score_thr), detections)
    show("tracker_ms_per_frame", tracking["mean_ms"], f"ms (median {tracking['median_ms']:.3f}; "
         f"{tracking['mean_live_tracks']:.1f} live tracks, {tracking['mean_detections']:.1f} detections per frame)")
    show("tracker_ms_10_tracks", synthetic_tracker_ms(), "ms (synthetic: 10 live tracks x 10 detections, median)")
    del model, detections

    out_dir = os.path.join(work_dir, "out_long")

    if long_frames:
        # In a fresh process, so that the memory is the pipeline's alone, not what the measurements above left.
        began = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        worker = context.Process(target=_long_run, args=(queue, video, config, checkpoint, out_dir, device, score_thr,
                                                         long_frames, cfg_options, amp, rss_frame, threads, tracker,
                                                         dict(batch_size=batch_size, backend=backend, onnx=onnx,
                                                              compiled=compiled)))
        worker.start()
        outcome = queue.get()
        worker.join()
        if "error" in outcome:
            raise VisError(f"the long run failed: {outcome['error']}")
        run, early, end = outcome["run"], outcome["early"], outcome["end"]
        show("long_run_frames", run["frames"], f"frames in {time.perf_counter() - began:.0f} s ({run['fps']:.2f} frames/s)")
        show(f"rss_mb_at_frame_{rss_frame}", early[0], f"MB (peak so far {early[1]:.1f} MB)")
        show("rss_mb_at_end", end[0], f"MB (peak {end[1]:.1f} MB, outputs written)")
        show("rss_growth_mb", end[0] - early[0], f"MB from frame {rss_frame} to {run['frames']}")
        show("peak_rss_growth_mb", end[1] - early[1], "MB")
    return report


def _long_run(queue: Any, video: str, config: str, checkpoint: str, out_dir: str, device: Optional[str],
              score_thr: Optional[float], frames: int, cfg_options: Optional[Sequence[str]], amp: bool,
              rss_frame: int, threads: int, tracker: Optional[str] = None,
              runtime: Optional[Dict[str, Any]] = None) -> None:
    """Body of the memory run's process: `run_video` with a probe at ``rss_frame``; reports through ``queue``."""
    from vis.utils.benchmark import memory_mb

    from .video import run_video

    torch.set_num_threads(threads)
    probes: Dict[str, Tuple[float, float]] = {}

    def on_frame(count: int) -> None:
        if count == rss_frame:
            probes["early"] = memory_mb()

    try:
        run = run_video(video, config, checkpoint, out_dir=out_dir, device=device, score_thr=score_thr, end=frames,
                        progress=True, cfg_options=cfg_options, amp=amp, tracker=tracker, threads=threads,
                        on_frame=on_frame, **(runtime or {}))
        queue.put({"run": {k: run[k] for k in ("frames", "fps")}, "early": probes["early"], "end": memory_mb()})
    except BaseException as exc:  # the parent turns it into a one-line error
        queue.put({"error": f"{type(exc).__name__}: {exc}"})
