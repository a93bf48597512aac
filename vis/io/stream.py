"""Live sources: cameras and network streams, read through PyAV (FFmpeg), with timeouts and reconnection.

A live source has no frame count and may drop. What this module promises:

- **Timeouts.** Opening waits at most ``timeout`` seconds (a stream that never opens is a one-line `DataError`
  within it), and so does every read (a stream that stalls counts as dropped).
- **No invented frames.** When a stream drops (the connection closes, a read times out, the data is damaged), it
  is re-opened up to ``reconnect`` times, waiting 0.5, 1, 2, 4, 8, 8 ... s before the tries
  (`reconnect_wait`). The frames read after it continue the same numbering (frame indices count the frames
  actually read, so the tracker sees them as the next frames and tracks continue), and the interruption is
  recorded as a `StreamGap` in ``source.gaps`` (the pipeline writes one JSONL record per gap and lists them in
  its summary). Nothing is inserted for the time lost: Ultralytics' streams insert black frames, which a tracker
  reads as every object vanishing.
- **A clean end.** When the tries run out (or a stream with a declared length, an http mp4, ends) iteration
  stops; ``source.end_reason`` says why (the last drop is not a gap: nothing came after it). The run's outputs
  are complete up to the last frame read.

Sources: ``rtsp://``, ``rtsps://``, ``rtmp://``, ``http(s)://``, ``tcp://``, ``udp://``, ``srt://`` and
``rtp://`` URLs (FFmpeg's protocols, `STREAM_SCHEMES`); a webcam by index (``0`` -> ``/dev/video0`` through
video4linux2 on Linux, AVFoundation device 0 on macOS) or device path (``/dev/video0``).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import numpy as np

from ..errors import DataError
from .video import DEFAULT_FOLDER_FPS, Frame, FrameSource, FrameSpan

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "tcp", "udp", "srt", "rtp")
RECONNECT_FIRST_WAIT = 0.5
RECONNECT_MAX_WAIT = 8.0


def stream_scheme(text: str) -> Optional[str]:
    """'rtsp://cam/1' -> 'rtsp'; None when ``text`` is not a URL of a stream protocol."""
    scheme = urlsplit(str(text)).scheme.lower() if "://" in str(text) else ""
    return scheme if scheme in STREAM_SCHEMES else None


def webcam_device(text: str) -> Optional[Tuple[str, str]]:
    """A webcam index ('0') or device path ('/dev/video0') -> (FFmpeg device, input format); else None."""
    text = str(text)
    if text.isdigit():
        if sys.platform == "darwin":
            return text, "avfoundation"
        if sys.platform.startswith("linux"):
            return f"/dev/video{int(text)}", "v4l2"
        return None
    if text.startswith("/dev/video"):
        return text, "v4l2"
    return None


def is_live(text: str) -> bool:
    """True for a stream URL or a webcam, the sources `open_live_source` reads."""
    return stream_scheme(text) is not None or webcam_device(text) is not None


def reconnect_wait(attempt: int) -> float:
    """Seconds before re-opening try ``attempt`` (0-based): 0.5, 1, 2, 4, 8, then 8."""
    return min(RECONNECT_MAX_WAIT, RECONNECT_FIRST_WAIT * 2 ** attempt)


def source_name(text: str) -> str:
    """A name for outputs: the URL path's last part without extension ('rtsp://h/live/cam1.sdp' -> 'cam1'), else
    the host ('tcp://127.0.0.1:9000' -> '127.0.0.1_9000'), or 'webcam0' for a webcam."""
    device = webcam_device(text)
    if device is not None:
        return "webcam" + "".join(c for c in os.path.basename(device[0]) if c.isdigit())
    parts = urlsplit(str(text))
    stem = os.path.splitext(os.path.basename(parts.path.rstrip("/")))[0]
    name = stem or parts.netloc.replace(":", "_") or "stream"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


@dataclass(frozen=True)
class StreamGap:
    """A drop of a live source that it came back from: the last frame read before it, the first after it, how long
    it lasted, how many re-opening tries it took, and why the stream dropped. (A drop it does not come back from
    ends the run: `LiveSource.end_reason`.)"""

    after_frame: int
    next_frame: int
    seconds: float
    reconnects: int
    reason: str

    def record(self) -> Dict[str, Any]:
        return {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()}


class LiveSource(FrameSource):
    """Frames of a camera or network stream, numbered from 0 in the order they are read (``span.start`` skips the
    first frames, ``span.end`` stops before that index, every ``span.stride``-th frame is yielded).

    ``total_frames``, ``end`` and ``num_frames`` are None unless the stream declares a length (an http mp4) or
    ``span.end`` is given; ``span.timeout`` bounds opening and each read, ``span.reconnect`` the re-opening tries
    after a drop. ``gaps`` lists the drops survived so far (`StreamGap`), ``end_reason`` why iteration
    stopped (None while running or when ``span.end`` was reached). ``interrupt()`` makes a waiting reconnect give
    up at once (the reader thread's ``close``).
    """

    live = True

    def __init__(self, url: str, span: FrameSpan = FrameSpan()):
        import av

        av.logging.set_level(av.logging.PANIC)
        self.path = str(url)
        self.name = source_name(url)
        self.notes: List[str] = []
        self.timeout = float(span.timeout)
        self.reconnect = int(span.reconnect)
        self.stride = span.stride
        self.gaps: List[StreamGap] = []
        self.end_reason: Optional[str] = None
        self._stopping = threading.Event()
        self._container = self._open()
        stream = self._container.streams.video[0]
        self.total_frames = int(stream.frames or 0) or None  # declared by a file served over http, not by a camera
        self.bit_rate = float(stream.bit_rate or self._container.bit_rate or 0) or None
        self.start = int(span.start)
        self.end = span.end if self.total_frames is None else min(span.end or self.total_frames, self.total_frames)
        self._position = 0  # frames read since the first open, across reconnects
        self._decoded = self._decode()
        self._skip_to_start()
        self._first: Optional[np.ndarray] = self._next_frame()
        if self._first is None:
            self.close()
            raise DataError(f"cannot read frame {self.start} of {self.path}: {self.end_reason}")
        self.frame_size = (int(self._first.shape[0]), int(self._first.shape[1]))
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate and 0 < float(rate) < 1000 else DEFAULT_FOLDER_FPS
        if span.fps is not None:
            self.fps = float(span.fps)
        elif not (rate and 0 < float(rate) < 1000):
            self.notes.append(f"{self.path} declares no frame rate: writing the annotated video at "
                              f"{self.fps:g} frames/s (set it with --fps)")

    # -- opening ---------------------------------------------------------------------------------
    def _open(self) -> Any:
        """Open the source once; one-line DataError naming it and FFmpeg's reason."""
        import av

        device = webcam_device(self.path)
        target, fmt = device if device is not None else (self.path, None)
        try:
            container = av.open(target, format=fmt, timeout=(self.timeout, self.timeout))
        except Exception as exc:  # FFmpeg's errors for a refused, missing or silent source
            what = f"webcam {target}" if device is not None else self.path
            raise DataError(f"cannot open {what}: {_reason(exc)}") from None
        if not container.streams.video:
            container.close()
            raise DataError(f"cannot open {self.path}: it has no video stream")
        container.streams.video[0].codec_context.thread_count = 1  # the model needs the other cores
        return container

    def _reopen(self, reason: str) -> bool:
        """After a drop: up to ``reconnect`` tries with growing waits. -> True when open again, the gap
        recorded; False when the tries ran out (or `interrupt` was called), ``end_reason`` set."""
        lost_at = time.monotonic()
        self._close_container()
        for attempt in range(self.reconnect):
            if self._stopping.wait(reconnect_wait(attempt)):
                break
            try:
                self._container = self._open()
            except DataError:
                continue
            self._decoded = self._decode()
            self.gaps.append(StreamGap(self._position - 1, self._position, time.monotonic() - lost_at,
                                       attempt + 1, reason))
            return True
        self.end_reason = f"{reason}; not back after {self.reconnect} reconnect tries" if self.reconnect else reason
        return False

    # -- reading ---------------------------------------------------------------------------------
    def _decode(self) -> Iterator[np.ndarray]:
        """Frames of the open container; a drop or damaged data ends it with a DataError carrying the reason."""
        stream = self._container.streams.video[0]
        try:
            for frame in self._container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        except Exception as exc:  # a timeout, a reset connection, damaged data: the stream dropped
            raise DataError(_reason(exc)) from None

    def _next_frame(self) -> Optional[np.ndarray]:
        """The next frame read, reconnecting as needed; None when the source has ended."""
        while True:
            if self.total_frames is not None and self._position >= self.total_frames:
                return None
            try:
                return next(self._decoded)
            except StopIteration:
                reason = "the stream ended"
            except DataError as exc:
                reason = f"the stream dropped ({exc})"
            if self.total_frames is not None or not self._reopen(reason):
                self.end_reason = self.end_reason or reason
                return None

    def _skip_to_start(self) -> None:
        while self._position < self.start and self._next_frame() is not None:
            self._position += 1

    def __iter__(self) -> Iterator[Frame]:
        if self._first is None:
            raise RuntimeError(f"the frames of {self.path} were already read; open the source again")
        frame, self._first = self._first, None
        while frame is not None:
            index = self._position
            if (index - self.start) % self.stride == 0:
                yield index, frame
            self._position += 1
            if self.end is not None and self._position >= self.end or self._stopping.is_set():
                return
            frame = self._next_frame()

    @property
    def num_frames(self) -> Optional[int]:
        if self.end is None:
            return None
        return len(range(self.start, self.end, self.stride))

    def interrupt(self) -> None:
        self._stopping.set()

    def _close_container(self) -> None:
        container, self._container = getattr(self, "_container", None), None
        if container is not None:
            try:
                container.close()
            except Exception:  # a dropped connection may fail to close cleanly; it is gone either way
                pass

    def close(self) -> None:
        self._stopping.set()
        decoded, self._decoded = getattr(self, "_decoded", None), None  # a reference cycle (see VideoFileSource)
        if decoded is not None:
            try:
                decoded.close()
            except ValueError:  # still running in a reader thread that has not given up yet: it ends on its own
                pass
        self._close_container()


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without the repeated URL: 'Connection refused', 'Immediate exit requested', ..."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if "timed out" in text.lower() or "immediate exit" in text.lower() or isinstance(exc, TimeoutError):
        return "timed out"
    return text.split(":")[0].strip() if ": '" in text else text.strip()


def open_live_source(text: str, span: FrameSpan = FrameSpan()) -> LiveSource:
    """A webcam or stream URL -> `LiveSource` (opened and its first frame read, or a one-line DataError)."""
    return LiveSource(text, span.check())


def serve_mpegts(port: int, frames: Iterable[np.ndarray], fps: int = 25, paced: bool = True,
                 on_listen: Optional[Callable[[], None]] = None) -> int:
    """Serve ``frames`` (HxWx3 uint8 RGB) to one client as a live H.264 MPEG-TS stream on ``tcp://127.0.0.1:port``,
    then close the connection; -> frames sent. What a camera relay (``ffmpeg -f mpegts tcp://...?listen=1``) serves:
    the tests and `tools/benchmark_video.py` read it with `LiveSource`. ``paced``: in real time at ``fps`` (a camera),
    else as fast as the client reads (TCP's flow control holds the sender back). ``on_listen()`` is called just
    before waiting for the client. x264 with ``zerolatency``: each frame leaves as soon as it is encoded."""
    import av
    from fractions import Fraction

    if on_listen is not None:
        on_listen()
    out = av.open(f"tcp://127.0.0.1:{int(port)}?listen=1", "w", format="mpegts")
    stream = None
    sent = 0
    began = time.monotonic()
    try:
        for image in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=int(fps))
                stream.height, stream.width = int(image.shape[0]), int(image.shape[1])
                stream.pix_fmt = "yuv420p"
                stream.options = {"tune": "zerolatency", "preset": "ultrafast"}
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = sent, Fraction(1, int(fps))
            for packet in stream.encode(frame):
                out.mux(packet)
            sent += 1
            if paced:
                time.sleep(max(0.0, began + sent / fps - time.monotonic()))
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    finally:
        out.close()
    return sent
