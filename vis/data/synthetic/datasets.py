"""The dataset splits: COCO images, YouTube-VIS videos, and `generate_all`, which writes a whole data root.

The entry points tools and tests call (``tools/make_synthetic_data.py``, ``pipelines/heldout.py``); the split
sizes the evaluation protocol relies on (``NUM_TEST_*``, ``NUM_VAL_*``) are fixed here, next to their defaults.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ...errors import ConfigError
from ...io.files import atomic_write_json
from .annotations import LICENSES, TrackRecorder, box_and_area, coco_segmentation, dataset_info, video_annotations
from .scenes import render_video, sample_image, sample_video_scene
from .shapes import CATEGORIES, CATEGORY_IDS, CLASS_NAMES
from .textures import item_rng
from .writers import check_count, check_size, fresh_temp_dir, swap_dir_into_place, write_demo_video, write_jpeg

YTVIS_FRAME_STEP = 5  # YouTube-VIS annotates every 5th frame: 00000.jpg, 00005.jpg, ...


def render_coco_image(seed: int, split: str, index: int, min_size: int = 128, max_size: int = 160,
                      max_objects: int = 8, min_visible_area: int = 40, min_visible_fraction: float = 0.25
                      ) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Image ``index`` (0-based) of a COCO split as ``make_coco_split`` writes it, before JPEG coding.

    Returns (RGB uint8 [H, W, 3], [(category_id, visible bool mask [H, W]), ...] in annotation order).
    """
    rng = item_rng(seed, f"coco/{split}", index)
    height, width = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    return sample_image(rng, height, width, max_objects, min_visible_area, min_visible_fraction)


def make_coco_split(out_root: str, split: str, num_images: int, seed: int = 0, min_size: int = 128,
                    max_size: int = 160, max_objects: int = 8, min_visible_area: int = 40,
                    min_visible_fraction: float = 0.25, progress: bool = True) -> dict:
    """Write ``<out_root>/coco/<split>/*.jpg`` and ``<out_root>/coco/annotations/instances_<split>.json``.

    Image height and width are each drawn from [min_size, max_size]; 1..max_objects objects each.
    Segmentations are polygons for one-piece masks and compressed RLE for fragmented or holed ones.
    Returns a summary: ann_file, img_dir, num_images, num_annotations, num_polygons, num_rle.
    """
    num_images = check_count("num_images", num_images)
    max_objects = check_size("max_objects", max_objects, minimum=1)
    min_size, max_size = check_size("min_size", min_size), check_size("max_size", max_size)
    if min_size > max_size:
        raise ConfigError(f"min_size {min_size} is larger than max_size {max_size}")
    seed = check_count("seed", seed)
    img_dir = os.path.join(out_root, "coco", split)
    ann_file = os.path.join(out_root, "coco", "annotations", f"instances_{split}.json")
    tmp = fresh_temp_dir(img_dir)
    images, annotations = [], []
    num_polygons = 0
    try:
        for index in tqdm(range(num_images), desc=f"coco {split}", unit="img", disable=not progress):
            image, objects = render_coco_image(seed, split, index, min_size, max_size, max_objects,
                                               min_visible_area, min_visible_fraction)
            height, width = image.shape[:2]
            image_id = index + 1
            file_name = f"{image_id:06d}.jpg"
            write_jpeg(os.path.join(tmp, file_name), image)
            images.append({"id": image_id, "file_name": file_name, "height": height, "width": width,
                           "license": 1, "coco_url": "", "flickr_url": "", "date_captured": ""})
            for category_id, mask in objects:
                segmentation = coco_segmentation(mask)
                num_polygons += isinstance(segmentation, list)
                box, area = box_and_area(mask)
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
                                    "segmentation": segmentation, "area": float(area), "bbox": box, "iscrowd": 0})
        swap_dir_into_place(tmp, img_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_json(ann_file, {"info": dataset_info("COCO", seed), "licenses": LICENSES, "images": images,
                                 "annotations": annotations, "categories": CATEGORIES})
    return {"ann_file": ann_file, "img_dir": img_dir, "num_images": len(images),
            "num_annotations": len(annotations), "num_polygons": num_polygons,
            "num_rle": len(annotations) - num_polygons}


def _video_name(seed: int, split: str, index: int) -> str:
    """A YouTube-VIS-like 10-hex-digit folder name, fixed by (seed, split, index)."""
    return hashlib.sha1(f"{seed}/{split}/{index}".encode("utf-8")).hexdigest()[:10]


def make_ytvis_split(out_root: str, split: str, num_videos: int, seed: int = 0,
                     num_frames: Tuple[int, int] = (12, 24), height: int = 240, width: int = 320,
                     max_objects: int = 5, min_visible_area: int = 40, rle_format: Optional[str] = None,
                     progress: bool = True) -> dict:
    """Write ``<out_root>/ytvis/<split>/JPEGImages/<video>/<frame>.jpg`` and ``<out_root>/ytvis/<split>.json``.

    YouTube-VIS 2019 layout: frame files are named by source frame number, 5 apart (00000, 00005, ...);
    each annotation holds one entry per frame in ``segmentations``/``bboxes``/``areas``, ``null``
    where the object is absent; the annotation id is the instance identity across frames.
    ``rle_format``: 'uncompressed' (``counts`` a list of ints, as in the official train.json),
    'compressed' (``counts`` a str), or None = uncompressed for splits named 'train*', else compressed.
    Unlike the official valid.json, every split here carries annotations, so it can be evaluated.
    Annotation ``width``/``height``/``length`` repeat the video's; readers should take the frame
    count from the video entry (or ``len(segmentations)``), as the official files do not all agree.
    Returns a summary: ann_file, img_dir, num_videos, num_frames, num_annotations.
    """
    num_videos = check_count("num_videos", num_videos)
    max_objects = check_size("max_objects", max_objects, minimum=1)
    height, width = check_size("height", height), check_size("width", width)
    min_frames, max_frames = (int(v) for v in num_frames)
    if min_frames < 1 or min_frames > max_frames:
        raise ConfigError(f"num_frames must be (min, max) with 1 <= min <= max, got {tuple(num_frames)}")
    if rle_format is None:
        rle_format = "uncompressed" if split.startswith("train") else "compressed"
    if rle_format not in ("compressed", "uncompressed"):
        raise ConfigError(f"rle_format must be 'compressed' or 'uncompressed', got {rle_format!r}")
    seed = check_count("seed", seed)
    split_dir = os.path.join(out_root, "ytvis", split)
    ann_file = os.path.join(out_root, "ytvis", f"{split}.json")
    tmp = fresh_temp_dir(split_dir)
    videos, annotations = [], []
    total_frames = 0
    try:
        for index in tqdm(range(num_videos), desc=f"ytvis {split}", unit="video", disable=not progress):
            rng = item_rng(seed, f"ytvis/{split}", index)
            length = int(rng.integers(min_frames, max_frames + 1))
            scene = sample_video_scene(rng, length, height, width, max_objects)
            name = _video_name(seed, split, index)
            frame_dir = os.path.join(tmp, "JPEGImages", name)
            os.makedirs(frame_dir)
            file_names = [f"{name}/{t * YTVIS_FRAME_STEP:05d}.jpg" for t in range(length)]
            recorders = [TrackRecorder(rle_format == "uncompressed") for _ in scene.tracks]
            for t, (frame, visible) in enumerate(render_video(rng, scene, min_visible_area)):
                write_jpeg(os.path.join(tmp, "JPEGImages", file_names[t]), frame)
                for rec, mask in zip(recorders, visible):
                    rec.add(mask)
            video_id = index + 1
            videos.append({"id": video_id, "width": width, "height": height, "length": length,
                           "file_names": file_names, "license": 1, "coco_url": "", "flickr_url": "",
                           "date_captured": ""})
            annotations.extend(video_annotations(scene, recorders, video_id, len(annotations) + 1))
            total_frames += length
        swap_dir_into_place(tmp, split_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_json(ann_file, {"info": dataset_info("YouTube-VIS 2019", seed), "licenses": LICENSES,
                                 "videos": videos, "annotations": annotations, "categories": CATEGORIES})
    return {"ann_file": ann_file, "img_dir": os.path.join(split_dir, "JPEGImages"), "num_videos": len(videos),
            "num_frames": total_frames, "num_annotations": len(annotations)}


SPLIT_GROUPS: Tuple[str, ...] = ("train", "val", "test", "demo")
# Sizes of the held-out test splits: larger than val / valid, because reported figures come from them and
# 20 videos (53 objects) leave a seed-to-seed spread of several AP.
NUM_TEST_IMAGES = 500
NUM_TEST_VIDEOS = 50
NUM_VAL_IMAGES = 200  # the tuning splits (defaults of SyntheticSpec)
NUM_VAL_VIDEOS = 20


def _pair(name: str, value: Sequence[int]) -> Tuple[int, int]:
    try:
        first, second = value
        return int(first), int(second)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be two integers, got {value!r}") from None


@dataclass(frozen=True)
class SyntheticSpec:
    """What `generate_all` writes: the ``seed``; per split group, the COCO images and YouTube-VIS videos (the
    test counts default to ``NUM_TEST_*``, val to ``NUM_VAL_*``); the frames of ``demo/demo.mp4`` (0: none);
    the (min, max) COCO ``image_size``, the (h, w) ``video_size``, the (min, max) ``video_frames`` per video; and
    the ``splits`` groups to write ('train', 'val', 'test', 'demo')."""

    seed: int = 0
    num_train_images: int = 3000
    num_val_images: int = NUM_VAL_IMAGES
    num_test_images: int = NUM_TEST_IMAGES
    num_train_videos: int = 60
    num_val_videos: int = NUM_VAL_VIDEOS
    num_test_videos: int = NUM_TEST_VIDEOS
    demo_frames: int = 120
    image_size: Tuple[int, int] = (128, 160)
    video_size: Tuple[int, int] = (240, 320)
    video_frames: Tuple[int, int] = (12, 24)
    splits: Sequence[str] = SPLIT_GROUPS

    def check(self) -> Tuple[Tuple[int, int], Tuple[int, int], Tuple[int, int]]:
        """A one-line ConfigError for the first bad value -> the checked (image_size, video_size, video_frames)."""
        min_size, max_size = _pair("image_size", self.image_size)
        video_h, video_w = _pair("video_size", self.video_size)
        min_frames, max_frames = _pair("video_frames", self.video_frames)
        for name in ("num_train_images", "num_val_images", "num_train_videos", "num_val_videos", "num_test_images",
                     "num_test_videos", "demo_frames", "seed"):
            check_count(name, getattr(self, name))
        splits = tuple(self.splits)
        unknown = [s for s in splits if s not in SPLIT_GROUPS]
        if unknown or not splits:
            raise ConfigError(f"unknown split group {unknown[0] if unknown else 'none'!r} "
                              f"(choose from {', '.join(SPLIT_GROUPS)})")
        check_size("image_size min", min_size)
        check_size("image_size max", max_size)
        check_size("video height", video_h)
        check_size("video width", video_w)
        if min_size > max_size:
            raise ConfigError(f"image_size min {min_size} is larger than max {max_size}")
        if min_frames < 1 or min_frames > max_frames:
            raise ConfigError(f"video_frames must be (min, max) with 1 <= min <= max, got ({min_frames}, "
                              f"{max_frames})")
        return (min_size, max_size), (video_h, video_w), (min_frames, max_frames)


def generate_all(out_root: str, spec: SyntheticSpec = SyntheticSpec(), progress: bool = True,
                 verbose: bool = True) -> dict:
    """Write the synthetic data root of ``spec`` (see the package docstring) and print a short summary.

    Splits: coco 'train' / 'val' / 'test', ytvis 'train' (uncompressed RLE) / 'valid' / 'test' (compressed
    RLE), and ``demo/demo.mp4`` with ``demo/demo.json`` (skipped when ``spec.demo_frames`` is 0).
    ``spec.splits`` names the groups to write: 'train' (coco train + ytvis train), 'val' (coco val + ytvis
    valid), 'test' (coco test + ytvis test), 'demo'. Returns {'coco_train', 'coco_val', 'coco_test',
    'ytvis_train', 'ytvis_valid', 'ytvis_test', 'demo_video', 'demo_gt', 'seconds'}, None for groups not written.
    """
    start = time.perf_counter()
    # Check everything before writing anything, so bad input never leaves half a data root.
    (min_size, max_size), (video_h, video_w), frames = spec.check()
    seed, splits, demo_frames = spec.seed, tuple(spec.splits), spec.demo_frames
    result: dict = {key: None for key in ("coco_train", "coco_val", "coco_test", "ytvis_train", "ytvis_valid",
                                          "ytvis_test", "demo_video", "demo_gt")}
    # (group, coco split, image count, ytvis split, video count)
    for group, coco_split, num_images, ytvis_split, num_videos in (
            ("train", "train", spec.num_train_images, "train", spec.num_train_videos),
            ("val", "val", spec.num_val_images, "valid", spec.num_val_videos),
            ("test", "test", spec.num_test_images, "test", spec.num_test_videos)):
        if group not in splits:
            continue
        result[f"coco_{coco_split}"] = make_coco_split(out_root, coco_split, num_images, seed, min_size, max_size,
                                                       progress=progress)
        result[f"ytvis_{ytvis_split}"] = make_ytvis_split(out_root, ytvis_split, num_videos, seed, frames, video_h,
                                                          video_w, progress=progress)
    if demo_frames > 0 and "demo" in splits:
        demo_video = os.path.join(out_root, "demo", "demo.mp4")
        demo_gt = os.path.join(out_root, "demo", "demo.json")
        write_demo_video(demo_video, demo_frames, video_h, video_w, seed, gt_path=demo_gt)
        result["demo_video"], result["demo_gt"] = demo_video, demo_gt
    result["seconds"] = time.perf_counter() - start
    if verbose:
        _print_summary(out_root, result, demo_frames)
    return result


def _print_summary(out_root: str, result: dict, demo_frames: int) -> None:
    print(f"synthetic data written to {out_root} in {result['seconds']:.1f} s "
          f"({len(CLASS_NAMES)} classes: {', '.join(f'{n}={i}' for n, i in zip(CLASS_NAMES, CATEGORY_IDS))})")
    lines = {key: "{num_images} images, {num_annotations} annotations ({num_polygons} polygons, {num_rle} RLE)"
             for key in ("coco_train", "coco_val", "coco_test")}
    lines.update({key: "{num_videos} videos, {num_frames} frames, {num_annotations} instances"
                  for key in ("ytvis_train", "ytvis_valid", "ytvis_test")})
    for key, line in lines.items():
        summary = result[key]
        if summary is not None:
            print(f"  {key}: {line.format(**summary)} -> {summary['ann_file']}")
    if result["demo_video"]:
        print(f"  demo: {demo_frames} frames -> {result['demo_video']} (truth {result['demo_gt']})")
