"""Video input: a frame source (video file or folder of images) and a prefetching reader thread. The writing
side is `vis.io.video_writer.VideoWriter`.

Frame sources
    ``open_frame_source(path, start, end, fps, stride)`` opens a video file with PyAV (FFmpeg; RGB frames; fps
    and frame count from the container) or a folder of images sorted by name (natural order, so ``2.jpg`` comes
    before ``10.jpg``; fps 10 unless given, said in ``notes``). Iterating a source yields ``(frame_index,
    HxWx3 uint8 RGB)`` for every ``stride``-th frame of ``start <= frame_index < end``; indices are positions in
    the whole video. Cameras and network streams: `vis.io.stream`; any input by its text: `vis.io.sources`.

Why PyAV and not decord: decord's VideoReader keeps decoding ahead in its own thread after the first
``next()`` and holds the decoded frames, so its memory grows with the resolution and dwarfs a small model's
(docs/performance.md has the figures). PyAV decodes one packet at a time in the calling thread (our reader
thread, behind a bounded queue of 2-8 frames), so memory does not depend on the video; one decoder thread, so
decoding does not take the model's cores. It also writes our H.264 outputs (`vis.io.video_writer`), so one FFmpeg serves both.

Bad input is a one-line `DataError`: a missing path, a file that is not a video (unrecognised container),
a media file without a video stream, a corrupt or truncated container that cannot be opened, zero frames,
an empty folder, a frame range outside the video.

Mid-stream failures stop the run with a `DataError`; frames are never skipped, because every output promises
one entry per frame (a skipped frame would have to be faked). Damaged data raises at the frame where decoding
stopped; a file that ends before the frame count its header declares (a truncated file whose index is at the
front still opens) raises when the frames run out. The pipeline keeps the frames processed before either as
partial outputs (``*.partial.*``, exit 2). An unreadable image or a frame of another size in a folder stops
the run the same way.
"""
from __future__ import annotations

import os
import queue
import re
import threading
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from ..errors import DataError, VisError

DEFAULT_FOLDER_FPS = 10.0
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# First bytes of common containers: an unreadable file that starts like one is corrupt, not "not a video".
_CONTAINER_MAGIC = (
    (4, b"ftyp", "mp4/mov"),
    (0, b"RIFF", "avi"),
    (0, b"\x1a\x45\xdf\xa3", "mkv/webm"),
    (0, b"FLV", "flv"),
    (0, b"\x00\x00\x01\xba", "mpeg"),
)

Frame = Tuple[int, np.ndarray]


def _natural_key(name: str) -> List[object]:
    """'frame10.jpg' -> ['frame', 10, '.jpg'] so numbered frames sort numerically without zero padding."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _container_kind(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    for offset, magic, kind in _CONTAINER_MAGIC:
        if head[offset: offset + len(magic)] == magic:
            return kind
    return None


def _frame_range(num_frames: int, start: int, end: Optional[int], path: str) -> Tuple[int, int]:
    """Check ``start`` / ``end`` against the video; ``end`` beyond the video is clipped (like a slice)."""
    start = int(start)
    if start < 0:
        raise VisError(f"--start must be >= 0, got {start}")
    if end is not None and int(end) <= start:
        raise VisError(f"--end ({end}) must be greater than --start ({start})")
    if start >= num_frames:
        raise DataError(f"--start {start} is past the end of {path} ({num_frames} frames)")
    end = num_frames if end is None else min(int(end), num_frames)
    return start, end


class FrameSource:
    """Frames ``start <= index < end`` of one video; see `open_frame_source`.

    Attributes: ``path``, ``name`` (file stem or folder name, used to name outputs), ``fps`` (the input's rate;
    ``output_fps`` = ``fps / stride``, the rate of what is yielded), ``frame_size`` (H, W), ``total_frames`` (the
    whole video), ``start``, ``end``, ``stride``, ``num_frames`` (the frames iteration yields; None for a live
    source without an end), ``live`` (a camera or stream: `vis.io.stream.LiveSource`) and ``bit_rate``
    (bits/s of the video stream, None when unknown or a folder: the annotated video's size is capped relative to
    it, see `VisVideoSink`). A video file can be iterated once (its decoder only
    moves forward); open it again to read it again.
    """

    path: str
    name: str
    fps: float
    frame_size: Tuple[int, int]
    total_frames: int
    start: int
    end: int
    stride: int = 1
    bit_rate: Optional[float] = None
    live = False
    notes: List[str]  # what the user should know before the run (e.g. the frame rate that was assumed)

    @property
    def num_frames(self) -> Optional[int]:
        return len(range(self.start, self.end, self.stride))

    @property
    def output_fps(self) -> float:
        """The rate of the yielded frames: every ``stride``-th frame of a ``fps`` video."""
        return self.fps / self.stride

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def interrupt(self) -> None:
        """Make a blocked read give up soon (called from another thread); files never block for long."""

    def close(self) -> None:
        """Release the decoder (iteration must have ended)."""


class VideoFileSource(FrameSource):
    """A video file decoded with PyAV, one frame after the other (frames before ``start`` are decoded and
    dropped: exact on any file, where a seek lands on a keyframe)."""

    def __init__(self, path: str, start: int = 0, end: Optional[int] = None, fps: Optional[float] = None,
                 stride: int = 1):
        import av

        av.logging.set_level(av.logging.PANIC)  # FFmpeg's own multi-line logs; our errors say what went wrong
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.notes = []
        self.stride = int(stride)
        if os.path.getsize(path) == 0:
            raise DataError(f"cannot read video {path}: the file is empty")
        try:
            self._container = av.open(path)
        except Exception:
            kind = _container_kind(path)
            if kind is not None:
                raise DataError(f"cannot read video {path}: corrupt or truncated {kind} file") from None
            raise DataError(f"cannot read video {path}: not a video file (unrecognised format)") from None
        if not self._container.streams.video:
            self._container.close()
            raise DataError(f"cannot read video {path}: the file has no video stream (audio or data only)")
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_count = 1  # the model needs the other cores
        self.total_frames = int(self._stream.frames or 0) or self._count_packets()
        # The stream's own rate when the container declares it (mp4 does), else the whole file's (mkv).
        self.bit_rate = float(self._stream.bit_rate or self._container.bit_rate or 0) or None
        if self.total_frames == 0:
            raise DataError(f"video {path} has no frames")
        self.start, self.end = _frame_range(self.total_frames, start, end, path)
        self._decoded = self._decode()
        try:  # the first frame of the range gives the size; it is kept for iteration
            for _ in range(self.start):
                next(self._decoded)
            self._first: Optional[np.ndarray] = next(self._decoded)
        except (StopIteration, DataError):
            raise DataError(f"cannot decode frame {self.start} of {path}: the file is corrupt or truncated") from None
        self.frame_size = (int(self._first.shape[0]), int(self._first.shape[1]))
        rate = self._stream.average_rate or self._stream.guessed_rate
        container_fps = float(rate) if rate else 0.0
        if fps is not None:
            self.fps = float(fps)
        elif np.isfinite(container_fps) and container_fps > 0:
            self.fps = container_fps
        else:
            self.fps = DEFAULT_FOLDER_FPS
            self.notes.append(f"{path} declares no frame rate: writing the annotated video at {self.fps:g} "
                              f"frames/s (set it with --fps)")

    def _count_packets(self) -> int:
        """Frames of a container that does not declare them (some mkv / webm): its video packets, demuxed
        without decoding; then back to the start."""
        count = sum(1 for packet in self._container.demux(self._stream) if packet.size)
        self._container.seek(0)
        return count

    def _decode(self) -> Iterator[np.ndarray]:
        """Decoded frames in presentation order; damaged data -> DataError (``self._position`` is the frame)."""
        import av

        self._position = 0
        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="rgb24")
                self._position += 1
        except av.error.FFmpegError:
            raise DataError(f"decoding {self.path} failed at frame {self._position}: corrupt or truncated file "
                            f"(the damage is at or after this frame)") from None

    def __iter__(self) -> Iterator[Frame]:
        """Yields the frames once (the decoder only moves forward)."""
        if self._first is None:
            raise RuntimeError(f"the frames of {self.path} were already read; open the video again")
        first, self._first = self._first, None
        yield self.start, first
        for index in range(self.start + 1, self.end):
            try:
                frame = next(self._decoded)  # every frame is decoded: H.264 frames depend on the ones before
            except StopIteration:
                raise DataError(f"video {self.path} ends at frame {index} although its header announces "
                                f"{self.total_frames} frames (truncated file?)") from None
            if (index - self.start) % self.stride == 0:
                yield index, frame

    def close(self) -> None:
        # The decoding generator refers to this source (a reference cycle): without closing it here, the decoder's
        # frame buffers would wait for the garbage collector, a few MB per video in a batch of many.
        decoded, self._decoded = getattr(self, "_decoded", None), None
        if decoded is not None:
            try:
                decoded.close()
            except ValueError:  # still running in a reader thread that has not given up yet: it ends on its own
                pass
        container, self._container = getattr(self, "_container", None), None
        if container is not None:
            container.close()


class ImageFolderSource(FrameSource):
    """A folder of image files, one per frame, in natural name order; all frames must have one size."""

    def __init__(self, path: str, start: int = 0, end: Optional[int] = None, fps: Optional[float] = None,
                 stride: int = 1):
        self.path = path
        self.name = os.path.basename(os.path.normpath(os.path.abspath(path)))
        self.stride = int(stride)
        try:
            names = os.listdir(path)
        except OSError as exc:
            raise DataError(f"cannot list frame folder {path}: {exc.strerror}") from None
        self.files = sorted((n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)
                             and os.path.isfile(os.path.join(path, n))), key=_natural_key)
        if not self.files:
            raise DataError(f"no image frames ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}")
        self.total_frames = len(self.files)
        self.start, self.end = _frame_range(self.total_frames, start, end, path)
        self.fps = float(fps) if fps is not None else DEFAULT_FOLDER_FPS
        self.notes = [] if fps is not None else [
            f"a folder of frames has no frame rate: writing the annotated video at {self.fps:g} frames/s "
            f"(set it with --fps)"]
        first = self._read(self.start)
        self.frame_size = (int(first.shape[0]), int(first.shape[1]))

    def _read(self, index: int) -> np.ndarray:
        file = os.path.join(self.path, self.files[index])
        image = cv2.imread(file, cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"cannot read frame {index} ({file}): not an image or corrupt")
        return np.ascontiguousarray(image[..., ::-1])  # BGR -> RGB

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.start, self.end, self.stride):
            frame = self._read(index)
            if frame.shape[:2] != self.frame_size:
                raise DataError(f"frame {index} ({self.files[index]}) is {frame.shape[1]}x{frame.shape[0]}, "
                                f"the first frame {self.frame_size[1]}x{self.frame_size[0]}: all frames need one size")
            yield index, frame


DEFAULT_TIMEOUT = 10.0  # seconds, to open a live source and for each of its reads
DEFAULT_RECONNECT = 5  # re-opening tries after a live source drops


@dataclass(frozen=True)
class FrameSpan:
    """What to read from a source: every ``stride``-th frame of ``start <= index < end`` (``end`` None: to the
    last); ``fps``, the rate of a folder of frames (default 10) or an override of a video's; and for a camera or
    stream (`vis.io.stream`), the ``timeout`` of opening and of each read (seconds) and the ``reconnect`` tries
    after a drop."""

    start: int = 0
    end: Optional[int] = None
    fps: Optional[float] = None
    stride: int = 1
    timeout: float = DEFAULT_TIMEOUT
    reconnect: int = DEFAULT_RECONNECT

    def check(self) -> "FrameSpan":
        """A one-line VisError for a span that reads nothing or a rate that is not positive."""
        if self.start < 0:
            raise VisError(f"--start must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise VisError(f"--end must be greater than --start ({self.start}), got {self.end}")
        if self.fps is not None and not self.fps > 0:
            raise VisError(f"--fps must be > 0, got {self.fps}")
        if not isinstance(self.stride, int) or self.stride < 1:
            raise VisError(f"--vid-stride must be an integer >= 1, got {self.stride}")
        if not self.timeout > 0:
            raise VisError(f"--timeout must be > 0 seconds, got {self.timeout}")
        if not isinstance(self.reconnect, int) or self.reconnect < 0:
            raise VisError(f"--reconnect must be an integer >= 0, got {self.reconnect}")
        return self


def check_input(path: str) -> None:
    """A video file or a folder of frames that does not exist is a one-line DataError."""
    if not os.path.exists(path):
        raise DataError(f"input not found: {path}")


def open_frame_source(path: str, start: int = 0, end: Optional[int] = None,
                      fps: Optional[float] = None, stride: int = 1) -> FrameSource:
    """A video file or a folder of image frames -> `FrameSource` of every ``stride``-th frame of
    ``start <= index < end``.

    ``fps`` overrides the container's rate (video) or the default of 10 (folder); the rendered video is written
    at ``fps / stride``.
    """
    FrameSpan(start, end, fps, stride).check()
    check_input(path)
    if os.path.isdir(path):
        return ImageFolderSource(path, start, end, fps, stride)
    return VideoFileSource(path, start, end, fps, stride)


# --------------------------------------------------------------------------------------------------
# Prefetching reader
# --------------------------------------------------------------------------------------------------
_END = object()


class _Failure:
    """An exception raised in the reader thread, carried to the consumer to be raised there."""

    def __init__(self, exc: BaseException):
        self.exc = exc


# Decoded frames waiting for the model: as many as fit in READ_QUEUE_BYTES, 2 to 8 (8 at 360p, 4 at 720p, 2 at
# 1080p). Decoding runs far faster than the model on a CPU (docs/performance.md), so the queue is always full:
# every frame in it is resident memory, and two are enough to hide decode jitter.
READ_QUEUE_BYTES = 12 << 20


def read_queue_size(frame_size: Tuple[int, int]) -> int:
    """Frames the reader decodes ahead: ``READ_QUEUE_BYTES`` of RGB frames, between 2 and 8."""
    height, width = frame_size
    return int(min(8, max(2, READ_QUEUE_BYTES // max(1, 3 * height * width))))


class FrameReader:
    """Decodes frames in a background thread into a bounded queue, so decoding overlaps with the model.

    Iterating yields what the source yields, ``(frame_index, HxWx3 uint8 RGB)``; an exception in the
    thread (e.g. a corrupt frame) is raised in the iterating thread. At most ``queue_size`` frames wait
    in memory. ``close()`` (also on ``with`` exit and when iteration stops early) stops the thread and
    frees what it queued. Iterate it once.
    """

    def __init__(self, source, queue_size: int = 8):
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.source = source
        self._queue: "queue.Queue" = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _put(self, item) -> bool:
        """Put unless asked to stop; -> False when stopped (the queue may stay full forever then)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self.source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_Failure(exc))

    def start(self) -> "FrameReader":
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, name="frame-reader", daemon=True)
            self._thread.start()
        return self

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None and self._stop.is_set():
            raise RuntimeError("FrameReader was closed")
        self.start()
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread, drop queued frames, wait for it; safe to call more than once."""
        self._stop.set()
        interrupt = getattr(self.source, "interrupt", None)
        if interrupt is not None:  # a live source waiting to reconnect gives up
            interrupt()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
