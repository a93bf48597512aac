"""Streaming video inference: one video (file, folder of frames, camera or stream) -> tracked instances -> files.

Three stages overlap, joined by bounded queues so memory does not grow with the video's length::

    FrameReader thread          main thread                         SinkThread
    decode frames     --2-8-->  vis.inference.track_video:  --2-->  render + mp4, JSONL, MOT,
    (vis.io.video)              preprocess, predict, track          YouTube-VIS RLE (vis.io.sinks)

`run_video` is the body of ``tools/run_video.py``: it checks the options, opens the input, loads the model
(`VideoRunner`, which a batch of many videos loads once: `pipelines.batch`), wires the three stages and writes
the outputs atomically. The Python API for tracking frames already in memory is `vis.inference.track_video`.

Stopping early: on Ctrl-C (or any error, e.g. a frame that fails to decode) reading stops, the frames
already tracked are still written, every sink is closed as partial (``<stem>.<kind>.partial.<ext>``, see
`vis.io.sinks`), one line on stderr names those files, and the exception is re-raised (the tool exits 130
for Ctrl-C, 2 for bad input). A live source is the exception: it has no end, so Ctrl-C and SIGTERM end its run
with complete outputs (still exit 130 / 143), as does a stream that ends or does not come back after a drop
(exit 0); each drop it survived is one record in the JSONL and in the summary (`vis.io.stream`).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from vis.errors import VisError
from vis.inference import (build_preprocess, build_video_tracker, check_amp, load_video_model, resolve_device,
                           track_video)
from vis.io.files import make_writable_dir
from vis.io.sink_thread import SinkThread, close_sinks
from vis.cli import Terminated
from vis.io.video import FrameReader, FrameSpan, read_queue_size
from vis.options import RunOptions
from vis.utils.threads import streaming_threads

OUTPUTS = ("vis", "ytvis", "frames", "mot")
# The annotated video draws detections scoring at least this. The tracker's AP-tuned threshold is lower, because
# AP rewards keeping weak detections, and drawing all of them labels far more instances per frame than there are
# objects; 0.25 is near the best F1 of the drawn instances against the demo clip's ground truth
# (docs/performance.md) and is Ultralytics' default. The threshold applies per detection, not to a track's best
# score so far: a tracked object's weak frames are mostly wrong ones.
SHOW_THR = 0.25


# -- run_video -------------------------------------------------------------------------------------
def check_outputs(outputs: Sequence[str]) -> Tuple[str, ...]:
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

    def make_accumulator(spill_path: str) -> VideoResultAccumulator:  # a live source: as many frames as come
        return VideoResultAccumulator(source.num_frames, source.frame_size, spill_path=spill_path)

    sinks: List[Any] = []
    try:
        for kind in outputs:
            if kind == "vis":
                sinks.append(VisVideoSink(out_dir, source.name, source.output_fps, source.frame_size, class_names,
                                          input_bit_rate=source.bit_rate, show_thr=show_thr))
            elif kind == "ytvis":
                sinks.append(YTVISSink(out_dir, source.name, make_accumulator, source.start, source.stride))
            elif kind == "frames":
                sinks.append(FramesJsonlSink(out_dir, source.name, class_names))
            elif kind == "mot":
                sinks.append(MOTSink(out_dir, source.name))
    except BaseException:
        close_sinks(sinks, complete=False)
        raise
    return sinks


class VideoRunner:
    """A model loaded once (on torch's streaming threads, `streaming_threads`, set for the runner's life) and run
    on one video after another: `tools/run_video.py` runs one, a batch (`pipelines.batch`) many. ``options`` are
    checked and resolved (`RunOptions.check`, `RunOptions.resolve`); the notes of loading go to stderr."""

    def __init__(self, options: RunOptions, progress: bool = True):
        self.options, self.progress = options, progress
        self.device = resolve_device(options.device)
        check_amp(options.amp, self.device)
        self.threads = streaming_threads(options.threads)
        self._previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            loaded = load_video_model(dataclasses.replace(options, threads=self.threads), self.device)
        except BaseException:
            self.close()
            raise
        for note in loaded.notes:
            print(note, file=sys.stderr)
        self.model, self.class_names, self.tracker_cfg = loaded.model, loaded.class_names, loaded.tracker_cfg
        self.preprocess = build_preprocess(loaded.cfg)

    def close(self) -> None:
        torch.set_num_threads(self._previous_threads)

    def __enter__(self) -> "VideoRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(self, source: Any, out_dir: str, outputs: Sequence[str] = OUTPUTS, show_thr: float = SHOW_THR,
            on_frame: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
        """Track the open ``source`` (`vis.io.sources.open_source`) into ``out_dir``; see `run_video`. The source
        is closed on return. A new tracker per video, so track ids start at 0 in each."""
        from vis.io.sinks import remove_stale_temp_files

        try:
            tracker = build_video_tracker(self.tracker_cfg, self.options.score_thr)
            make_writable_dir(out_dir, "output directory")
            for stale in remove_stale_temp_files(out_dir, source.name):
                print(f"removed {stale}, left by an earlier run that was killed", file=sys.stderr)
            sinks = _make_sinks(outputs, out_dir, source, self.class_names, show_thr)
        except BaseException:
            source.close()
            raise
        return _Run(self, source, tracker, sinks).go(on_frame)


class _Run:
    """One video through the three stages; `go` returns `run_video`'s summary."""

    def __init__(self, runner: VideoRunner, source: Any, tracker: Any, sinks: List[Any]):
        self.runner, self.source, self.tracker, self.sinks = runner, source, tracker, sinks
        self.writer = SinkThread(sinks)
        self.track_ids: set = set()
        self.gaps_written = 0
        self.stopped_by: Optional[str] = None  # a live run's Ctrl-C / SIGTERM, which keep its outputs complete

    def _write_gaps(self, up_to: Optional[int]) -> None:
        """Queue the live source's drops that happened before frame ``up_to`` (None: all of them) for the JSONL."""
        gaps = getattr(self.source, "gaps", ())
        while self.gaps_written < len(gaps):
            gap = gaps[self.gaps_written]
            if up_to is not None and gap.next_frame > up_to:
                return
            self.writer.put(gap)
            self.gaps_written += 1

    def _loop(self, on_frame: Optional[Callable[[int], None]], bar: Any) -> None:
        runner = self.runner
        reader = FrameReader(self.source, queue_size=read_queue_size(self.source.frame_size))
        try:
            frames = track_video(runner.model, reader, self.tracker, runner.device, runner.options.batch_size,
                                 runner.preprocess, runner.options.amp)
            for count, item in enumerate(frames, start=1):
                self._write_gaps(item[0])
                self.writer.put(item)
                self.track_ids.update(int(t) for t in item[2].track_ids.tolist())
                if bar is not None:
                    bar.update(1)
                if on_frame is not None:
                    on_frame(count)
        except (KeyboardInterrupt, Terminated) as exc:
            if not self.source.live:
                raise
            self.stopped_by = exc  # a live source has no end: stopping it is how a run ends
        finally:
            reader.close()

    def go(self, on_frame: Optional[Callable[[int], None]]) -> Dict[str, Any]:
        bar = None
        if self.runner.progress:
            from vis.utils.progress import progress_bar

            bar = progress_bar(self.source.num_frames, self.source.name, unit="frame")
        complete = False
        began = time.perf_counter()
        try:
            self._loop(on_frame, bar)
            self._write_gaps(None)
            self.writer.finish()
            complete = True
        finally:
            self.writer.finish(raise_error=False)
            if bar is not None:
                bar.close()
            self.source.close()
            written = close_sinks(self.sinks, complete) if complete else \
                _close_partial(self.sinks, self.writer.frames_written)
        summary = self._summary(time.perf_counter() - began, written)
        if self.stopped_by is not None:
            print(f"{self.source.name}: stopped after {summary['frames']} frames; outputs complete up to then",
                  file=sys.stderr)
            raise self.stopped_by
        return summary

    def _summary(self, seconds: float, written: Dict[str, str]) -> Dict[str, Any]:
        source, frames = self.source, self.writer.frames_written
        summary = {
            "input": source.path, "frames": frames, "tracks": len(self.track_ids),
            "tracker": type(self.tracker).__name__, "threads": self.runner.threads,
            "fps": frames / seconds if seconds > 0 else 0.0, "seconds": seconds,
            "video_fps": source.fps, "frame_size": source.frame_size, "start": source.start, "end": source.end,
            "outputs": written,
        }
        if source.live:
            summary["gaps"] = [gap.record() for gap in source.gaps]
            summary["end_reason"] = source.end_reason
            if source.end_reason:
                print(f"{source.name}: {source.end_reason}; outputs complete up to frame {frames}", file=sys.stderr)
        return summary


def run_video(path: str, options: Optional[RunOptions] = None, out_dir: str = "out", span: FrameSpan = FrameSpan(),
              outputs: Sequence[str] = OUTPUTS, progress: bool = True,
              on_frame: Optional[Callable[[int], None]] = None, show_thr: float = SHOW_THR) -> Dict[str, Any]:
    """Track the frames of ``span`` of ``path`` (video file, image folder, webcam or stream URL); write ``outputs``.

    Returns ``{"input", "frames", "tracks", "tracker", "threads", "fps" (processing speed), "seconds",
    "video_fps", "frame_size", "start", "end", "outputs": {kind: path}}``, and for a live source ``"gaps"`` (the
    drops survived, `vis.io.stream.StreamGap`) and ``"end_reason"``. ``options`` (`vis.RunOptions`, default:
    the bundled demo model) names the model, by name, by files or by URL, and how it runs: ``tracker``
    'OnlineTracker' or 'QueryTracker' instead of the config's choice (`choose_tracker`; image models track with
    QueryTracker), ``threads`` torch's CPU threads during the run (`streaming_threads`), ``backend`` 'pytorch' or
    'onnxruntime' for the per-frame network (``onnx``: a file of tools/export_onnx.py, else one is exported now),
    ``compiled``: the network compiled by ``torch.compile``. ``span`` picks the frames (``start``, ``end``,
    ``stride``: every n-th, the outputs' rate divided by it), ``span.fps`` sets the frame rate of a folder of
    frames (default 10, said on stderr) or overrides a video's, ``span.timeout`` and ``span.reconnect`` govern a
    live source. ``on_frame(n)`` is called after the n-th frame (1-based) is tracked and queued for writing
    (progress reporting, memory probes). ``show_thr``: the annotated video draws the detections scoring at least
    this; the other outputs keep every track (AP needs the low ones).

    A live source (camera, stream) ends when it ends, when ``span.end`` is reached, or on Ctrl-C / SIGTERM: the
    outputs are complete up to the last frame processed (the interrupt is re-raised after they are written).

    Order: options, input and model files are checked, the input is opened, the model is loaded, and only then is
    ``out_dir`` created and cleared of the temp files of an earlier run that was killed (`remove_stale_temp_files`).
    """
    from vis.io.sources import open_source

    outputs = check_outputs(outputs)
    check_show_thr(show_thr)
    options = (options or RunOptions()).check()
    span.check()
    if options.is_demo and progress:
        print("using the bundled demo model (6 synthetic shape classes): for real footage pass --model NAME "
              "(README, model zoo)", file=sys.stderr)
    options = options.resolve(quiet=not progress)
    source = open_source(path, span)
    for note in source.notes:
        print(note, file=sys.stderr)
    try:
        runner = VideoRunner(options, progress)
    except BaseException:
        source.close()
        raise
    with runner:
        return runner.run(source, out_dir, outputs, show_thr, on_frame)


def check_show_thr(show_thr: float) -> None:
    if not 0.0 <= float(show_thr) <= 1.0:
        raise VisError(f"--show-thr must be in [0, 1] (detection scores are probabilities), got {show_thr}")


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
