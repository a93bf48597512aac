"""Streaming video inference: one video (file or folder of frames) -> tracked instances -> output files.

Three stages overlap, joined by bounded queues so memory does not grow with the video's length::

    FrameReader thread          main thread                         sink thread
    decode frames     --2-8-->  preprocess, model.predict,  --2-->  render + mp4, JSONL, MOT,
    (vis.io.video)              score filter, tracker.update        YouTube-VIS RLE (vis.io.sinks)

`track_frames` is the Python API (an iterator over per-frame tracked results); `run_video` is the body of
``tools/run_video.py``: it loads the model, wires the three stages and writes the outputs atomically.

Stopping early: on Ctrl-C (or any error, e.g. a frame that fails to decode) reading stops, the frames
already tracked are still written, every sink is closed as partial (``<stem>.<kind>.partial.<ext>``, see
`vis.io.sinks`), one line on stderr names those files, and the exception is re-raised (the tool exits 130
for Ctrl-C, 2 for bad input).
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from vis.config import load_config, to_plain
from vis.engine.checkpoint import resolve_checkpoint
from vis.errors import CheckpointError, ConfigError, VisError
from vis.structures import Instances, image_masks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.py")
DEMO_CHECKPOINT = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.pth")
OUTPUTS = ("vis", "ytvis", "frames", "mot")
TRACK_HEAD_TRACKER = "OnlineTracker"  # MaskTrack R-CNN association on a trained track head's embeddings
QUERY_TRACKER = "QueryTracker"  # training-free association on the segmenter's query embeddings
# Decoded frames waiting for the model: as many as fit in READ_QUEUE_BYTES, 2 to 8 (8 at 360p, 4 at 720p, 2 at
# 1080p). Decoding runs 20-40x faster than the model on a CPU, so the queue is always full: every frame in it
# is resident memory, and two are enough to hide decode jitter.
READ_QUEUE_BYTES = 12 << 20
WRITE_QUEUE_SIZE = 2  # tracked frames (image + masks) waiting for the sinks, which keep up with the model

TrackedFrame = Tuple[int, np.ndarray, Instances]


# -- model ----------------------------------------------------------------------------------------
def resolve_model_files(config: Optional[str], checkpoint: Optional[str]) -> Tuple[str, str]:
    """Both given, or neither (the bundled demo model); a missing demo model is a one-line VisError."""
    if config is None and checkpoint is None:
        if os.path.isfile(DEMO_CONFIG) and os.path.isfile(DEMO_CHECKPOINT):
            return DEMO_CONFIG, DEMO_CHECKPOINT
        raise VisError(
            f"no model given and the bundled demo model is missing ({os.path.relpath(DEMO_CONFIG, REPO)} + "
            f"{os.path.relpath(DEMO_CHECKPOINT, REPO)}): pass --config CONFIG --checkpoint CKPT, e.g. an "
            f"official COCO model (README, model zoo)"
        )
    if config is None or checkpoint is None:
        raise VisError("give both --config and --checkpoint (or neither, for the bundled demo model)")
    checkpoint = resolve_checkpoint(checkpoint)  # also <work dir>/latest.pth or the work dir
    return config, checkpoint


def class_names_for(model: torch.nn.Module, cfg: Any, checkpoint_names: Optional[Sequence[str]]) -> List[str]:
    """Names of labels 0..K-1: the checkpoint's (its meta, any layout), else the config's ``class_names`` (a list
    or a table name such as 'coco'), else the model's, else 'class 0', 'class 1', ..."""
    from vis.data.label_space import config_class_names

    num_classes = int(model.num_classes)
    for names in (checkpoint_names, config_class_names(cfg.get("class_names")), getattr(model, "class_names", None)):
        if names is not None and len(names) == num_classes:
            return [str(n) for n in names]
    return [f"class {i}" for i in range(num_classes)]


@dataclass
class VideoModel:
    """What every video path needs from a config + checkpoint.

    ``model`` is what runs per frame: a `VideoSegmenter` when its track head tracks, else a `FrameSegmenter`
    (an image model, or a video model's segmenter when the query tracker is chosen). ``tracker_cfg`` is the
    tracker section to build; ``notes`` are the lines the tools print on stderr: what loading changed in the
    checkpoint (e.g. SOLQ's 91 class slots mapped to 80 labels) and why the tracker is not the config's.
    """

    model: torch.nn.Module
    cfg: Any
    class_names: List[str]
    tracker_cfg: Dict[str, Any]
    notes: List[str] = field(default_factory=list)

    def print_notes(self) -> None:
        """The notes on stderr, one per line (the tools call this once the model is loaded)."""
        for note in self.notes:
            print(note, file=sys.stderr)


def choose_tracker(cfg: Any, tracker: Optional[str], is_video_model: bool, has_track_head: bool,
                   checkpoint: str) -> Tuple[Dict[str, Any], Optional[str]]:
    """-> (tracker section, note). ``tracker`` (e.g. ``--tracker QueryTracker``) overrides the config's type.

    Default: the config's ``tracker`` section; without one, OnlineTracker (the track head) for a video model and
    QueryTracker (query embeddings, no training) for an image model. A named type other than the config's gets
    that tracker's documented defaults. A video config whose checkpoint has no track head (a COCO file) tracks
    with QueryTracker and says so; asking for OnlineTracker there, or for an image model, is a one-line error.
    """
    from vis.tracking import TRACKERS

    section = dict(to_plain(cfg.get("tracker") or {}))
    if tracker is not None and tracker not in TRACKERS:
        raise ConfigError(f"unknown tracker '{tracker}' (choose from {', '.join(TRACKERS)})")
    explicit = tracker or section.get("type")
    name = explicit or (TRACK_HEAD_TRACKER if is_video_model else QUERY_TRACKER)
    note = None
    if name == TRACK_HEAD_TRACKER and not has_track_head:
        if not is_video_model:
            raise ConfigError(f"{TRACK_HEAD_TRACKER} associates with a track head, and the config's model is an "
                              f"image model without one: use --tracker {QUERY_TRACKER} (or drop the tracker section)")
        if tracker == TRACK_HEAD_TRACKER:
            raise CheckpointError(f"checkpoint {checkpoint} has no track head, which --tracker {TRACK_HEAD_TRACKER} "
                                  f"needs: finetune it on videos, or track with --tracker {QUERY_TRACKER}")
        name = QUERY_TRACKER
        note = (f"checkpoint {os.path.basename(checkpoint)} has no track head (an image model): tracking with "
                f"{QUERY_TRACKER} on the segmenter's query embeddings")
    if section.get("type") == name:
        return section, note
    return dict(type=name), note


def load_video_model(config: str, checkpoint: str, cfg_options: Optional[Sequence[str]] = None,
                     device: Optional[torch.device] = None, tracker: Optional[str] = None) -> VideoModel:
    """Config + checkpoint -> `VideoModel` (model in eval mode on ``device``, config, class names, tracker).

    Any segmenter tracks: a video model (segmenter + track head) with its track head by default, an image model
    (e.g. an official COCO checkpoint) with `QueryTracker`; see `choose_tracker`. A checkpoint that does not fit
    the config (another segmenter, a video checkpoint with an image config) is a one-line CheckpointError.
    """
    from vis.engine.checkpoint import load_checkpoint
    from vis.models import build_model

    cfg = load_config(config, cfg_options)
    if cfg.get("model") is None:
        raise ConfigError(f"config {config} has no model section")
    model = build_model(cfg.model)
    is_video_model = hasattr(model, "track_head")
    report = load_checkpoint(model, checkpoint, same_architecture=True)
    has_track_head = is_video_model and not any(key.startswith("track_head.") for key in report.missing)
    tracker_cfg, note = choose_tracker(cfg, tracker, is_video_model, has_track_head, checkpoint)
    class_names = class_names_for(model, cfg, report.class_names)
    if is_video_model and tracker_cfg["type"] != TRACK_HEAD_TRACKER:
        model = model.segmenter  # the same per-frame weights; the track head would only cost time
    model.to(device or torch.device("cpu"))
    model.eval()
    notes = [f"{os.path.basename(checkpoint)}: {line}" for line in report.notes]
    return VideoModel(model, cfg, class_names, tracker_cfg, notes + ([note] if note else []))


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> float32 [3, H, W] 0..255, the model's input layout."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def build_preprocess(cfg: Any) -> Callable[[np.ndarray], torch.Tensor]:
    """HxWx3 uint8 RGB -> float32 [3, h, w] 0..255 after the config's test transforms (``data.test``, else
    ``data.val``; none: full resolution). Test transforms are deterministic; a fixed rng keeps it so."""
    from vis.data.transforms import Compose

    data = to_plain(cfg.get("data") or {})
    split = data.get("test") or data.get("val") or {}
    transforms = Compose(split.get("transforms") or [])

    def preprocess(image: np.ndarray) -> torch.Tensor:
        if len(transforms):
            image = transforms({"image": image}, np.random.default_rng(0))["image"]
        return _to_tensor(image)

    return preprocess


def build_video_tracker(tracker_cfg: Mapping[str, Any], score_thr: Optional[float] = None):
    """Build a tracker section (`VideoModel.tracker_cfg`). ``score_thr`` replaces both its ``score_thr`` and
    ``init_score_thr``: detections below it are dropped, every other one may start a track."""
    from vis.tracking import build_tracker

    tracker_cfg = dict(tracker_cfg)
    if score_thr is not None:
        tracker_cfg.update(score_thr=float(score_thr), init_score_thr=float(score_thr))
    return build_tracker(tracker_cfg)


# -- the Python API --------------------------------------------------------------------------------
def track_frames(model: torch.nn.Module, frames: Iterable[Tuple[int, np.ndarray]], tracker: Any,
                 device: Optional[torch.device] = None, score_thr: Optional[float] = None, batch_size: int = 1,
                 preprocess: Optional[Callable[[np.ndarray], torch.Tensor]] = None,
                 amp: bool = False) -> Iterator[TrackedFrame]:
    """Track one video: ``frames`` yields ``(frame_index, HxWx3 uint8 RGB)`` with increasing indices.

    Yields ``(frame_index, image, tracked)`` per frame, in order, as soon as it is tracked; ``tracked`` is an
    `Instances` on the CPU at the frame's size with ``track_ids``, ``boxes`` (clipped to the frame), ``scores``,
    ``labels`` (this frame's class), ``track_labels`` (the track's majority class so far: one class per track at
    any moment, `vis.tracking.TrackLabelVotes`) and ``masks``. Detections scoring below ``score_thr`` are dropped
    before the tracker sees them; tracked instances with an empty mask are not yielded (`visible`). ``batch_size``
    frames go through the model together (the tracker still runs frame by frame). The tracker is reset first.
    ``preprocess`` maps a frame to the model's input tensor (default: no resize; see `build_preprocess`). ``amp``
    runs the model under float16 autocast (CUDA only); the tracker always sees float32.
    """
    from vis.tracking import TrackLabelVotes

    if batch_size < 1:
        raise VisError(f"--batch-size must be >= 1, got {batch_size}")
    if device is None:
        device = next(model.parameters()).device
    check_amp(amp, device)
    preprocess = preprocess or _to_tensor
    model.eval()
    tracker.reset()
    votes = TrackLabelVotes()
    batch: List[Tuple[int, np.ndarray]] = []
    for index, image in frames:
        batch.append((int(index), image))
        if len(batch) == batch_size:
            yield from _track_batch(model, batch, tracker, votes, device, score_thr, preprocess, amp)
            batch = []
    if batch:
        yield from _track_batch(model, batch, tracker, votes, device, score_thr, preprocess, amp)


def clean_detections(instances: Instances, score_thr: Optional[float] = None) -> Instances:
    """Before the tracker: boxes clipped to the frame (a set predictor's boxes may leave it), detections below
    ``score_thr`` dropped."""
    if not len(instances):
        return instances
    height, width = instances.image_size
    boxes = instances.boxes.clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    instances.boxes = boxes
    return instances if score_thr is None else instances[instances.scores >= score_thr]


def visible(tracked: Instances) -> Instances:
    """After the tracker: the tracked instances that have something to show (a non-empty mask).

    A detection whose pasted mask is empty still continues its track (dropping it before association broke
    tracks: on the demo clip 61.7 -> 56.4 YouTube-VIS AP, 6 -> 10 identity switches), but it is not drawn or
    written: no box without a mask, no empty RLE, no vote for the track's class."""
    if not len(tracked) or not tracked.has("masks"):
        return tracked
    keep = tracked.masks.flatten(1).any(dim=1)
    return tracked if bool(keep.all()) else tracked[keep]


def check_amp(amp: bool, device: torch.device) -> None:
    if amp and torch.device(device).type != "cuda":
        raise VisError("--amp (float16 autocast) needs a CUDA device")


def predict_frames(model: torch.nn.Module, inputs: Sequence[torch.Tensor], sizes: Sequence[Tuple[int, int]],
                   amp: bool = False, defer_masks: bool = False) -> List[Instances]:
    """``model.predict`` without gradients, under float16 autocast when ``amp``; float fields back to float32.
    ``defer_masks``: masks come as `DeferredMasks`, pasted later for the detections kept."""
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        results = model.predict(list(inputs), orig_sizes=list(sizes), defer_masks=defer_masks)
    if amp:
        for instances in results:
            for name in ("boxes", "scores", "track_embeds"):
                if instances.has(name):
                    instances.set(name, instances.get(name).float())
    return results


def _track_batch(model, batch, tracker, votes, device, score_thr, preprocess, amp=False) -> Iterator[TrackedFrame]:
    inputs = [preprocess(image).to(device) for _, image in batch]
    sizes = [(int(image.shape[0]), int(image.shape[1])) for _, image in batch]
    # Masks are pasted after the tracker has chosen (at most max_per_frame of the model's top-k): the same
    # masks as pasting all first; 720p demo clip, peak RSS 1.14 -> 1.07 GB.
    results = predict_frames(model, inputs, sizes, amp, defer_masks=True)
    for (index, image), instances in zip(batch, results):
        tracked = tracker.update(clean_detections(instances, score_thr), frame_index=index)
        if tracked.has("masks"):
            tracked.masks = image_masks(tracked.masks)
        tracked = visible(tracked.to("cpu"))
        tracked.track_labels = torch.from_numpy(votes.update(tracked.track_ids, tracked.labels))
        yield index, image, tracked


# -- the sink thread -------------------------------------------------------------------------------
class _SinkThread:
    """Writes tracked frames to every sink in a background thread, behind a bounded queue.

    A sink's exception is kept and raised in the main thread at its next ``put`` or at ``finish``; after
    it, queued frames are dropped (the sinks stay untouched so they can still be closed as partial).
    """

    def __init__(self, sinks: Sequence[Any], queue_size: int = WRITE_QUEUE_SIZE):
        self.sinks = list(sinks)
        self.error: Optional[BaseException] = None
        self.frames_written = 0
        self._queue: "queue.Queue" = queue.Queue(maxsize=queue_size)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="video-sinks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            try:
                for sink in self.sinks:
                    sink.write(*item)
                self.frames_written += 1
            except OSError as exc:  # disk full, folder removed: the user can fix it, so a one-line error
                self.error = VisError(f"writing the outputs failed: {exc.strerror or exc}")
            except BaseException as exc:
                self.error = exc

    def put(self, item: TrackedFrame) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self, raise_error: bool = True) -> None:
        """Write what is queued, stop the thread; re-raise a sink's exception when ``raise_error``."""
        if not self._stopping:
            self._queue.put(None)  # the thread drains the queue up to this sentinel, so this returns
            self._stopping = True
        self._thread.join()
        if raise_error and self.error is not None:
            raise self.error


# -- run_video -------------------------------------------------------------------------------------
def read_queue_size(frame_size: Tuple[int, int]) -> int:
    """Frames the reader decodes ahead: ``READ_QUEUE_BYTES`` of RGB frames, between 2 and 8."""
    height, width = frame_size
    return int(min(8, max(2, READ_QUEUE_BYTES // max(1, 3 * height * width))))


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def busy_cores() -> int:
    """Cores other processes keep busy: the 1-minute load average, rounded (0 where the OS has none)."""
    try:
        return int(round(os.getloadavg()[0]))
    except (AttributeError, OSError):  # Windows
        return 0


def streaming_threads(threads: Optional[int] = None) -> int:
    """torch's intra-op threads while streaming: ``threads`` when given; else ``OMP_NUM_THREADS`` when set; else
    the free cores less one (at least 1): available cores (`available_cores`) minus those other processes keep
    busy (`busy_cores`), minus one for the decode thread and the sink thread (rendering, x264, RLE). Threads
    beyond the free cores only fight for them: on 2 cores, two torch threads next to the decode and sink threads
    made a tiny model's ``predict`` 30x slower than one thread (median 2.1 s against 72 ms per call); see
    `tools/benchmark_video.py`. On an idle 2-core machine this is 1 thread, the same as ``OMP_NUM_THREADS=1``."""
    if threads is not None:
        return int(threads)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = available_cores()
    return max(1, cores - min(busy_cores(), cores) - 1)


def _check_outputs(outputs: Sequence[str]) -> Tuple[str, ...]:
    outputs = tuple(dict.fromkeys(outputs))
    unknown = [o for o in outputs if o not in OUTPUTS]
    if unknown:
        raise VisError(f"unknown output '{unknown[0]}' (choose from {', '.join(OUTPUTS)})")
    if not outputs:
        raise VisError(f"no outputs selected (choose from {', '.join(OUTPUTS)})")
    return outputs


def _make_out_dir(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise VisError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise VisError(f"output directory {out_dir} is not writable")


def _make_sinks(outputs: Sequence[str], out_dir: str, source: Any, class_names: Sequence[str]) -> List[Any]:
    from vis.io.sinks import FramesJsonlSink, MOTSink, VisVideoSink, YTVISSink

    sinks: List[Any] = []
    try:
        for kind in outputs:
            if kind == "vis":
                sinks.append(VisVideoSink(out_dir, source.name, source.fps, source.frame_size, class_names,
                                          input_bit_rate=source.bit_rate))
            elif kind == "ytvis":
                sinks.append(YTVISSink(out_dir, source.name, source.num_frames, source.frame_size, source.start))
            elif kind == "frames":
                sinks.append(FramesJsonlSink(out_dir, source.name, class_names))
            elif kind == "mot":
                sinks.append(MOTSink(out_dir, source.name))
    except BaseException:
        _close_sinks(sinks, complete=False)
        raise
    return sinks


def _close_sinks(sinks: Sequence[Any], complete: bool) -> Dict[str, str]:
    """Close every sink even when one fails; -> {kind: path written}. The first failure is re-raised."""
    written: Dict[str, str] = {}
    first_error: Optional[BaseException] = None
    for sink in sinks:
        try:
            path = sink.close(complete)
        except BaseException as exc:
            first_error = first_error or exc
            continue
        if path is not None:
            written[sink.kind] = path
    if first_error is not None:
        raise first_error
    return written


def run_video(path: str, config: Optional[str] = None, checkpoint: Optional[str] = None, out_dir: str = "out",
              device: Optional[str] = None, score_thr: Optional[float] = None, start: int = 0,
              end: Optional[int] = None, outputs: Sequence[str] = OUTPUTS, progress: bool = True,
              cfg_options: Optional[Sequence[str]] = None, fps: Optional[float] = None,
              batch_size: int = 1, amp: bool = False, tracker: Optional[str] = None,
              threads: Optional[int] = None, on_frame: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """Track every frame ``start <= i < end`` of ``path`` (video file or image folder); write ``outputs``.

    Returns ``{"input", "frames", "tracks", "tracker", "threads", "fps" (processing speed), "seconds",
    "video_fps", "frame_size", "start", "end", "outputs": {kind: path}}``. Without ``config`` and ``checkpoint``
    the bundled demo model is used. ``fps`` sets the frame rate of a folder of frames (default 10, said on stderr)
    or overrides a video's. ``amp``: float16 autocast on CUDA. ``tracker``: 'OnlineTracker' or 'QueryTracker'
    instead of the config's choice (`choose_tracker`; image models track with QueryTracker). ``threads``: torch's
    CPU threads for the model during the run (`streaming_threads`). ``on_frame(n)`` is called after the n-th frame
    (1-based) is tracked and queued for writing (progress reporting, memory probes).

    Order: options, video and model files are checked, the model is loaded, and only then is ``out_dir``
    created and cleared of the temp files of an earlier run that was killed (`remove_stale_temp_files`).
    """
    from vis.io.sinks import remove_stale_temp_files
    from vis.io.video import FrameReader, open_frame_source

    from .evaluate import resolve_device
    from .video_options import check_video_options

    outputs = _check_outputs(outputs)
    check_video_options(score_thr, start, end, batch_size, threads, fps)
    if config is None and checkpoint is None and progress:
        print("using the bundled demo model (6 synthetic shape classes): for real footage pass --config and "
              "--checkpoint of a COCO model (README, model zoo)", file=sys.stderr)
    config, checkpoint = resolve_model_files(config, checkpoint)
    source = open_frame_source(path, start, end, fps)
    previous_threads = torch.get_num_threads()
    try:
        for note in source.notes:
            print(note, file=sys.stderr)
        torch_device = resolve_device(device)
        check_amp(amp, torch_device)
        threads = streaming_threads(threads)
        torch.set_num_threads(threads)
        loaded = load_video_model(config, checkpoint, cfg_options, torch_device, tracker)
        loaded.print_notes()
        model, class_names = loaded.model, loaded.class_names
        frame_tracker = build_video_tracker(loaded.tracker_cfg, score_thr)
        preprocess = build_preprocess(loaded.cfg)
        _make_out_dir(out_dir)
        for stale in remove_stale_temp_files(out_dir, source.name):
            print(f"removed {stale}, left by an earlier run that was killed", file=sys.stderr)
        sinks = _make_sinks(outputs, out_dir, source, class_names)
    except BaseException:
        source.close()
        torch.set_num_threads(previous_threads)
        raise

    bar = None
    if progress:
        from vis.utils.progress import progress_bar

        bar = progress_bar(source.num_frames, source.name, unit="frame")
    writer = _SinkThread(sinks)
    reader = FrameReader(source, queue_size=read_queue_size(source.frame_size))
    track_ids = set()
    complete = False
    began = time.perf_counter()
    try:
        for count, item in enumerate(track_frames(model, reader, frame_tracker, torch_device, score_thr, batch_size,
                                                  preprocess, amp), start=1):
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
        written = _close_sinks(sinks, complete) if complete else _close_partial(sinks, writer.frames_written)
    seconds = time.perf_counter() - began
    return {
        "input": path, "frames": writer.frames_written, "tracks": len(track_ids),
        "tracker": type(frame_tracker).__name__, "threads": threads,
        "fps": writer.frames_written / seconds if seconds > 0 else 0.0, "seconds": seconds,
        "video_fps": source.fps, "frame_size": source.frame_size, "start": source.start, "end": source.end,
        "outputs": written,
    }


def _close_partial(sinks: Sequence[Any], frames: int) -> Dict[str, str]:
    """Close the sinks as partial and say on stderr what was kept; never raises over the original error."""
    try:
        written = _close_sinks(sinks, complete=False)
    except BaseException as exc:  # the run is already failing: report, do not mask its exception
        print(f"could not save the partial outputs: {exc}", file=sys.stderr)
        return {}
    if written:
        print(f"stopped after {frames} frames; partial outputs: {', '.join(written.values())}", file=sys.stderr)
    else:
        print("stopped before any frame was written; no outputs", file=sys.stderr)
    return written
