"""Writing files safely: JPEG frames, the demo and long mp4s (through `vis.io.video_writer.VideoWriter`), a split's
folder swapped into place in one rename, and the argument checks every writer applies first.

Shared by the dataset writers (`datasets`) and the video writers here, so that bad input is one ConfigError
before anything is written and a failed run never leaves a half-written folder or video under a final name.
"""
from __future__ import annotations

import os
import shutil
from typing import Optional

import cv2
import numpy as np
from tqdm import tqdm

from ...errors import ConfigError, VisError
from ...io.files import atomic_write_json
from ...io.video_writer import VideoWriter
from .annotations import LICENSES, TrackRecorder, dataset_info, video_annotations
from .scenes import render_video, sample_demo_scene
from .shapes import CATEGORIES
from .textures import item_rng

JPEG_QUALITY = 95


def write_jpeg(path: str, rgb: np.ndarray) -> None:
    ok = cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise VisError(f"cannot write image {path}")


def fresh_temp_dir(final_dir: str) -> str:
    """Empty ``<parent>/.<name>.tmp.<pid>`` next to ``final_dir`` (files go there, then one rename)."""
    parent, name = os.path.split(os.path.abspath(final_dir))
    tmp = os.path.join(parent, f".{name}.tmp.{os.getpid()}")
    try:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        os.makedirs(tmp)
    except OSError as exc:
        raise VisError(f"cannot create output directory {tmp}: {exc.strerror}") from None
    return tmp


def swap_dir_into_place(tmp: str, final_dir: str) -> None:
    """Replace ``final_dir`` by ``tmp`` (the old one is moved aside first, then deleted)."""
    final_dir = os.path.abspath(final_dir)
    old = None
    if os.path.exists(final_dir):
        old = f"{os.path.dirname(final_dir)}/.{os.path.basename(final_dir)}.old.{os.getpid()}"
        if os.path.exists(old):
            shutil.rmtree(old)
        os.replace(final_dir, old)
    os.replace(tmp, final_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def make_parent_dir(path: str) -> None:
    """Create the folder ``path`` will be written to; an OSError becomes a one-line VisError."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise VisError(f"cannot create output directory {directory}: {exc.strerror}") from None


def check_size(name: str, value: int, minimum: int = 32) -> int:
    if int(value) != value or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_count(name: str, value: int) -> int:
    if int(value) != value or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def write_demo_video(path: str, num_frames: int = 120, height: int = 240, width: int = 320, seed: int = 0,
                     fps: float = 10, gt_path: Optional[str] = None) -> dict:
    """Render a longer clip with objects entering, crossing and leaving; write it as mp4 ('mp4v').

    Returns its ground truth as a YouTube-VIS-style dict (one video, compressed RLE). The frames live
    in the mp4 only: ``file_names`` are virtual names ``<stem>/00000.jpg, <stem>/00001.jpg, ...`` whose
    position is the frame index. With ``gt_path`` the truth is also written there as JSON.
    """
    num_frames = check_size("num_frames", num_frames, minimum=1)
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    height, width = check_size("height", height), check_size("width", width)
    seed = check_count("seed", seed)
    rng = item_rng(seed, "demo", 0)
    scene = sample_demo_scene(rng, num_frames, height, width)
    make_parent_dir(path)
    # demo.mp4 must stay byte-identical to the clip the demo model's figures come from, which cv2's 'mp4v' writer
    # made: that writer drops an odd last row / column, so the frames are cut the same way here and the 'mp4v'
    # VideoWriter then gives the same packets.
    even_height, even_width = height - height % 2, width - width % 2
    writer = VideoWriter(path, fps, (even_height, even_width), codec="mp4v")
    stem = os.path.splitext(os.path.basename(path))[0]
    recorders = [TrackRecorder(uncompressed=False) for _ in scene.tracks]
    try:
        for frame, visible in render_video(rng, scene):
            writer.write(frame[:even_height, :even_width])
            for rec, mask in zip(recorders, visible):
                rec.add(mask)
        writer.close()
    except BaseException:
        writer.close(success=False)
        raise
    video = {"id": 1, "width": width, "height": height, "length": num_frames,
             "file_names": [f"{stem}/{t:05d}.jpg" for t in range(num_frames)]}
    truth = {"info": dataset_info("YouTube-VIS 2019, demo video", seed), "licenses": LICENSES, "videos": [video],
             "annotations": video_annotations(scene, recorders, 1, 1), "categories": CATEGORIES}
    if gt_path is not None:
        atomic_write_json(gt_path, truth)
    return truth


def write_long_video(path: str, num_frames: int, height: int = 360, width: int = 640, seed: int = 0,
                     fps: float = 25, segment_frames: int = 250, progress: bool = False) -> str:
    """A long H.264 mp4 for streaming benchmarks: demo scenes (`sample_demo_scene`) back to back, a new one
    every ``segment_frames`` frames, so objects keep entering, crossing and leaving for the whole video.

    Frames are rendered and written one at a time (memory does not depend on ``num_frames``); no ground
    truth is kept. Written to a temp file and renamed, like every output. Returns ``path``.
    """
    num_frames = check_size("num_frames", num_frames, minimum=1)
    segment_frames = check_size("segment_frames", segment_frames, minimum=16)
    height, width = check_size("height", height), check_size("width", width)
    make_parent_dir(path)
    writer = VideoWriter(path, fps, (height, width))  # H.264, as real footage; temp file + rename
    bar = tqdm(total=num_frames, desc="long video", unit="frame", disable=not progress)
    try:
        for segment, first in enumerate(range(0, num_frames, segment_frames)):
            rng = item_rng(check_count("seed", seed), "long", segment)
            length = min(segment_frames, num_frames - first)
            for frame, _ in render_video(rng, sample_demo_scene(rng, length, height, width)):
                writer.write(frame)
                bar.update(1)
        writer.close()
    except BaseException:
        writer.close(success=False)
        raise
    finally:
        bar.close()
    return path
