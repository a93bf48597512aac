"""Training data at the real datasets' size: the body of ``tools/benchmark_data.py``.

The annotation files are generated at the size of the real training sets (annotations only; every image or frame
file is a link to one real-size JPEG), then read the way training reads them (`vis.data.build_dataset` with the
config's training transforms, `vis.engine.trainer.TrainData` with N loader workers). Figures:

- ``build_s``: building the dataset from the JSON file;
- ``dataset_mb``: what the built dataset holds in the process (RSS after building, less RSS before reading the
  file, both after a garbage collection; the JSON's own peak while it is parsed is not counted);
- ``pss_mb_batch_<a>`` / ``pss_mb_batch_<b>``: the proportional set size of the main process plus its workers at
  two batches, and ``pss_growth_pct`` between them: pages the workers copy from the main process as they read the
  dataset (copy-on-read of Python objects) show here; ``pss_mb_main``, ``pss_mb_per_worker`` and the
  ``pss_anon_mb`` / ``pss_file_mb`` / ``pss_shmem_mb`` split of the total say where it lies at the last batch;
- ``samples_per_s_per_worker``: decoding, the training transforms (COCO: resize to 1333×800, flip) and masks.

Each dataset is measured in a fresh process, so one does not inherit another's memory.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from vis.errors import VisError
from vis.io.files import atomic_write_json

# name -> (what it stands for, its size)
SIZES: Dict[str, Dict[str, Any]] = {
    "coco": dict(what="COCO train2017", images=118_287, instances=860_001, size=(480, 640)),
    "ytvis2019": dict(what="YouTube-VIS 2019 train", videos=2_238, instances=3_774, frames=(20, 36),
                      size=(720, 1280)),
    "ytvis2021": dict(what="YouTube-VIS 2021 train", videos=2_985, instances=6_283, frames=(20, 36),
                      size=(720, 1280)),
    "ovis": dict(what="OVIS train", videos=607, instances=3_579, frames=(30, 150), size=(720, 1280)),
}
CONFIGS = {"coco": "configs/queryinst/queryinst_r50_fpn_1x_coco.py",
           "ytvis2019": "configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py"}


@dataclass
class DataPlan:
    """Which dataset, at what fraction of its real size, with how many workers, and the two batches compared."""

    dataset: str = "coco"
    scale: float = 1.0
    workers: int = 4
    batches: Tuple[int, int] = (10, 1000)
    batch_size: int = 2
    work_dir: str = "work/benchmark_data"

    def check(self) -> "DataPlan":
        if self.dataset not in SIZES:
            raise VisError(f"unknown dataset '{self.dataset}' (choose from {', '.join(SIZES)})")
        if not 0 < self.scale <= 1:
            raise VisError(f"--scale must be in (0, 1], got {self.scale}")
        if self.workers < 1:
            raise VisError(f"--workers must be >= 1, got {self.workers}")
        if not 1 <= self.batches[0] < self.batches[1]:
            raise VisError(f"--batches must be two increasing counts >= 1, got {self.batches}")
        return self


# -- annotation files --------------------------------------------------------------------------------
def _real_size_jpeg(path: str, size: Tuple[int, int]) -> str:
    import cv2

    if not os.path.isfile(path):
        rng = np.random.default_rng(0)
        height, width = size
        base = cv2.resize(rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8), (width, height))
        noise = rng.integers(0, 24, (height, width, 3), dtype=np.uint8)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, base + noise, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def _polygon(rng: np.random.Generator, height: int, width: int) -> Tuple[List[float], List[float]]:
    """A random star-shaped polygon (12-40 vertices, 2 decimals as COCO's) and its xywh box."""
    n = int(rng.integers(12, 41))
    cx, cy = rng.uniform(40, width - 40), rng.uniform(40, height - 40)
    radius = rng.uniform(8, 40, n)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    xs = np.clip(cx + radius * np.cos(angles), 0, width - 1).round(2)
    ys = np.clip(cy + radius * np.sin(angles), 0, height - 1).round(2)
    box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min()) + 1, float(ys.max() - ys.min()) + 1]
    return np.stack([xs, ys], 1).ravel().tolist(), box


def write_coco(path: str, image_dir: str, plan: DataPlan) -> None:
    """A COCO instances file of ``scale`` x train2017's images and instances, every image a link to one JPEG."""
    spec = SIZES["coco"]
    height, width = spec["size"]
    jpeg = _real_size_jpeg(os.path.join(image_dir, "..", "real_size.jpg"), spec["size"])
    rng = np.random.default_rng(0)
    num_images = max(1, int(spec["images"] * plan.scale))
    counts = rng.multinomial(int(spec["instances"] * plan.scale), np.full(num_images, 1.0 / num_images))
    images, annotations = [], []
    os.makedirs(image_dir, exist_ok=True)
    for i in range(num_images):
        name = f"{i + 1:012d}.jpg"
        link = os.path.join(image_dir, name)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(jpeg), link)
        images.append({"id": i + 1, "file_name": name, "height": height, "width": width})
        for _ in range(int(counts[i])):
            polygon, box = _polygon(rng, height, width)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(rng.integers(1, 81)),
                                "segmentation": [polygon], "area": box[2] * box[3] * 0.6, "bbox": box,
                                "iscrowd": 0})
    categories = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in range(1, 81)]
    atomic_write_json(path, {"images": images, "annotations": annotations, "categories": categories},
                      separators=(",", ":"))


def _rle_pool(size: Tuple[int, int], count: int = 32) -> List[Tuple[Dict[str, Any], List[float], float]]:
    """``count`` compressed RLE masks (ellipses) at ``size``, with their boxes and areas, reused by the tracks."""
    import cv2
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(1)
    height, width = size
    pool = []
    for _ in range(count):
        mask = np.zeros((height, width), np.uint8)
        center = (int(rng.integers(100, width - 100)), int(rng.integers(100, height - 100)))
        axes = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
        cv2.ellipse(mask, center, axes, 0, 0, 360, 1, -1)
        rle = mask_utils.encode(np.asfortranarray(mask))
        rle["counts"] = rle["counts"].decode("ascii")
        pool.append((rle, [float(v) for v in mask_utils.toBbox(rle)], float(mask_utils.area(rle))))
    return pool


def write_ytvis(path: str, image_dir: str, plan: DataPlan) -> None:
    """A YouTube-VIS file of ``scale`` x the named train set: videos of the set's lengths, each frame a link to one
    JPEG, tracks spread over the videos (OVIS: many per video), each present on most frames with an RLE."""
    spec = SIZES[plan.dataset]
    height, width = spec["size"]
    jpeg = _real_size_jpeg(os.path.join(image_dir, "..", "real_size.jpg"), spec["size"])
    pool = _rle_pool(spec["size"])
    rng = np.random.default_rng(0)
    num_videos = max(1, int(spec["videos"] * plan.scale))
    lengths = rng.integers(spec["frames"][0], spec["frames"][1] + 1, num_videos)
    tracks_per_video = rng.multinomial(max(num_videos, int(spec["instances"] * plan.scale)),
                                       np.full(num_videos, 1.0 / num_videos))
    videos, annotations = [], []
    for v in range(num_videos):
        folder = os.path.join(image_dir, f"video{v:05d}")
        os.makedirs(folder, exist_ok=True)
        names = []
        for t in range(int(lengths[v])):
            link = os.path.join(folder, f"{t * 5:05d}.jpg")
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(jpeg), link)
            names.append(f"video{v:05d}/{t * 5:05d}.jpg")
        videos.append({"id": v + 1, "file_names": names, "length": len(names), "height": height, "width": width})
        for _ in range(max(1, int(tracks_per_video[v]))):
            present = rng.random(len(names)) < 0.9
            picks = rng.integers(0, len(pool), len(names))
            annotations.append({
                "id": len(annotations) + 1, "video_id": v + 1, "category_id": int(rng.integers(1, 26)), "iscrowd": 0,
                "segmentations": [pool[p][0] if keep else None for p, keep in zip(picks, present)],
                "bboxes": [pool[p][1] if keep else None for p, keep in zip(picks, present)],
                "areas": [pool[p][2] if keep else None for p, keep in zip(picks, present)],
                "height": height, "width": width, "length": 1})
    categories = [{"id": c, "name": f"class{c}", "supercategory": "object"} for c in range(1, 26)]
    atomic_write_json(path, {"info": {}, "licenses": [], "videos": videos, "annotations": annotations,
                             "categories": categories}, separators=(",", ":"))


def annotation_file(plan: DataPlan, on_note: Callable[[str], None]) -> Tuple[str, str]:
    """(annotation file, image folder) of the plan's dataset and scale, written once under ``work_dir``."""
    root = os.path.join(plan.work_dir, f"{plan.dataset}_{plan.scale:g}")
    path, images = os.path.join(root, "annotations.json"), os.path.join(root, "images")
    if not os.path.isfile(path):
        on_note(f"writing {SIZES[plan.dataset]['what']} x {plan.scale:g} annotations to {path} ...")
        os.makedirs(root, exist_ok=True)
        (write_coco if plan.dataset == "coco" else write_ytvis)(path, images, plan)
    return path, images


# -- the measurement ---------------------------------------------------------------------------------
def _pss_mb(pids: List[int], field: str = "Pss") -> float:
    """The sum over ``pids`` of one ``smaps_rollup`` field (Pss, Pss_Anon, Pss_File, Pss_Shmem) in MB."""
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            total += sum(float(line.split()[1]) for line in f if line.startswith(f"{field}:")) / 1024.0
    return total


def _dataset_cfg(plan: DataPlan, ann_file: str, img_dir: str) -> Dict[str, Any]:
    from vis.config import load_config, to_plain

    cfg = load_config(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                   CONFIGS["coco" if plan.dataset == "coco" else "ytvis2019"]))
    train = dict(to_plain(cfg.data.train))
    train.update(ann_file=ann_file, img_dir=img_dir)
    if plan.dataset != "coco":
        train.pop("classes", None)
        train.pop("class_map", None)
    return train


def _measure(queue: Any, plan: DataPlan, ann_file: str, img_dir: str) -> None:
    """Body of the measuring process: build, then draw batches with the workers; reports through ``queue``."""
    import torch

    from vis.data import build_dataset, collate
    from vis.data.serialized import frozen_heap
    from vis.engine.trainer import TrainData
    from vis.utils.benchmark import memory_mb

    try:
        # Spawned for a clean heap, this process now defaults to spawning its own children too; training forks its
        # loader workers (Linux's default), and shares the dataset with them only that way.
        multiprocessing.set_start_method("fork", force=True)
        torch.set_num_threads(1)
        gc.collect()
        before = memory_mb()[0]
        began = time.perf_counter()
        dataset = build_dataset(_dataset_cfg(plan, ann_file, img_dir))
        build_s = time.perf_counter() - began
        gc.collect()
        figures = {"records": len(dataset), "build_s": build_s, "dataset_mb": memory_mb()[0] - before}
        loader = TrainData(dataset, collate, batch_size=plan.batch_size, num_workers=plan.workers).loader(
            0, plan.batches[1])
        with frozen_heap():  # as the trainer forks its workers
            iterator = iter(loader)
        timed_from = None
        for batch in range(1, plan.batches[1] + 1):
            next(iterator)
            if batch == plan.batches[0]:
                pids = [os.getpid()] + [w.pid for w in iterator._workers]
                figures[f"pss_mb_batch_{batch}"] = _pss_mb(pids)
                timed_from = time.perf_counter()
        seconds = time.perf_counter() - timed_from
        pids = [os.getpid()] + [w.pid for w in iterator._workers]
        figures[f"pss_mb_batch_{plan.batches[1]}"] = _pss_mb(pids)
        # Where it lies at the last batch: the main process, an average worker, and of the total the heap pages
        # (anon), the mapped libraries (file: torch's CUDA build is most of it) and the batches in flight (shmem).
        figures["pss_mb_main"] = _pss_mb(pids[:1])
        figures["pss_mb_per_worker"] = _pss_mb(pids[1:]) / plan.workers
        for field in ("Pss_Anon", "Pss_File", "Pss_Shmem"):
            figures[f"{field.lower()}_mb"] = _pss_mb(pids, field)
        samples = (plan.batches[1] - plan.batches[0]) * plan.batch_size
        figures["samples_per_s_per_worker"] = samples / seconds / plan.workers
        del iterator, loader
        queue.put(figures)
    except BaseException as exc:  # the parent turns it into a one-line error
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def benchmark_data(plan: DataPlan, on_figure: Callable[[str, Any, str], None],
                   on_note: Callable[[str], None]) -> Dict[str, Any]:
    """Write the plan's annotation file (once), measure it in a fresh process; -> the figures."""
    plan.check()
    if not os.path.exists("/proc/self/smaps_rollup"):
        raise VisError("tools/benchmark_data.py reads PSS from /proc/<pid>/smaps_rollup (Linux only)")
    ann_file, img_dir = annotation_file(plan, on_note)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_measure, args=(queue, plan, ann_file, img_dir))
    worker.start()
    figures = queue.get()
    worker.join()
    if "error" in figures:
        raise VisError(f"the measured run failed: {figures['error']}")
    early, late = (figures[f"pss_mb_batch_{b}"] for b in plan.batches)
    figures["pss_growth_pct"] = 100.0 * (late - early) / early
    report = {"dataset": plan.dataset, "what": SIZES[plan.dataset]["what"], "scale": plan.scale,
              "workers": plan.workers, "batch_size": plan.batch_size, **figures}
    for key, value in report.items():
        on_figure(key, value, "")
    return report
