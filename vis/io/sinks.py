"""Output sinks of the streaming video pipeline: each takes tracked frames one at a time and writes one file.

Every sink has ``write(frame_index, image, tracked)`` (``image`` HxWx3 uint8 RGB, ``tracked`` the frame's
`Instances` on the CPU with ``track_ids``, ``boxes``, ``scores``, ``labels``, ``masks`` and, from
`vis.inference.track_video`, ``track_labels``) and ``close(complete) -> path or None``. The class the video,
JSONL and MOT show is the track's (``track_labels``: the majority of its labels so far, so one class per track
at any moment, and at its last frame the YouTube-VIS ``category_id``); without it the frame's label. For a video
``clip.mp4`` and ``out_dir``:

    clip.vis.mp4       `VisVideoSink`: the frames with masks, boxes and '#id class score' labels (`vis.io.render`),
                       same size and fps as the input, one output frame per input frame; H.264 whose rate is
                       capped at 1.5x the input's (`MAX_RATE_OVER_INPUT`).
    clip.frames.jsonl  `FramesJsonlSink`: one line per frame, ``{"frame": i, "instances": [{"track_id", "class_name",
                       "label" (the track's class), "det_label" (this frame's detection), "score",
                       "box" (xyxy pixels), "rle" (compressed COCO RLE, counts a str)}, ...]}``; and where a live
                       source dropped, one line ``{"gap": {"after_frame", "next_frame", "seconds",
                       "reconnects", "reason"}}`` between the frames around it.
    clip.mot.txt       `MOTSink`: MOT-challenge text, one line per instance and frame, 10 comma-separated columns
                       ``frame, id, bb_left, bb_top, bb_width, bb_height, score, class, -1, -1``:
                       frame = frame_index + 1 (1-based, in the numbering of the whole input, so a ``--start``
                       range keeps the source's frame numbers); id = the track id (as in the JSONL); bb_* = the
                       box in pixels (left, top, width, height); score = detection score; class = label + 1
                       (the same 1-based category id as the YouTube-VIS output); the last two are unused (-1).
    clip.ytvis.json    `YTVISSink`: the YouTube-VIS results format, a plain JSON list with one entry per track
                       ``{"video_id": 1, "category_id", "score", "segmentations"}``, ``segmentations`` holding one
                       compressed RLE or null per processed frame (entry i = frame ``start + i * stride``). Track score and
                       category follow `VideoResultAccumulator` (mean score, majority label). ``category_id`` is
                       ``label + 1``: the 1-based position of the class in the model's class list (checkpoint
                       ``meta.class_names``); map it to a dataset's ids yourself when they differ.

Atomic outputs: every sink writes a temp file next to its target (``<name>.tmp.<pid>``; the video
``.<name>.tmp.<pid>.mp4``) and renames it at ``close(complete=True)``; only then does the final name exist.
``close(complete=False)`` (Ctrl-C, a decode error) keeps what was written under a ``.partial`` name,
``clip.vis.partial.mp4``, ``clip.frames.partial.jsonl``, ``clip.mot.partial.txt``, ``clip.ytvis.partial.json``,
so nothing incomplete looks complete; a sink that received no frame leaves nothing. A partial YouTube-VIS
file still has one entry per frame of the range, null for the frames that were not processed. A complete run removes
a stale ``.partial`` file of its own outputs.

Memory: the video, JSONL and MOT sinks stream to disk; the YouTube-VIS sink must see every frame before it
can write one entry per track: it keeps compressed RLEs (moved to ``<name>.tmp.<pid>.spill`` past 32 MB and read
back at close) and a score sum and label votes per track.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import VisError
from ..formats import encode_masks_rle
from ..structures import Instances, to_numpy
from .render import render_frame
from .video_writer import VideoWriter

VIDEO_ID = 1  # the one video of a YouTube-VIS result file written for a single clip


def output_path(out_dir: str, stem: str, kind: str, ext: str, partial: bool = False) -> str:
    """('out', 'clip', 'vis', '.mp4') -> 'out/clip.vis.mp4'; with ``partial`` -> 'out/clip.vis.partial.mp4'."""
    return os.path.join(out_dir, f"{stem}.{kind}{'.partial' if partial else ''}{ext}")


def instance_rles(instances: Instances) -> List[Dict[str, Any]]:
    """Compressed RLE of each instance's mask, encoded once per frame and kept in the ``rles`` field."""
    if not instances.has("rles"):
        instances.rles = encode_masks_rle(instances.masks) if len(instances) else []
    return instances.rles


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


_TEMP_PID = re.compile(r"\.tmp\.(\d+)(\.|$)")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: leave its files alone
    return True


def remove_stale_temp_files(out_dir: str, stem: str) -> List[str]:
    """Delete the temp files of ``stem``'s outputs left in ``out_dir`` by runs that were killed (SIGKILL, power
    loss: no handler ran), i.e. ``<stem>.*.tmp.<pid>*`` and ``.<stem>.*.tmp.<pid>*`` whose process is gone; a
    running process's files are kept. -> the paths removed."""
    removed = []
    try:
        names = os.listdir(out_dir)
    except OSError:
        return removed
    for name in names:
        match = _TEMP_PID.search(name)
        if not match or not (name.startswith(f"{stem}.") or name.startswith(f".{stem}.")):
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not _process_alive(pid):
            path = os.path.join(out_dir, name)
            _remove_quietly(path)
            if not os.path.exists(path):
                removed.append(path)
    return sorted(removed)


def display_labels(tracked: Instances) -> np.ndarray:
    """The class shown for each instance: its track's (``track_labels``, from `vis.inference.track_video`)
    when present, else the frame's own label."""
    field = "track_labels" if tracked.has("track_labels") else "labels"
    return to_numpy(tracked.get(field), np.int64)


class Sink:
    """Base: a final path, its ``.partial`` twin, and a frame counter."""

    kind = ""
    ext = ""

    def __init__(self, out_dir: str, stem: str):
        self.path = output_path(out_dir, stem, self.kind, self.ext)
        self.partial_path = output_path(out_dir, stem, self.kind, self.ext, partial=True)
        self.frames_written = 0
        self.closed = False

    def write(self, frame_index: int, image: np.ndarray, tracked: Instances) -> None:
        raise NotImplementedError

    def close(self, complete: bool) -> Optional[str]:
        """Finish the file: final name when ``complete``, else the ``.partial`` name (None if no frame came)."""
        raise NotImplementedError

    def _target(self, complete: bool) -> str:
        if complete:
            _remove_quietly(self.partial_path)  # a leftover of an earlier interrupted run
        return self.path if complete else self.partial_path


class _TextSink(Sink):
    """A text file written line by line into ``<name>.tmp.<pid>`` and renamed at close."""

    def __init__(self, out_dir: str, stem: str):
        super().__init__(out_dir, stem)
        self.tmp_path = f"{self.path}.tmp.{os.getpid()}"
        try:
            self._file = open(self.tmp_path, "w")
        except OSError as exc:
            raise VisError(f"cannot write {self.path}: {exc.strerror}") from None

    def _write_lines(self, lines: Sequence[str]) -> None:
        if lines:
            self._file.write("\n".join(lines) + "\n")
        self.frames_written += 1

    def close(self, complete: bool) -> Optional[str]:
        if self.closed:
            return None
        self.closed = True
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if not complete and self.frames_written == 0:
                _remove_quietly(self.tmp_path)
                return None
            target = self._target(complete)
            os.replace(self.tmp_path, target)
            return target
        except OSError as exc:
            _remove_quietly(self.tmp_path)
            raise VisError(f"cannot write {self.path}: {exc.strerror}") from None


class FramesJsonlSink(_TextSink):
    """``<stem>.frames.jsonl``: one JSON line per frame with every tracked instance (see the module doc)."""

    kind, ext = "frames", ".jsonl"

    def __init__(self, out_dir: str, stem: str, class_names: Sequence[str]):
        super().__init__(out_dir, stem)
        self.class_names = list(class_names)

    def write(self, frame_index: int, image: np.ndarray, tracked: Instances) -> None:
        instances = []
        if len(tracked):
            ids = to_numpy(tracked.track_ids, np.int64).tolist()
            labels = display_labels(tracked).tolist()
            det_labels = to_numpy(tracked.labels, np.int64).tolist()
            scores = to_numpy(tracked.scores, np.float64).tolist()
            boxes = to_numpy(tracked.boxes, np.float64).tolist()
            for i, rle in enumerate(instance_rles(tracked)):
                instances.append({
                    "track_id": ids[i],
                    "class_name": self.class_names[labels[i]] if 0 <= labels[i] < len(self.class_names) else None,
                    "label": labels[i],
                    "det_label": det_labels[i],
                    "score": round(scores[i], 5),
                    "box": [round(v, 2) for v in boxes[i]],
                    "rle": rle,
                })
        self._write_lines([json.dumps({"frame": int(frame_index), "instances": instances}, separators=(",", ":"))])

    def write_event(self, event: Any) -> None:
        """A live source's drop (`vis.io.stream.StreamGap`): one ``{"gap": {...}}`` line."""
        self._file.write(json.dumps({"gap": event.record()}, separators=(",", ":")) + "\n")


class MOTSink(_TextSink):
    """``<stem>.mot.txt``: ``frame, id, bb_left, bb_top, bb_width, bb_height, score, class, -1, -1`` per line."""

    kind, ext = "mot", ".txt"

    def write(self, frame_index: int, image: np.ndarray, tracked: Instances) -> None:
        lines = []
        if len(tracked):
            ids = to_numpy(tracked.track_ids, np.int64).tolist()
            labels = display_labels(tracked).tolist()
            scores = to_numpy(tracked.scores, np.float64).tolist()
            boxes = to_numpy(tracked.boxes, np.float64).tolist()
            for i in range(len(tracked)):
                x1, y1, x2, y2 = boxes[i]
                lines.append(f"{int(frame_index) + 1},{ids[i]},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                             f"{scores[i]:.5f},{labels[i] + 1},-1,-1")
        self._write_lines(lines)


MAX_RATE_OVER_INPUT = 1.5  # annotated video rate cap / input video rate
MIN_CAPPED_BITS_PER_PIXEL = 0.01  # per frame: no cap below this, where labels would smear


def annotated_rate_cap(input_bit_rate: Optional[float], fps: float, frame_size: Tuple[int, int]) -> Optional[float]:
    """Bits/s cap of the annotated video: ``MAX_RATE_OVER_INPUT`` x the input's rate, never below
    ``MIN_CAPPED_BITS_PER_PIXEL`` per pixel and frame; None (CRF alone) when the input's rate is unknown.

    Why: drawn masks, boxes and per-frame score digits are new detail, so at the input's CRF the output of a
    frugally encoded input comes out several times its size; the cap keeps it near the input's. On camera footage
    (a few Mbit/s at 720p) CRF 23 stays below the cap, which then changes nothing; a capped output can still be
    somewhat above ``MAX_RATE_OVER_INPUT`` x its input, as VBV allows short bursts above the rate
    (docs/performance.md has the figures).
    """
    if not input_bit_rate or not input_bit_rate > 0:
        return None
    height, width = frame_size
    floor = MIN_CAPPED_BITS_PER_PIXEL * height * width * (fps if fps and fps > 0 else 25.0)
    return max(MAX_RATE_OVER_INPUT * float(input_bit_rate), floor)


class VisVideoSink(Sink):
    """``<stem>.vis.mp4``: every frame rendered with its tracked instances scoring at least ``show_thr``, at the
    input's fps and size (the other outputs keep every track: AP needs the low-scoring ones).

    ``input_bit_rate`` (bits/s of the input video, `FrameSource.bit_rate`) caps the output's rate
    (`annotated_rate_cap`); None leaves it to CRF (a folder of frames)."""

    kind, ext = "vis", ".mp4"

    def __init__(self, out_dir: str, stem: str, fps: float, frame_size: Tuple[int, int],
                 class_names: Sequence[str], input_bit_rate: Optional[float] = None, show_thr: float = 0.0):
        super().__init__(out_dir, stem)
        self.class_names = list(class_names)
        self.show_thr = float(show_thr)
        self.max_bit_rate = annotated_rate_cap(input_bit_rate, fps, frame_size)
        self._writer = VideoWriter(self.path, fps, frame_size, max_bit_rate=self.max_bit_rate)

    def write(self, frame_index: int, image: np.ndarray, tracked: Instances) -> None:
        if self.show_thr > 0 and len(tracked):
            tracked = tracked[torch.from_numpy(to_numpy(tracked.scores, np.float64) >= self.show_thr)]
        self._writer.write(render_frame(image, tracked, self.class_names))
        self.frames_written += 1

    def close(self, complete: bool) -> Optional[str]:
        if self.closed:
            return None
        self.closed = True
        keep = complete or self.frames_written > 0
        return self._writer.close(success=keep, path=self._target(complete) if keep else None)


class YTVISSink(Sink):
    """``<stem>.ytvis.json``: one YouTube-VIS entry per track, written at close (see the module doc).

    ``start`` is the index of the processed range's first frame, ``stride`` the step between processed frames
    (``--vid-stride``). ``make_accumulator(spill_path)`` returns the
    per-track aggregation (`vis.tracking.VideoResultAccumulator` for the range's frame count and size), given
    by the caller so that this I/O layer does not import the tracking layer.
    """

    kind, ext = "ytvis", ".json"

    def __init__(self, out_dir: str, stem: str, make_accumulator: Callable[[str], Any], start: int = 0,
                 stride: int = 1):
        super().__init__(out_dir, stem)
        self.start, self.stride = int(start), int(stride)
        self.tmp_path = f"{self.path}.tmp.{os.getpid()}"
        # RLEs beyond 32 MB go to <tmp>.spill until close, so memory stays flat on long videos.
        self.accumulator = make_accumulator(self.tmp_path + ".spill")
        try:  # fail now, not after the whole video, when the folder is not writable
            open(self.tmp_path, "w").close()
        except OSError as exc:
            raise VisError(f"cannot write {self.path}: {exc.strerror}") from None

    def write(self, frame_index: int, image: np.ndarray, tracked: Instances) -> None:
        self.accumulator.add(tracked, frame_index=(int(frame_index) - self.start) // self.stride)
        self.frames_written += 1

    def results(self) -> List[Dict[str, Any]]:
        """The entries as they would be written now (category_id = label + 1)."""
        return self.accumulator.results(VIDEO_ID, lambda label: int(label) + 1)

    def close(self, complete: bool) -> Optional[str]:
        if self.closed:
            return None
        self.closed = True
        if not complete and self.frames_written == 0:
            _remove_quietly(self.tmp_path)
            self.accumulator.close()
            return None
        try:
            entries = self.results()
            self.accumulator.close()
            with open(self.tmp_path, "w") as f:
                json.dump(entries, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            target = self._target(complete)
            os.replace(self.tmp_path, target)
            return target
        except BaseException as exc:
            _remove_quietly(self.tmp_path)
            self.accumulator.close()
            if isinstance(exc, OSError):
                raise VisError(f"cannot write {self.path}: {exc.strerror}") from None
            raise
