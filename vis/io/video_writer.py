"""Video output: an mp4 writer that shows its final name only once the video is complete.

Beside the reader (`vis.io.video`) because the two share nothing but FFmpeg: the annotated output of
``run_video`` (`vis.io.sinks.VisVideoSink`) and the synthetic generator's clips both write through it.
"""
from __future__ import annotations

import contextlib
import os
from typing import Optional, Tuple

import numpy as np

from ..errors import VisError


class VideoWriter:
    """An H.264 mp4 writer (PyAV + libx264) that writes ``.<name>.tmp.<pid>.mp4`` next to ``path`` and renames
    it on success.

    Why PyAV: its wheels (PyPI, Linux / macOS / Windows) bundle FFmpeg with libx264, so H.264 works after a plain
    ``pip install`` with no system FFmpeg; OpenCV's wheels cannot encode H.264 (only MPEG-4 Part 2, 'mp4v',
    which browsers do not play and which is many times larger at the same quality; docs/performance.md). The stream is
    H.264 High profile, yuv420p (what every browser decodes), CRF 23 ("visually transparent" for rendered overlays),
    preset 'veryfast', ``+faststart`` (the index at the front, so a browser plays it while downloading). x264 runs on
    one thread: the sink thread must not take the cores the model needs. yuv420p needs even sides: an odd-sized input is
    padded by one replicated pixel row / column.

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
