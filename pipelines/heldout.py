"""One checkpoint on the held-out synthetic test splits of several generator seeds: mean and min–max.

The synthetic generator (`vis.data.synthetic`) writes a ``test`` split per seed from its own RNG stream.
Choices (schedules, tracker thresholds) are made on ``val`` / ``valid``; the figures we report come from
``test``, on several seeds, because 20 videos or 200 images of one seed leave a spread of several AP.
This is the body of ``tools/test_seeds.py``:

    <data_root>/seed<S>/coco/test/ + coco/annotations/instances_test.json     (task 'images')
    <data_root>/seed<S>/ytvis/test/JPEGImages/ + ytvis/test.json               (task 'videos')

``split='val'`` does the same on the seeds' tuning splits (coco val, ytvis valid): settings are compared
there, on several seeds too, and only the chosen one is run on test.

Missing test splits are generated first (generator defaults for image and frame sizes, the same as
``data/shapes``); a split already there is reused when its JSON says it was written for that seed with
the requested count, and regenerated otherwise. The model is loaded once and run on every seed.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from vis.config import load_config
from vis.errors import ConfigError
from vis.options import RunOptions

DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_DATA_ROOT = "data/heldout"
TASKS = ("images", "videos")
# The figures summarised per task, in print order: (metric key, column title, percent?).
SUMMARY_COLUMNS = {
    "images": [("segm_mAP", "segm AP", True), ("segm_mAP_50", "AP50", True), ("segm_mAP_75", "AP75", True),
               ("bbox_mAP", "bbox AP", True)],
    "videos": [("AP", "AP", True), ("AP50", "AP50", True), ("AP75", "AP75", True), ("AR1", "AR1", True),
               ("AR10", "AR10", True), ("IDSW_per_video", "IDSW/video", False),
               ("matched_fraction", "matched %", True)],
}


def default_task(cfg: Any) -> str:
    """A video model (with a track head) is measured on videos, a per-frame segmenter on images."""
    model_type = (cfg.get("model") or {}).get("type")
    return "videos" if model_type == "VideoSegmenter" else "images"


def _split_is_current(ann_file: str, seed: int, key: str, count: int) -> bool:
    """True when ``ann_file`` was written by the generator for ``seed`` with ``count`` images / videos."""
    from vis.data.synthetic import dataset_seed

    if not os.path.isfile(ann_file):
        return False
    try:
        with open(ann_file, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return dataset_seed(data) == seed and len(data.get(key) or []) == count


def ensure_split(data_root: str, seed: int, task: str, split: str, num_items: int,
                 progress: bool = False) -> Dict[str, str]:
    """Split ``split`` ('test' or 'val') of generator ``seed`` under ``<data_root>/seed<seed>``, written if
    missing or stale. Returns {'ann_file', 'img_dir'}.
    """
    from vis.data.synthetic import make_coco_split, make_ytvis_split

    root = os.path.join(data_root, f"seed{seed}")
    if task == "images":
        name = "test" if split == "test" else "val"
        ann_file = os.path.join(root, "coco", "annotations", f"instances_{name}.json")
        img_dir = os.path.join(root, "coco", name)
        if not _split_is_current(ann_file, seed, "images", num_items):
            make_coco_split(root, name, num_items, seed, progress=progress)
    else:
        name = "test" if split == "test" else "valid"  # YouTube-VIS calls its validation split 'valid'
        ann_file = os.path.join(root, "ytvis", f"{name}.json")
        img_dir = os.path.join(root, "ytvis", name, "JPEGImages")
        if not _split_is_current(ann_file, seed, "videos", num_items):
            make_ytvis_split(root, name, num_items, seed, progress=progress)
    return {"ann_file": ann_file, "img_dir": img_dir}


def _dataset_cfg(base: Dict[str, Any], task: str, ann_file: str, img_dir: str) -> Dict[str, Any]:
    """``base`` (the config's test split: its transforms and options) pointed at ``ann_file`` / ``img_dir``."""
    dataset_type = "CocoDataset" if task == "images" else "YTVISDataset"
    if base.get("type") != dataset_type:  # e.g. a video config measured on still images: keep the transforms
        base = {"transforms": base.get("transforms") or []}
    return dict(base, type=dataset_type, ann_file=ann_file, img_dir=img_dir, test_mode=True)


def summarize(per_seed: Sequence[Dict[str, Any]], task: str) -> Dict[str, Dict[str, float]]:
    """{metric: {'mean', 'min', 'max'}} over the seeds, for the task's summary columns (-1 values skipped)."""
    summary: Dict[str, Dict[str, float]] = {}
    for key, _, _ in SUMMARY_COLUMNS[task]:
        values = [float(r["metrics"][key]) for r in per_seed if float(r["metrics"].get(key, -1.0)) >= 0]
        if values:
            summary[key] = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
    return summary


def format_report(report: Dict[str, Any]) -> str:
    """Per-seed rows, then the mean and the min–max range (percent with one decimal; IDSW per video as is)."""
    columns = SUMMARY_COLUMNS[report["task"]]

    def cell(value: Optional[float], percent: bool) -> str:
        if value is None or value < 0:
            return "-"
        return f"{100.0 * value:.1f}" if percent else f"{value:.2f}"

    header = ["seed", "items"] + [title for _, title, _ in columns]
    rows = [[str(r["seed"]), str(r["num_items"])] + [cell(r["metrics"].get(k), p) for k, _, p in columns]
            for r in report["per_seed"]]
    summary = report["summary"]
    rows.append(["mean", str(sum(r["num_items"] for r in report["per_seed"]))]
                + [cell(summary.get(k, {}).get("mean"), p) for k, _, p in columns])
    rows.append(["min–max", ""] + [f"{cell(summary[k]['min'], p)}–{cell(summary[k]['max'], p)}" if k in summary
                                   else "-" for k, _, p in columns])
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]

    def line(row: List[str]) -> str:
        return " | ".join(v.rjust(w) for v, w in zip(row, widths))

    title = (f"{report['task']}: {report.get('split', 'test')} splits of seeds "
             f"{', '.join(str(s) for s in report['seeds'])}")
    return "\n".join([title, line(header), "-+-".join("-" * w for w in widths)] + [line(r) for r in rows])


def _check_plan(cfg: Any, seeds: Sequence[int], task: Optional[str], split: str, num_items: Optional[int],
                options: RunOptions) -> Tuple[List[int], str, int]:
    """The checks of `evaluate_seeds`' arguments, before torch is imported; -> (seeds, task, num_items)."""
    from vis.data.synthetic import NUM_TEST_IMAGES, NUM_TEST_VIDEOS, NUM_VAL_IMAGES, NUM_VAL_VIDEOS

    if split not in ("test", "val"):
        raise ConfigError(f"unknown split '{split}' (use test or val)")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("give at least one seed")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct non-negative integers, got {seeds}")
    task = task or default_task(cfg)
    if task not in TASKS:
        raise ConfigError(f"unknown task '{task}' (use {' or '.join(TASKS)})")
    if options.tracker is not None and task != "videos":
        raise ConfigError(f"--tracker applies to videos, and the task is '{task}' (add --task videos)")
    if options.amp and task != "videos":
        raise ConfigError("--amp applies to videos here (the task is 'images')")
    if num_items is None:
        sizes = {("images", "test"): NUM_TEST_IMAGES, ("videos", "test"): NUM_TEST_VIDEOS,
                 ("images", "val"): NUM_VAL_IMAGES, ("videos", "val"): NUM_VAL_VIDEOS}
        num_items = sizes[task, split]
    if num_items < 1:
        raise ConfigError(f"num_items must be at least 1, got {num_items}")
    return seeds, task, num_items


def evaluate_seeds(options: RunOptions, seeds: Sequence[int] = DEFAULT_SEEDS, data_root: str = DEFAULT_DATA_ROOT,
                   task: Optional[str] = None, num_items: Optional[int] = None, split: str = "test",
                   progress: bool = True) -> Dict[str, Any]:
    """Evaluate one checkpoint (``options.config`` + ``options.checkpoint``) on the test split of each seed;
    returns {'config', 'checkpoint', 'task', 'split', 'seeds', 'tracker', 'per_seed': [{'seed', 'num_items',
    'metrics'}], 'summary'}.

    ``task``: 'images' (COCO segm/bbox AP) or 'videos' (YouTube-VIS AP + identity switches); default by
    the model type. ``split='val'``: the tuning splits of the seeds instead (val / valid), where settings
    are compared before the one test run. ``num_items``: images or videos per seed (default: the
    generator's size of that split). ``options.tracker`` (videos): 'OnlineTracker' or 'QueryTracker' instead of
    the config's choice (`vis.inference.choose_tracker`); an image model tracks with QueryTracker.
    ``options.backend`` / ``onnx``: the runtime of the per-frame network (`vis.inference.runtime_model`), e.g. an
    int8 ONNX file; ``options.amp`` (videos): autocast, as ``run_video --amp``.
    """
    from vis.engine.checkpoint import resolve_checkpoint

    options.check()
    cfg = load_config(options.config, options.cfg_options)
    seeds, task, num_items = _check_plan(cfg, seeds, task, split, num_items, options)
    options = replace(options, checkpoint=resolve_checkpoint(options.checkpoint))

    import torch  # after every argument is checked, so mistakes are reported at once

    from vis.inference import check_amp, resolve_device

    torch_device = resolve_device(options.device)
    check_amp(options.amp, torch_device)
    split_files = [ensure_split(data_root, seed, task, split, num_items, progress=progress) for seed in seeds]
    evaluate_one, tracker_type = _seed_evaluator(cfg, task, options, torch_device, progress)
    per_seed: List[Dict[str, Any]] = []
    with torch.no_grad():
        for seed, files in zip(seeds, split_files):
            metrics, count = evaluate_one(files)
            per_seed.append({"seed": seed, "num_items": count, "metrics": metrics})
            if progress:
                print(f"seed {seed}: done ({count} {task})", file=sys.stderr)
    return {"config": options.config, "checkpoint": options.checkpoint, "task": task, "split": split,
            "seeds": seeds, "tracker": tracker_type, "per_seed": per_seed, "summary": summarize(per_seed, task)}


def _seed_evaluator(cfg: Any, task: str, options: RunOptions, device: Any, progress: bool
                    ) -> Tuple[Callable[[Dict[str, str]], Tuple[Dict[str, float], int]], Optional[str]]:
    """The model loaded once for `task`; -> (split files -> (metrics, items evaluated), tracker type)."""
    from vis.data import build_dataset
    from vis.inference import load_video_model, runtime_model

    from .evaluate import load_model, run_inference, split_dataset_cfg

    base_dataset_cfg = split_dataset_cfg(cfg, "test", options.config)  # transforms: always the test-time ones
    if task == "videos":
        from .submission import evaluate_video_results, run_video_inference

        loaded = load_video_model(options, device)
        if progress:
            for note in loaded.notes:
                print(note, file=sys.stderr)

        def evaluate_videos(files: Dict[str, str]) -> Tuple[Dict[str, float], int]:
            dataset = build_dataset(_dataset_cfg(base_dataset_cfg, task, files["ann_file"], files["img_dir"]))
            results = run_video_inference(loaded, dataset, options, device, progress)
            with open(files["ann_file"], "r", encoding="utf-8") as f:
                return evaluate_video_results(json.load(f), results), len(dataset.videos)

        return evaluate_videos, loaded.tracker_cfg["type"]

    from vis.evaluation import evaluate_coco

    model = runtime_model(load_model(cfg, options.checkpoint, device), options.backend, options.onnx)

    def evaluate_images(files: Dict[str, str]) -> Tuple[Dict[str, float], int]:
        dataset = build_dataset(_dataset_cfg(base_dataset_cfg, task, files["ann_file"], files["img_dir"]))
        results = run_inference(model, dataset, device=device, progress=progress)
        metrics = evaluate_coco(dataset.coco, results, ("bbox", "segm"), img_ids=getattr(dataset, "img_ids", None))
        return dict(metrics), len(dataset)

    return evaluate_images, None
