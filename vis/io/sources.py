"""What ``tools/run_video.py INPUT`` reads: one source, or many videos for one run of a loaded model.

One source: a video file, a folder of image frames (`vis.io.video`), a webcam or a stream URL
(`vis.io.stream`); `open_source` opens any of them.

Many videos (`is_batch`, `expand_inputs`): a quoted glob (``'clips/*.mp4'``, ``'data/**/*.mkv'``; folders it
matches are read as folders of frames), a folder that holds video files (not image frames), or a ``.txt`` list
with one path or URL per line (blank lines and ``#`` comments skipped; relative paths are relative to the list's
folder). Each video gets a stem for its output folder, made unique in input order (`unique_stems`), and
`shard` spreads them over processes balanced by frame count.
"""
from __future__ import annotations

import glob
import os
from typing import List, Optional, Sequence

from ..errors import DataError
from .stream import is_live, open_live_source, source_name
from .video import IMAGE_EXTENSIONS, FrameSource, FrameSpan, check_input, open_frame_source

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".flv", ".ts", ".mts", ".m2ts", ".mpg",
                    ".mpeg", ".wmv", ".3gp", ".ogv")
_GLOB_CHARS = "*?["


def open_source(text: str, span: FrameSpan = FrameSpan()) -> FrameSource:
    """Any single input -> an open `FrameSource` (its first frame read), or a one-line `DataError`."""
    span.check()
    if is_live(text):
        return open_live_source(text, span)
    return open_frame_source(text, span.start, span.end, span.fps, span.stride)


def check_source(text: str) -> None:
    """A local input that does not exist is a one-line DataError (streams and cameras are checked by opening)."""
    if not is_live(text):
        check_input(text)


def _is_video_file(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS) and os.path.isfile(path)


def _folder_kind(path: str) -> str:
    """'frames' (image files), 'videos' (video files) or 'empty'; a one-line DataError for a mix of both."""
    names = os.listdir(path)
    has_images = any(n.lower().endswith(IMAGE_EXTENSIONS) for n in names)
    has_videos = any(_is_video_file(os.path.join(path, n)) for n in names)
    if has_images and has_videos:
        raise DataError(f"folder {path} holds both image frames and video files: pass a glob such as "
                        f"'{os.path.join(path, '*.mp4')}' for the videos")
    return "frames" if has_images else "videos" if has_videos else "empty"


def is_batch(text: str) -> bool:
    """True for a glob that is not an existing path, a ``.txt`` list, or a folder of video files."""
    if is_live(text):
        return False
    if not os.path.exists(text):
        return any(c in text for c in _GLOB_CHARS)
    if os.path.isdir(text):
        return _folder_kind(text) == "videos"
    return text.lower().endswith(".txt")


def _read_list(path: str) -> List[str]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the list {path}: {getattr(exc, 'strerror', None) or exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    entries = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        entries.append(line if is_live(line) or os.path.isabs(line) else os.path.normpath(os.path.join(base, line)))
    if not entries:
        raise DataError(f"the list {path} names no video (one path or URL per line)")
    return entries


def expand_inputs(text: str) -> List[str]:
    """A batch input (`is_batch`) -> its videos in a stable order (a list keeps its order; globs and folders are
    sorted); any other input is a batch of one. No video at all is a one-line DataError."""
    if not is_batch(text):
        return [text]
    if os.path.isdir(text):
        videos = sorted(os.path.join(text, n) for n in os.listdir(text) if _is_video_file(os.path.join(text, n)))
    elif os.path.isfile(text):
        return _read_list(text)
    else:
        matches = sorted(glob.glob(text, recursive=True))
        videos = [m for m in matches if _is_video_file(m) or os.path.isdir(m) and _folder_kind(m) == "frames"]
    if not videos:
        raise DataError(f"no video matches {text} (video files: {', '.join(VIDEO_EXTENSIONS[:6])}, ...; or folders "
                        f"of frames)")
    return videos


def stem_of(text: str) -> str:
    """The output name of one input: a file's stem, a folder's name, a stream's `source_name`."""
    if is_live(text):
        return source_name(text)
    name = os.path.basename(os.path.normpath(text))
    return name if os.path.isdir(text) else os.path.splitext(name)[0] or "video"


def unique_stems(sources: Sequence[str]) -> List[str]:
    """One output stem per input, in input order; a repeated stem gets ``-2``, ``-3``, ... (the same list gives
    the same stems on every process and every rerun)."""
    taken = set()
    stems = []
    for source in sources:
        stem, n = stem_of(source), 2
        candidate = stem
        while candidate.lower() in taken:  # case-insensitive file systems (macOS, Windows)
            candidate, n = f"{stem}-{n}", n + 1
        taken.add(candidate.lower())
        stems.append(candidate)
    return stems


def declared_frames(text: str) -> Optional[int]:
    """Frames a video file's container declares (read from its header, nothing decoded), a folder's image count;
    None for streams, cameras, missing or unreadable inputs and containers that declare none."""
    if is_live(text) or not os.path.exists(text):
        return None
    if os.path.isdir(text):
        return sum(1 for n in os.listdir(text) if n.lower().endswith(IMAGE_EXTENSIONS))
    try:
        import av

        with av.open(text) as container:
            return int(container.streams.video[0].frames or 0) or None
    except Exception:  # not a video, or damaged: its own run will say so
        return None


def shard(weights: Sequence[Optional[int]], world_size: int) -> List[List[int]]:
    """Input positions for each of ``world_size`` processes, balanced by weight (frame count): heaviest first, each
    to the least loaded process (ties: the lower rank). An unknown weight counts as the median of the known ones.
    Every process computes the same split from the same list."""
    known = sorted(w for w in weights if w)
    fallback = known[len(known) // 2] if known else 1
    filled = [int(w) if w else fallback for w in weights]
    order = sorted(range(len(filled)), key=lambda i: (-filled[i], i))
    loads = [0] * world_size
    shards: List[List[int]] = [[] for _ in range(world_size)]
    for i in order:
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        shards[rank].append(i)
        loads[rank] += filled[i]
    return [sorted(s) for s in shards]
