"""Streaming video inference: one video (file or folder of frames) -> tracked instances -> output files.

Three stages overlap, joined by bounded queues so memory does not grow with the video's length::

    FrameReader thread          main thread                         SinkThread
    decode frames     --2-8-->  vis.inference.track_video:  --2-->  render + mp4, JSONL, MOT,
    (vis.io.video)              preprocess, predict, track          YouTube-VIS RLE (vis.io.sinks)

`run_video` is the body of ``tools/run_video.py``: it checks the options, loads the model
(`vis.inference.load_video_model`), wires the three stages and writes the outputs atomically. The Python API
for tracking frames already in memory is `vis.inference.track_video`.

Stopping early: on Ctrl-C (or any error, e.g. a frame that fails to decode) reading stops, the frames
already tracked are still written, every sink is closed as partial (``<stem>.<kind>.partial.<ext>``, see
`vis.io.sinks`), one line on stderr names those files, and the exception is re-raised (the tool exits 130
for Ctrl-C, 2 for bad input).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from vis.errors import VisError
from vis.inference import (build_preprocess, build_video_tracker, check_amp, load_video_model, resolve_device,
                           track_video)
from vis.io.files import make_writable_dir
from vis.io.sink_thread import SinkThread, close_sinks
from vis.io.video import FrameSpan, read_queue_size
from vis.options import RunOptions
from vis.utils.threads import streaming_threads

OUTPUTS = ("vis", "ytvis", "frames", "mot")
# The annotated video draws detections scoring at least this. On the demo clip against its ground truth, the
# instances drawn per frame (a match: mask IoU >= 0.5) score F1 0.844 at 0.10 (the tracker's AP-tuned threshold:
# 4.9 labels per frame for 3.0 objects), 0.905 at 0.20, 0.902 at 0.25 (precision 0.935, recall 0.872) and 0.862
# at 0.40; 0.25 is also Ultralytics' default. Thresholding each track by its best score so far instead scored
# lower at every threshold (0.77-0.87): a tracked object's weak frames are mostly wrong ones.
SHOW_THR = 0.25


# -- run_video -------------------------------------------------------------------------------------
def _check_outputs(outputs: Sequence[str]) -> Tuple[str, ...]:
    outputs = tuple(dict.fromkeys(outputs))
    unknown = [o for o in outputs if o not in OUTPUTS]
    if unknown:
        raise VisError(f"unknown output '{unknown[0]}' (choose from {', '.join(OUTPUTS)})")
    if not outputs:
        raise VisError(f"no outputs selected (choose from {', '.join(OUTPUTS)})")
    return outputs


def _make_sinks(outputs: Sequence[str], out_dir: str, source: Any, class_names: Sequence[str],
                show_thr: float) -> List[Any]:
    from vis.io.sinks import FramesJsonlSink, MOTSink, VisVideoSink, YTVISSink
    from vis.tracking import VideoResultAccumulator

    def make_accumulator(spill_path: str) -> VideoResultAccumulator:
        return VideoResultAccumulator(source.num_frames, source.frame_size, spill_path=spill_path)

    sinks: List[Any] = []
    try:
        for kind in outputs:
            if kind == "vis":
                sinks.append(VisVideoSink(out_dir, source.name, source.fps, source.frame_size, class_names,
                                          input_bit_rate=source.bit_rate, show_thr=show_thr))
            elif kind == "ytvis":
                sinks.append(YTVISSink(out_dir, source.name, make_accumulator, source.start))
            elif kind == "frames":
                sinks.append(FramesJsonlSink(out_dir, source.name, class_names))
            elif kind == "mot":
                sinks.append(MOTSink(out_dir, source.name))
    except BaseException:
        close_sinks(sinks, complete=False)
        raise
    return sinks


@dataclass
class _Prepared:
    """What a run needs once its model is loaded and its outputs are open."""

    model: torch.nn.Module
    tracker: Any
    preprocess: Callable[[Any], torch.Tensor]
    device: torch.device
    threads: int
    sinks: List[Any]


def _prepare(options: RunOptions, source: Any, out_dir: str, outputs: Sequence[str], show_thr: float) -> _Prepared:
    """Load the model on torch's streaming threads (`streaming_threads`, set here), build the tracker, then create
    ``out_dir``, clear it of a killed run's temp files and open the sinks; notes go to stderr."""
    from vis.io.sinks import remove_stale_temp_files

    for note in source.notes:
        print(note, file=sys.stderr)
    device = resolve_device(options.device)
    check_amp(options.amp, device)
    threads = streaming_threads(options.threads)
    torch.set_num_threads(threads)
    loaded = load_video_model(dataclasses.replace(options, threads=threads), device)
    for note in loaded.notes:
        print(note, file=sys.stderr)
    tracker = build_video_tracker(loaded.tracker_cfg, options.score_thr)
    make_writable_dir(out_dir, "output directory")
    for stale in remove_stale_temp_files(out_dir, source.name):
        print(f"removed {stale}, left by an earlier run that was killed", file=sys.stderr)
    sinks = _make_sinks(outputs, out_dir, source, loaded.class_names, show_thr)
    return _Prepared(loaded.model, tracker, build_preprocess(loaded.cfg), device, threads, sinks)


def run_video(path: str, options: Optional[RunOptions] = None, out_dir: str = "out", span: FrameSpan = FrameSpan(),
              outputs: Sequence[str] = OUTPUTS, progress: bool = True,
              on_frame: Optional[Callable[[int], None]] = None, show_thr: float = SHOW_THR) -> Dict[str, Any]:
    """Track the frames of ``span`` of ``path`` (video file or image folder) with ``options``; write ``outputs``.

    Returns ``{"input", "frames", "tracks", "tracker", "threads", "fps" (processing speed), "seconds",
    "video_fps", "frame_size", "start", "end", "outputs": {kind: path}}``. ``options`` (`vis.RunOptions`, default:
    the bundled demo model) names the model, by name, by files or by URL, and how it runs: ``tracker``
    'OnlineTracker' or 'QueryTracker' instead of the config's choice (`choose_tracker`; image models track with
    QueryTracker), ``threads`` torch's CPU threads during the run (`streaming_threads`), ``backend`` 'pytorch' or
    'onnxruntime' for the per-frame network (``onnx``: a file of tools/export_onnx.py, else one is exported now),
    ``compiled``: the network compiled by ``torch.compile``. ``span.fps`` sets the frame rate of a folder of
    frames (default 10, said on stderr) or overrides a video's. ``on_frame(n)`` is called after the n-th frame
    (1-based) is tracked and queued for writing (progress reporting, memory probes). ``show_thr``: the annotated
    video draws the detections scoring at least this; the other outputs keep every track (AP needs the low ones).

    Order: options, video and model files are checked, the model is loaded, and only then is ``out_dir``
    created and cleared of the temp files of an earlier run that was killed (`remove_stale_temp_files`).
    """
    from vis.io.video import FrameReader, open_frame_source

    outputs = _check_outputs(outputs)
    if not 0.0 <= float(show_thr) <= 1.0:
        raise VisError(f"--show-thr must be in [0, 1] (detection scores are probabilities), got {show_thr}")
    options = (options or RunOptions()).check()
    span.check()
    if options.is_demo and progress:
        print("using the bundled demo model (6 synthetic shape classes): for real footage pass --model NAME "
              "(README, model zoo)", file=sys.stderr)
    options = options.resolve(quiet=not progress)
    source = open_frame_source(path, span.start, span.end, span.fps)
    previous_threads = torch.get_num_threads()
    try:
        run = _prepare(options, source, out_dir, outputs, show_thr)
    except BaseException:
        source.close()
        torch.set_num_threads(previous_threads)
        raise

    bar = None
    if progress:
        from vis.utils.progress import progress_bar

        bar = progress_bar(source.num_frames, source.name, unit="frame")
    writer = SinkThread(run.sinks)
    reader = FrameReader(source, queue_size=read_queue_size(source.frame_size))
    track_ids = set()
    complete = False
    began = time.perf_counter()
    try:
        for count, item in enumerate(track_video(run.model, reader, run.tracker, run.device, options.batch_size,
                                                 run.preprocess, options.amp), start=1):
            writer.put(item)
            track_ids.update(int(t) for t in item[2].track_ids.tolist())
            if bar is not None:
                bar.update(1)
            if on_frame is not None:
                on_frame(count)
        writer.finish()
        complete = True
    finally:
        reader.close()
        writer.finish(raise_error=False)
        if bar is not None:
            bar.close()
        source.close()
        torch.set_num_threads(previous_threads)
        written = close_sinks(run.sinks, complete) if complete else _close_partial(run.sinks, writer.frames_written)
    seconds = time.perf_counter() - began
    return {
        "input": path, "frames": writer.frames_written, "tracks": len(track_ids),
        "tracker": type(run.tracker).__name__, "threads": run.threads,
        "fps": writer.frames_written / seconds if seconds > 0 else 0.0, "seconds": seconds,
        "video_fps": source.fps, "frame_size": source.frame_size, "start": source.start, "end": source.end,
        "outputs": written,
    }


def _close_partial(sinks: Sequence[Any], frames: int) -> Dict[str, str]:
    """Close the sinks as partial and say on stderr what was kept; never raises over the original error."""
    try:
        written = close_sinks(sinks, complete=False)
    except BaseException as exc:  # the run is already failing: report, do not mask its exception
        print(f"could not save the partial outputs: {exc}", file=sys.stderr)
        return {}
    if written:
        print(f"stopped after {frames} frames; partial outputs: {', '.join(written.values())}", file=sys.stderr)
    else:
        print("stopped before any frame was written; no outputs", file=sys.stderr)
    return written
