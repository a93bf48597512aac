"""Evaluation at the real validation sets' size: the body of ``tools/benchmark_eval.py``.

Two files are generated once (annotations and results only, no image):

- YouTube-VIS: a validation-sized ground truth (``videos`` videos of 19-36 frames at 720x1280, 1-4 tracks each, as
  YouTube-VIS 2019 valid's 302 videos) and a results file with ``tracks_per_video`` tracks per video (a close copy
  of each object, a copy under another class, the rest false tracks), every mask a compressed RLE;
- COCO: a val2017-sized ground truth (``images`` images, 36,781 polygon instances) and ``dets_per_image``
  detections per image with a box and an RLE mask.

Each evaluation runs as its own process, the way a user runs it, and is timed from outside: wall time and the
process's peak resident memory (``ru_maxrss`` of ``os.wait4``). Ours is ``tools/eval_ytvis.py --json`` and
``tools/eval_coco.py --json``; the official code runs beside it on the same files when its folder is given:

- YouTube-VIS: ``ytvos.py`` + ``ytvoseval.py`` of youtubevos/cocoapi (``--official-ytvis``: its
  ``PythonAPI/pycocotools`` folder), loaded as a package whose ``mask`` module is the installed pycocotools' (the
  fork's C extension is the same ``maskApi.c``). Two shims let the unmodified 2019 code run on today's numpy: its
  module sees a ``numpy`` whose ``float`` is ``float`` (removed in numpy 1.24) and whose ``linspace`` takes a float
  count (an error since numpy 1.18), and its plotting imports (``matplotlib``, used only by ``showAnns``) get
  empty modules when matplotlib is not installed.
- COCO: pycocotools' ``COCOeval`` itself, bbox then segm, each on its own copy of the results as mmdetection
  writes them (boxes only / masks only).

Runs alternate (ours, official, ours, ...) so both see the same machine; the figures are the medians.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from vis.errors import VisError
from vis.io.files import atomic_write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YTVIS_SIZE = (720, 1280)
COCO_SIZE = (480, 640)
COCO_VAL_INSTANCES = 36_781  # instances in COCO val2017


@dataclass
class EvalPlan:
    """Which evaluations, at what size, how many alternating repeats, and where the official code lies."""

    videos: int = 302
    tracks_per_video: int = 10
    images: int = 5000
    dets_per_image: int = 100
    repeats: int = 3
    coco_repeats: int = 1
    official_ytvis: Optional[str] = None
    work_dir: str = "work/benchmark_eval"

    def check(self) -> "EvalPlan":
        for name in ("videos", "tracks_per_video", "images", "dets_per_image"):
            if getattr(self, name) < 0:
                raise VisError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.repeats < 1 or self.coco_repeats < 1:
            raise VisError("--repeats and --coco-repeats must be >= 1")
        if self.official_ytvis is not None:
            folder = self.official_ytvis
            if not os.path.isfile(os.path.join(folder, "ytvoseval.py")):
                raise VisError(f"--official-ytvis {folder} has no ytvoseval.py (give youtubevos/cocoapi's "
                               f"PythonAPI/pycocotools folder)")
        return self


# -- generated files ---------------------------------------------------------------------------------
def _ellipse_polygon(center: Tuple[float, float], axes: Tuple[float, float], size: Tuple[int, int],
                     decimals: Optional[int] = None) -> List[float]:
    """A 24-vertex ellipse inside the image, as COCO's flat [x0, y0, x1, y1, ...] (rounded as COCO's 2 decimals when
    ``decimals`` is given)."""
    height, width = size
    angles = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    xs = np.clip(center[0] + axes[0] * np.cos(angles), 0, width - 1)
    ys = np.clip(center[1] + axes[1] * np.sin(angles), 0, height - 1)
    if decimals is not None:
        xs, ys = xs.round(decimals), ys.round(decimals)
    return np.stack([xs, ys], 1).ravel().tolist()


def _polygon_rle(polygon: List[float], size: Tuple[int, int]) -> Dict[str, Any]:
    """A polygon rasterised by pycocotools straight to compressed RLE (no image in memory)."""
    from pycocotools import mask as mask_util

    return mask_util.merge(mask_util.frPyObjects([polygon], size[0], size[1]))


def _ellipse_rle(center: Tuple[float, float], axes: Tuple[float, float], size: Tuple[int, int]) -> Dict[str, Any]:
    """`_ellipse_polygon` as a results file's RLE (``counts`` a str)."""
    rle = _polygon_rle(_ellipse_polygon(center, axes, size), size)
    return {"size": [size[0], size[1]], "counts": rle["counts"].decode("ascii")}


def _track_rles(rng: np.random.Generator, length: int, size: Tuple[int, int], jitter: float = 0.0,
                path: Optional[Tuple[float, ...]] = None) -> Tuple[List[Optional[Dict[str, Any]]], Tuple[float, ...]]:
    """One object moving in a straight line over ``length`` frames (absent on ~10% of them); ``path`` reuses
    another track's motion with ``jitter`` pixels of noise. -> (RLE or None per frame, the motion)."""
    height, width = size
    if path is None:
        path = (rng.uniform(150, width - 150), rng.uniform(150, height - 150), rng.uniform(-4, 4),
                rng.uniform(-3, 3), rng.uniform(30, 260), rng.uniform(30, 200))
    x0, y0, dx, dy, ax, ay = path
    rles: List[Optional[Dict[str, Any]]] = []
    for t in range(length):
        if rng.random() < 0.1:
            rles.append(None)
            continue
        shift = rng.normal(0.0, jitter, 4) if jitter else np.zeros(4)
        rles.append(_ellipse_rle((x0 + dx * t + shift[0], y0 + dy * t + shift[1]),
                                 (max(4.0, ax + shift[2]), max(4.0, ay + shift[3])), size))
    return rles, path


def write_ytvis_eval_files(gt_path: str, results_path: str, plan: EvalPlan) -> None:
    """A YouTube-VIS ground truth of ``plan.videos`` videos and a results file of ``plan.tracks_per_video``
    tracks per video (module docstring)."""
    from pycocotools import mask as mask_util

    rng = np.random.default_rng(0)
    height, width = YTVIS_SIZE
    videos, annotations, results = [], [], []
    for v in range(1, plan.videos + 1):
        length = int(rng.integers(19, 37))
        names = [f"video{v:04d}/{5 * t:05d}.jpg" for t in range(length)]
        videos.append({"id": v, "width": width, "height": height, "length": length, "file_names": names})
        own: List[Dict[str, Any]] = []
        for _ in range(int(rng.integers(1, 5))):
            rles, path = _track_rles(rng, length, YTVIS_SIZE)
            category = int(rng.integers(1, 41))
            annotations.append({
                "id": len(annotations) + 1, "video_id": v, "category_id": category, "iscrowd": 0,
                "width": width, "height": height, "length": 1, "segmentations": rles,
                "bboxes": [None if r is None else [float(b) for b in mask_util.toBbox(r)] for r in rles],
                "areas": [None if r is None else float(mask_util.area(r)) for r in rles]})
            own.append({"path": path, "category": category})
        for k in range(plan.tracks_per_video):
            source = own[k // 2] if k < 2 * len(own) else None
            rles, _ = _track_rles(rng, length, YTVIS_SIZE, jitter=6.0 if source else 0.0,
                                  path=source["path"] if source else None)
            category = source["category"] if source and k % 2 == 0 else int(rng.integers(1, 41))
            results.append({"video_id": v, "category_id": category, "score": float(rng.uniform(0.05, 1.0)),
                            "segmentations": rles})
    categories = [{"id": c, "name": f"class{c}", "supercategory": "object"} for c in range(1, 41)]
    atomic_write_json(gt_path, {"info": {}, "licenses": [], "videos": videos, "categories": categories,
                                "annotations": annotations}, separators=(",", ":"))
    atomic_write_json(results_path, results, separators=(",", ":"))


def write_coco_eval_files(gt_path: str, results_path: str, plan: EvalPlan) -> None:
    """A COCO ground truth of ``plan.images`` images and ``plan.dets_per_image`` detections per image: each object
    found once closely and once loosely, the rest false detections, each with a box and an RLE mask."""
    from pycocotools import mask as mask_util

    rng = np.random.default_rng(0)
    height, width = COCO_SIZE
    counts = rng.multinomial(int(COCO_VAL_INSTANCES * plan.images / 5000), np.full(plan.images, 1.0 / plan.images))
    images, annotations, results = [], [], []

    def detection(image_id: int, category: int, center, axes) -> Dict[str, Any]:
        rle = _ellipse_rle(center, axes, COCO_SIZE)
        return {"image_id": image_id, "category_id": category, "score": float(rng.uniform(0.01, 1.0)),
                "bbox": [round(float(b), 2) for b in mask_util.toBbox(rle)], "segmentation": rle}

    for i in range(1, plan.images + 1):
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "height": height, "width": width})
        dets = []
        for _ in range(int(counts[i - 1])):
            center = (rng.uniform(20, width - 20), rng.uniform(20, height - 20))
            axes = (rng.uniform(4, 120), rng.uniform(4, 120))
            category = int(rng.integers(1, 81))
            polygon = _ellipse_polygon(center, axes, COCO_SIZE, decimals=2)
            rle = _polygon_rle(polygon, COCO_SIZE)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": category, "iscrowd": 0,
                                "segmentation": [polygon], "area": float(mask_util.area(rle)),
                                "bbox": [round(float(b), 2) for b in mask_util.toBbox(rle)]})
            for jitter in (2.0, 12.0):
                if len(dets) < plan.dets_per_image:
                    shift = rng.normal(0.0, jitter, 4)
                    dets.append(detection(i, category, (center[0] + shift[0], center[1] + shift[1]),
                                          (max(2.0, axes[0] + shift[2]), max(2.0, axes[1] + shift[3]))))
        while len(dets) < plan.dets_per_image:
            dets.append(detection(i, int(rng.integers(1, 81)), (rng.uniform(0, width), rng.uniform(0, height)),
                                  (rng.uniform(4, 120), rng.uniform(4, 120))))
        results.extend(dets)
    categories = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in range(1, 81)]
    atomic_write_json(gt_path, {"images": images, "annotations": annotations, "categories": categories},
                      separators=(",", ":"))
    atomic_write_json(results_path, results, separators=(",", ":"))


def eval_files(kind: str, plan: EvalPlan, on_note: Callable[[str], None]) -> Tuple[str, str]:
    """(ground truth, results) of ``kind`` ('ytvis' or 'coco') at the plan's size, written once under work_dir."""
    size = f"{plan.videos}v_{plan.tracks_per_video}t" if kind == "ytvis" else f"{plan.images}i_{plan.dets_per_image}d"
    root = os.path.join(plan.work_dir, f"{kind}_{size}")
    gt_path, results_path = os.path.join(root, "gt.json"), os.path.join(root, "results.json")
    if not (os.path.isfile(gt_path) and os.path.isfile(results_path)):
        on_note(f"writing the {kind} ground truth and results to {root} ...")
        os.makedirs(root, exist_ok=True)
        (write_ytvis_eval_files if kind == "ytvis" else write_coco_eval_files)(gt_path, results_path, plan)
    return gt_path, results_path


# -- the runs -------------------------------------------------------------------------------------------
OFFICIAL_YTVIS_SCRIPT = """
import importlib, json, sys, types
import numpy as np
from pycocotools import mask
folder, gt_path, results_path = sys.argv[1:4]
package = types.ModuleType("official_ytvis")
package.__path__, package.mask = [folder], mask
sys.modules["official_ytvis"], sys.modules["official_ytvis.mask"] = package, mask
try:
    import matplotlib.collections, matplotlib.patches, matplotlib.pyplot
except ImportError:
    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["matplotlib.collections"].PatchCollection = sys.modules["matplotlib.patches"].Polygon = None
ytvos = importlib.import_module("official_ytvis.ytvos")
ytvoseval = importlib.import_module("official_ytvis.ytvoseval")

class Numpy2019(types.ModuleType):
    def __getattr__(self, name):
        return getattr(np, name)

old_numpy = Numpy2019("numpy")
old_numpy.float = float
old_numpy.linspace = lambda start, stop, num=50, **kw: np.linspace(start, stop, int(num), **kw)
ytvoseval.np = old_numpy
gt = ytvos.YTVOS(gt_path)
evaluator = ytvoseval.YTVOSeval(gt, gt.loadRes(results_path), "segm")
evaluator.evaluate()
evaluator.accumulate()
evaluator.summarize()
keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10")
print(json.dumps({k: float(v) for k, v in zip(keys, evaluator.stats)}))
"""

OFFICIAL_COCO_SCRIPT = """
import json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt_path, results_path = sys.argv[1:3]
gt = COCO(gt_path)
with open(results_path) as f:
    results = json.load(f)
figures = {}
for iou_type, field in (("bbox", "bbox"), ("segm", "segmentation")):
    dets = [{"image_id": r["image_id"], "category_id": r["category_id"], "score": r["score"], field: r[field]}
            for r in results]
    evaluator = COCOeval(gt, gt.loadRes(dets), iou_type)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    names = ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")
    figures.update({f"{iou_type}_{n}": float(v) for n, v in zip(names, evaluator.stats)})
print(json.dumps(figures))
"""


def _run_measured(command: List[str]) -> Tuple[float, float, Dict[str, float]]:
    """Run ``command`` in the repository, one thread -> (wall seconds, peak resident MB of exactly that process,
    read from ``os.wait4``, the JSON of its last stdout line)."""
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    stdout, stderr = process.stdout.read(), process.stderr.read()  # the outputs are a few lines
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait for it again
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        last = (stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
        raise VisError(f"{' '.join(os.path.basename(c) for c in command[:2])} failed (exit {process.returncode}): "
                       f"{last}")
    return seconds, usage.ru_maxrss / 1024.0, json.loads(stdout.decode().strip().splitlines()[-1])


def _compare(name: str, ours: List[str], official: Optional[List[str]], repeats: int,
             on_figure: Callable[[str, Any, str], None]) -> Dict[str, Any]:
    """Alternate the two commands ``repeats`` times -> median time and peak memory of each, and whether their
    metrics agree (to 1e-12; both print fractions)."""
    runs: Dict[str, List[Tuple[float, float, Dict[str, float]]]] = {"ours": [], "official": []}
    for _ in range(repeats):
        runs["ours"].append(_run_measured(ours))
        if official is not None:
            runs["official"].append(_run_measured(official))
    report: Dict[str, Any] = {}
    for side, done in runs.items():
        if done:
            report[f"{name}_{side}_s"] = statistics.median(r[0] for r in done)
            report[f"{name}_{side}_peak_mb"] = statistics.median(r[1] for r in done)
    metrics = runs["ours"][0][2]
    report[f"{name}_metrics"] = metrics
    if official is not None:
        theirs = runs["official"][0][2]
        differing = [k for k in theirs if abs(float(metrics.get(k, float("nan"))) - theirs[k]) > 1e-12]
        report[f"{name}_metrics_equal"] = not differing
        if differing:
            report[f"{name}_official_metrics"] = theirs
        report[f"{name}_time_ratio"] = report[f"{name}_ours_s"] / report[f"{name}_official_s"]
    for key, value in report.items():
        unit = "s" if key.endswith("_s") else "MB" if key.endswith("_mb") else ""
        on_figure(key, value, unit)
    return report


def benchmark_eval(plan: EvalPlan, on_figure: Callable[[str, Any, str], None],
                   on_note: Callable[[str], None]) -> Dict[str, Any]:
    """Write the files (once), then time ours beside the official code: YouTube-VIS, then COCO bbox + segm."""
    plan.check()
    python = sys.executable
    report: Dict[str, Any] = {"videos": plan.videos, "tracks_per_video": plan.tracks_per_video,
                              "images": plan.images, "dets_per_image": plan.dets_per_image}
    if plan.videos and plan.tracks_per_video:
        gt, results = eval_files("ytvis", plan, on_note)
        official = None
        if plan.official_ytvis:
            official = [python, "-c", OFFICIAL_YTVIS_SCRIPT, os.path.abspath(plan.official_ytvis), gt, results]
        else:
            on_note("--official-ytvis not given: timing ours only (clone youtubevos/cocoapi and give its "
                    "PythonAPI/pycocotools folder to compare)")
        ours = [python, os.path.join(REPO, "tools", "eval_ytvis.py"), "--ann", gt, "--results", results, "--json"]
        report.update(_compare("ytvis", ours, official, plan.repeats, on_figure))
    if plan.images and plan.dets_per_image:
        gt, results = eval_files("coco", plan, on_note)
        ours = [python, os.path.join(REPO, "tools", "eval_coco.py"), "--ann", gt, "--results", results, "--json"]
        official = [python, "-c", OFFICIAL_COCO_SCRIPT, gt, results]
        report.update(_compare("coco", ours, official, plan.coco_repeats, on_figure))
    return report
