"""Synthetic stand-ins for COCO and YouTube-VIS 2019: procedurally rendered shapes.

Machines without the real datasets train and test on these. The files are written in exactly the
official formats, so the real loaders, evaluators and tools read them through the code paths real
data takes:

    <out_root>/coco/<split>/000001.jpg ...                      COCO images (JPEG quality 95)
                                                                (splits train / val / test)
    <out_root>/coco/annotations/instances_<split>.json         COCO instances JSON
    <out_root>/ytvis/<split>/JPEGImages/<video>/00000.jpg ...   YouTube-VIS frames (names step by 5)
    <out_root>/ytvis/<split>.json                               YouTube-VIS 2019 JSON (train / valid / test)
    <out_root>/demo/demo.mp4, demo/demo.json                    an mp4 and its YouTube-VIS-style truth

Scenes: six shape classes (``CLASS_NAMES``) with non-consecutive dataset ids (``CATEGORY_IDS``), so
loaders must map ids to contiguous labels. Shapes differ by outline only: colours and textures
(solid, stripes, checker, noisy gradient) are drawn at random for every object, over textured
backgrounds (gradients, smooth noise, stripes, soft blobs that are not objects). Objects drawn later
occlude earlier ones and every stored mask is the *visible* part.

Everything is a function of the seed: each image / video draws from its own
``np.random.default_rng([seed, crc32(stream), index])``, so the same arguments give byte-identical
JSON and identical pixels, and the splits are independent streams, so adding a split or resizing one leaves
the content of every other split of a seed byte-identical.

Splits and their use (the protocol of ``docs/learning_runs.md``): models train on ``train``; schedules,
thresholds and every other choice are made on ``val`` (images) / ``valid`` (videos); reported figures come
from ``test``, touched once per model, on several seeds (``tools/test_seeds.py``). Unlike the official
YouTube-VIS valid / test files, every split here carries annotations, so it can be evaluated.

The package, by job: `shapes` (classes, outlines, rasterising, painting, occlusion), `textures` (colours,
backgrounds, grain, the per-item random streams), `scenes` (a still image's layout, video tracks and their
rendering), `annotations` (masks -> boxes, polygons, RLE, YouTube-VIS records, ``info``), `writers` (JPEG and
mp4 writing, folder swaps, argument checks) and `datasets` (the splits, `SyntheticSpec` and `generate_all`). The
names below are the public ones: import them from ``vis.data.synthetic``, so callers do not depend on which
submodule holds a name.
"""
from __future__ import annotations

from .annotations import box_and_area, coco_segmentation, dataset_seed, mask_to_polygon, tight_box
from .datasets import (
    NUM_TEST_IMAGES,
    NUM_TEST_VIDEOS,
    NUM_VAL_IMAGES,
    NUM_VAL_VIDEOS,
    SPLIT_GROUPS,
    YTVIS_FRAME_STEP,
    SyntheticSpec,
    generate_all,
    make_coco_split,
    make_ytvis_split,
    render_coco_image,
)
from .scenes import Track, VideoScene, render_video, sample_demo_scene, sample_image, sample_video_scene, simulate_track
from .shapes import (
    CATEGORIES,
    CATEGORY_IDS,
    CLASS_NAMES,
    SHAPE_OUTLINES,
    Appearance,
    Footprint,
    outline_points,
    paint,
    rasterize,
    visible_parts,
)
from .textures import add_grain, make_background, make_object_tile, random_appearance
from .writers import JPEG_QUALITY, write_demo_video, write_long_video

__all__ = [
    "CATEGORIES", "CATEGORY_IDS", "CLASS_NAMES", "JPEG_QUALITY", "NUM_TEST_IMAGES", "NUM_TEST_VIDEOS", "NUM_VAL_IMAGES",
    "NUM_VAL_VIDEOS", "SHAPE_OUTLINES", "SPLIT_GROUPS", "YTVIS_FRAME_STEP", "Appearance", "Footprint",
    "SyntheticSpec", "Track", "VideoScene", "add_grain", "box_and_area", "coco_segmentation", "dataset_seed",
    "generate_all", "make_background", "make_coco_split", "make_object_tile", "make_ytvis_split", "mask_to_polygon",
    "outline_points", "paint",
    "random_appearance", "rasterize", "render_coco_image", "render_video", "sample_demo_scene", "sample_image",
    "sample_video_scene", "simulate_track", "tight_box", "visible_parts", "write_demo_video", "write_long_video",
]
