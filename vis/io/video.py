"""Video input and output: a frame source (video file or folder of images), a prefetching reader thread,
and an H.264 mp4 writer that only shows its final name once it is complete.

Frame sources
    ``open_frame_source(path, start, end, fps)`` opens a video file with PyAV (FFmpeg; RGB frames; fps and
    frame count from the container) or a folder of images sorted by name (natural order, so ``2.jpg`` comes
    before ``10.jpg``; fps 10 unless given, said in ``notes``). Iterating a source yields ``(frame_index,
    HxWx3 uint8 RGB)`` for the frames ``start <= frame_index < end``; indices are positions in the whole video.

Why PyAV and not decord: decord's VideoReader keeps decoding ahead in its own thread after the first
``next()`` and holds the decoded frames: about 220 MB at 360p and 0.8 GB at 720p, measured here (RSS
+220 MB one second after reading 5 frames of a 360p file, with ``num_threads=1``), which is how a 17 MB
model reached 2 GB on a 720p clip. PyAV decodes one packet at a time in the calling thread (our reader
thread, behind a bounded queue of 2-8 frames), so memory does not depend on the video; one decoder thread, so
decoding does not take the model's cores. It also writes our H.264 outputs, so one FFmpeg serves both.

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

import contextlib
import os
import queue
import re
import threading
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

    Attributes: ``path``, ``name`` (file stem or folder name, used to name outputs), ``fps``,
    ``frame_size`` (H, W), ``total_frames`` (the whole video), ``start``, ``end``, ``num_frames``
    (``end - start``, the frames iteration yields) and ``bit_rate`` (bits/s of the video stream, None when
    unknown or a folder: the annotated video's size is capped relative to it, see `VisVideoSink`). A video file can be iterated once (its decoder only
    moves forward); open it again to read it again.
    """

    path: str
    name: str
    fps: float
    frame_size: Tuple[int, int]
    total_frames: int
    start: int
    end: int
    bit_rate: Optional[float] = None
    notes: List[str]  # what the user should know before the run (e.g. the frame rate that was assumed)

    @property
    def num_frames(self) -> int:
        return self.end - self.start

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the decoder (iteration must have ended)."""


class VideoFileSource(FrameSource):
    """A video file decoded with PyAV, one frame after the other (frames before ``start`` are decoded and
    dropped: exact on any file, where a seek lands on a keyframe)."""

    def __init__(self, path: str, start: int = 0, end: Optional[int] = None, fps: Optional[float] = None):
        import av

        av.logging.set_level(av.logging.PANIC)  # FFmpeg's own multi-line logs; our errors say what went wrong
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.notes = []
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
                frame = next(self._decoded)
            except StopIteration:
                raise DataError(f"video {self.path} ends at frame {index} although its header announces "
                                f"{self.total_frames} frames (truncated file?)") from None
            yield index, frame

    def close(self) -> None:
        container, self._container = getattr(self, "_container", None), None
        if container is not None:
            container.close()


class ImageFolderSource(FrameSource):
    """A folder of image files, one per frame, in natural name order; all frames must have one size."""

    def __init__(self, path: str, start: int = 0, end: Optional[int] = None, fps: Optional[float] = None):
        self.path = path
        self.name = os.path.basename(os.path.normpath(os.path.abspath(path)))
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
        for index in range(self.start, self.end):
            frame = self._read(index)
            if frame.shape[:2] != self.frame_size:
                raise DataError(f"frame {index} ({self.files[index]}) is {frame.shape[1]}x{frame.shape[0]}, "
                                f"the first frame {self.frame_size[1]}x{self.frame_size[0]}: all frames need one size")
            yield index, frame


def open_frame_source(path: str, start: int = 0, end: Optional[int] = None,
                      fps: Optional[float] = None) -> FrameSource:
    """A video file or a folder of image frames -> `FrameSource` of frames ``start <= index < end``.

    ``fps`` overrides the container's rate (video) or the default of 10 (folder); it is the rate the
    rendered video is written at.
    """
    if fps is not None and not fps > 0:
        raise VisError(f"--fps must be positive, got {fps}")
    if not os.path.exists(path):
        raise DataError(f"input not found: {path}")
    if os.path.isdir(path):
        return ImageFolderSource(path, start, end, fps)
    return VideoFileSource(path, start, end, fps)


# --------------------------------------------------------------------------------------------------
# Prefetching reader
# --------------------------------------------------------------------------------------------------
_END = object()


class _Failure:
    """An exception raised in the reader thread, carried to the consumer to be raised there."""

    def __init__(self, exc: BaseException):
        self.exc = exc


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


# --------------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------------
class VideoWriter:
    """An H.264 mp4 writer (PyAV + libx264) that writes ``.<name>.tmp.<pid>.mp4`` next to ``path`` and renames
    it on success.

    Why PyAV: its wheels (PyPI, Linux / macOS / Windows) bundle FFmpeg with libx264, so H.264 works after a plain
    ``pip install`` with no system FFmpeg; OpenCV's wheels cannot encode H.264 (only MPEG-4 Part 2, 'mp4v',
    which browsers do not play and which came out 17x the input's size). The stream is H.264 High profile,
    yuv420p (what every browser decodes), CRF 23 ("visually transparent" for rendered overlays), preset
    'veryfast', ``+faststart`` (the index at the front, so a browser plays it while downloading). x264 runs on one
    thread: the sink thread must not take the cores the model needs. yuv420p needs even sides: an odd-sized
    input is padded by one replicated pixel row / column.

    ``max_bit_rate`` (bits/s) caps the stream's rate with x264's VBV (``maxrate``, a two-second ``bufsize``):
    CRF still sets the quality, the cap only binds where CRF would spend more (capped CRF). Without it the
    rate is CRF's alone.

    ``codec='mp4v'`` writes MPEG-4 Part 2 with the settings of OpenCV's ``cv2.VideoWriter`` for fourcc 'mp4v'
    (``cap_ffmpeg_impl.hpp``: a target of 2 x fps x W x H bits/s, qmin 3, an intra frame every 12 frames, frames
    handed to swscale as BGR, the index at the end): the very packets cv2 writes, in the file layout cv2 writes.
    It is there for the synthetic demo video, whose frames (and whose layout: cut in half, it does not open) the
    tests rely on. ``max_bit_rate`` is for H.264 only.

    ``write(image_rgb)`` takes HxWx3 uint8 RGB frames of ``frame_size`` (H, W). ``close(success=True,
    path=None)`` renames the temp file to ``path`` (or the one given at construction); ``close(False)``
    removes it. A failing writer never leaves a file under a final-looking name.
    """

    CRF = 23
    PRESET = "veryfast"

    CODECS = ("h264", "mp4v")

    def __init__(self, path: str, fps: float, frame_size: Tuple[int, int], max_bit_rate: Optional[float] = None,
                 codec: str = "h264"):
        import av  # PyAV; imported here so reading videos does not need it
        from fractions import Fraction

        if codec not in self.CODECS:
            raise ValueError(f"codec must be one of {', '.join(self.CODECS)}, got {codec!r}")
        if codec != "h264" and max_bit_rate is not None:
            raise ValueError(f"max_bit_rate is for the h264 codec only, not {codec!r}")
        self.path = path
        self.codec = codec
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        directory, name = os.path.split(os.path.abspath(path))
        self.tmp_path = os.path.join(directory, f".{name}.tmp.{os.getpid()}.mp4")
        height, width = self.frame_size
        try:
            options = {"movflags": "+faststart"} if codec == "h264" else {}  # cv2 writes its index at the end
            self._container = av.open(self.tmp_path, mode="w", format="mp4", options=options)
        except (OSError, av.error.FFmpegError) as exc:
            self._remove_tmp()
            raise VisError(f"cannot write video {path} (is the folder writable?): {exc}") from None
        rate = Fraction(float(fps)).limit_denominator(1001) if fps and fps > 0 else Fraction(10)
        self._stream = self._container.add_stream("mpeg4" if codec == "mp4v" else "libx264", rate=rate)
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.thread_count = 1
        self._av = av
        self.frames_written = 0
        if codec == "mp4v":
            self._set_up_mp4v(float(rate))
            return
        options = {"crf": str(self.CRF), "preset": self.PRESET, "profile": "high"}
        if max_bit_rate is not None:
            if not max_bit_rate > 0:
                raise ValueError(f"max_bit_rate must be positive, got {max_bit_rate}")
            options.update(maxrate=str(int(max_bit_rate)), bufsize=str(int(2 * max_bit_rate)))
        self._stream.options = options

    def _set_up_mp4v(self, fps: float) -> None:
        """OpenCV's MPEG-4 Part 2 settings: a target of fps x W x H bits/s to which it adds half the target twice
        (where it configures the stream and where it opens the encoder), in its int arithmetic; qmin 3; GOP 12."""
        int_max = 2 ** 31 - 1
        target = min(fps * self._stream.width * self._stream.height, int_max / 2)
        rounded = int(target + 0.5)
        bit_rate = min(rounded + rounded // 2 + int(target / 2), int_max)
        context = self._stream.codec_context
        context.codec_tag = "mp4v"
        context.bit_rate = context.bit_rate_tolerance = bit_rate
        context.qmin = 3
        context.gop_size = 12

    def write(self, image_rgb: np.ndarray) -> None:
        if tuple(image_rgb.shape[:2]) != self.frame_size:
            raise ValueError(f"frame of size {tuple(image_rgb.shape[:2])} for a {self.frame_size} video")
        height, width = self.frame_size
        if height % 2 or width % 2:
            image_rgb = np.pad(image_rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        if self.codec == "mp4v":  # as BGR, like OpenCV: swscale's RGB and BGR paths round differently
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image_rgb[..., ::-1]), format="bgr24")
        else:
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image_rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def _remove_tmp(self) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.tmp_path)

    def close(self, success: bool = True, path: Optional[str] = None) -> Optional[str]:
        """Finish the file; -> the path it now has, or None when it was discarded."""
        if self._container is None:
            return None
        container, self._container = self._container, None
        try:
            if success:
                for packet in self._stream.encode():  # flush the encoder's delayed frames
                    container.mux(packet)
        finally:
            container.close()
        if not success:
            self._remove_tmp()
            return None
        target = path or self.path
        try:
            os.replace(self.tmp_path, target)
        except OSError as exc:
            self._remove_tmp()
            raise VisError(f"cannot write video {target}: {exc.strerror}") from None
        return target
