"""YouTube-VIS / OVIS dataset inference: videos -> tracked instances -> ``results.json`` + ``submission.zip`` (+ AP).

Each video is streamed frame by frame through ``model.predict`` and a tracker (a `VideoSegmenter`'s track
head with `OnlineTracker`, or any segmenter's query embeddings with `QueryTracker`: an official COCO model gives
a zero-shot submission through the COCO -> YouTube-VIS / OVIS class table); a `VideoResultAccumulator` keeps only
compressed RLE per track and frame. YouTube-VIS 2019 / 2021 / 2022 and OVIS servers all read the same zip
(``results.json`` at its root), so one writer serves them all.
Under torchrun the videos are split into contiguous shards, one per rank, and the per-video results are
gathered on rank 0 in dataset order, so the output is identical to a single process.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch

from vis.config import load_config
from vis.data.samplers import InferenceSampler
from vis.engine import dist
from vis.engine.checkpoint import resolve_checkpoint
from vis.inference import (VideoModel, build_video_tracker, check_amp, load_video_model, resolve_device,
                           track_video)
from vis.options import RunOptions
from vis.tracking import VideoResultAccumulator

def infer_video(model: torch.nn.Module, frames: Any, tracker: Any, device: torch.device,
                label_map: Mapping[int, int], top_k: Optional[int] = None, amp: bool = False) -> List[Dict[str, Any]]:
    """One video (`vis.data.ytvis.VideoFrames`) -> its result entries (one per track, YouTube-VIS format).

    The frames go through `vis.inference.track_video`, as in ``run_video``, with the dataset's test transforms.
    ``label_map``: model label -> dataset category id (`vis.data.label_space.model_label_map`); detections of
    labels it lacks are dropped before tracking, so they neither start tracks nor take a track's place.
    ``amp``: autocast, as ``run_video --amp``.
    """
    accumulator = None
    for index, image, tracked in track_video(model, frames.images(), tracker, device, preprocess=frames.preprocess,
                                             amp=amp, keep_labels=sorted(label_map)):
        if accumulator is None:
            accumulator = VideoResultAccumulator(len(frames), (int(image.shape[0]), int(image.shape[1])))
        accumulator.add(tracked, frame_index=index)
    if accumulator is None:
        return []
    return accumulator.results(frames.video_id, label_map, top_k=top_k)


def dataset_label_map(class_names: Sequence[str], dataset: Any, progress: bool = True) -> Dict[int, int]:
    """The model's labels -> ``dataset``'s category ids (`model_label_map`); its note goes to stderr."""
    from vis.data.label_space import model_label_map

    categories = [{"id": cat_id, "name": name} for cat_id, name in zip(dataset.cat_ids, dataset.class_names)]
    label_map, note = model_label_map(class_names, categories, owner=f"annotation file {dataset.ann_file}")
    if note and progress and dist.get_rank() == 0:
        print(note, file=sys.stderr)
    return label_map


def run_video_inference(loaded: VideoModel, dataset: Any, options: RunOptions, device: Optional[torch.device] = None,
                        progress: bool = True, top_k: Optional[int] = None) -> List[Dict[str, Any]]:
    """All videos of a `YTVISDataset` (this rank's shard) -> results gathered on rank 0 ([] on other ranks).

    ``loaded`` comes from `vis.inference.load_video_model`; its labels are written as the dataset's categories
    through `dataset_label_map`. ``options.score_thr`` replaces the tracker's detection and birth thresholds, and
    ``options.amp`` autocasts the model, as in `run_video`.
    """
    from vis.data.ytvis import VideoFrames

    model = loaded.model
    device = device or next(model.parameters()).device
    label_map = dataset_label_map(loaded.class_names, dataset, progress)
    tracker = build_video_tracker(loaded.tracker_cfg, options.score_thr)
    videos = list(InferenceSampler(len(dataset.videos)))
    bar = None
    if progress and dist.get_rank() == 0:
        from vis.utils.progress import progress_bar

        bar = progress_bar(sum(dataset.num_frames(v) for v in videos), "videos", unit="frame")
    model.eval()
    results: List[Dict[str, Any]] = []
    with torch.no_grad():
        for video_index in videos:
            frames = VideoFrames(dataset, video_index)
            results.extend(infer_video(model, frames, tracker, device, label_map, top_k, options.amp))
            if bar is not None:
                bar.update(len(frames))
    if bar is not None:
        bar.close()
    gathered = dist.all_gather_object(results)
    return [r for part in gathered for r in part] if dist.get_rank() == 0 else []


def evaluate_video_results(gt: Any, results: Any) -> Dict[str, float]:
    """YouTube-VIS AP/AR (the official metric) and identity switches of ``results`` against ``gt``."""
    from vis.evaluation.identity import evaluate_tracks

    return evaluate_tracks(gt, results)


def video_split_cfg(dataset_cfg: Mapping[str, Any], ann_file: Optional[str] = None,
                    img_dir: Optional[str] = None) -> Dict[str, Any]:
    """A config's split -> the `YTVISDataset` config test_vis builds (``ann_file`` / ``img_dir`` replace its files).

    A video split keeps its keys: its ``classes`` checks the file against the table the model was trained on.
    An image split (a COCO config, the zero-shot path) gives only its frame transforms: its ``classes`` /
    ``class_map`` describe COCO files, and would relabel or reject the video file's categories, which are
    what the results must be written in (the model's labels reach them through `dataset_label_map`).
    """
    if dataset_cfg.get("type") == "YTVISDataset":
        video_cfg = dict(dataset_cfg)
    else:
        video_cfg = {key: dataset_cfg[key] for key in ("ann_file", "img_dir", "transforms") if key in dataset_cfg}
    if ann_file:
        video_cfg["ann_file"] = ann_file
        video_cfg["img_dir"] = img_dir
    video_cfg.update(type="YTVISDataset", test_mode=True)
    return video_cfg


def test_vis_from_config(options: RunOptions, ann_file: Optional[str] = None, img_dir: Optional[str] = None,
                         split: str = "test", out_dir: str = "out", top_k: Optional[int] = None,
                         progress: bool = True) -> Dict[str, Any]:
    """Track a YouTube-VIS / OVIS split with ``options.config`` + ``options.checkpoint``; write ``out_dir/results.json``
    and ``out_dir/submission.zip``.

    Any model tracks (`vis.inference.load_video_model`: a video model's track head, or ``options.tracker``
    'QueryTracker', the default for image models). Its labels become the annotation file's categories through
    `vis.data.label_space.model_label_map` (a COCO model on YouTube-VIS or OVIS: the class table, zero-shot).
    ``options.score_thr`` replaces the tracker's ``score_thr`` and ``init_score_thr``, as ``run_video``'s;
    ``backend``, ``onnx``: the runtime of the per-frame network (`vis.inference.runtime_model`); ``amp``: autocast.

    The split is the config's ``data.test`` (``split='val'``: ``data.val``, where tracker settings are
    chosen), or ``ann_file`` / ``img_dir`` with that split's transforms (`video_split_cfg`). With ground truth
    (annotations present) the AP/AR table is printed and returned, and ``out_dir/metrics.json`` is written;
    without it only the submission files are written.
    """
    from vis.data import build_dataset
    from vis.evaluation.identity import format_identity
    from vis.evaluation.submission import write_submission_zip
    from vis.evaluation.ytvis_eval import format_table
    from vis.io.files import atomic_write_json, read_json

    from .evaluate import split_dataset_cfg

    options.check()
    cfg = load_config(options.config, options.cfg_options)
    dataset_cfg = video_split_cfg(split_dataset_cfg(cfg, split, options.config), ann_file, img_dir)
    options = replace(options, checkpoint=resolve_checkpoint(options.checkpoint))  # also a work dir's newest

    dist.init_distributed()
    torch_device = resolve_device(options.device)
    check_amp(options.amp, torch_device)
    dataset = build_dataset(dataset_cfg)
    loaded = load_video_model(options, torch_device)
    if dist.get_rank() == 0:
        for note in loaded.notes:
            print(note, file=sys.stderr)
    results = run_video_inference(loaded, dataset, options, torch_device, progress, top_k)
    if dist.get_rank() != 0:
        return {}

    gt = read_json(dataset.ann_file, "video annotation file")
    results_path, zip_path = write_submission_zip(results, out_dir, gt)
    print(f"wrote {results_path} ({len(results)} tracks) and {zip_path}", file=sys.stderr)
    if not gt.get("annotations"):
        return {}
    metrics = evaluate_video_results(gt, results)
    print(format_table(metrics))
    print(format_identity(metrics))
    atomic_write_json(os.path.join(out_dir, "metrics.json"), metrics, indent=2)
    return metrics
