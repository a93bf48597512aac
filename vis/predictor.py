"""The Python API: a model by name or by files, then ``track(source)`` yields one result per frame, lazily.

    from vis import VideoPredictor

    predictor = VideoPredictor(model="queryinst_r50_fpn_1x_coco", device="cuda", amp=True)
    for result in predictor.track("clip.mp4"):
        print(result.frame_index, result.track_ids, result.class_names, result.scores)

The options are `tools/run_video.py`'s, by the same names (`vis.options.RunOptions`). ``track`` runs the loop
that run_video runs (`vis.inference.track_video`, decoding in a background thread), so a result holds every
track that run_video's JSONL holds for the same frame, in the same order; ``predict(image)`` segments one image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, List, Optional

import numpy as np

from .io.video import DEFAULT_RECONNECT, DEFAULT_TIMEOUT
from .options import RunOptions


@dataclass
class FrameResult:
    """One frame's instances, as numpy arrays at the frame's size. ``labels`` is the class shown (the track's
    majority class so far, as the outputs write it), ``det_labels`` this frame's own; ``track_ids`` is None for
    `VideoPredictor.predict`."""

    frame_index: int
    image: np.ndarray  # HxWx3 uint8 RGB
    boxes: np.ndarray  # [n, 4] float32 xyxy, frame pixels
    masks: np.ndarray  # [n, H, W] bool
    scores: np.ndarray  # [n] float32
    labels: np.ndarray  # [n] int64
    det_labels: np.ndarray  # [n] int64
    class_names: List[Optional[str]]
    track_ids: Optional[np.ndarray]  # [n] int64

    def __len__(self) -> int:
        return len(self.scores)


def frame_result(frame_index: int, image: np.ndarray, instances: Any, names: List[str], tracked: bool = True
                 ) -> FrameResult:
    """A tracked (`vis.inference.track_video`) or, with ``tracked=False``, predicted `Instances` -> `FrameResult`."""
    from .io.sinks import display_labels
    from .structures import image_masks

    n = len(instances)
    labels = display_labels(instances) if n else np.zeros(0, np.int64)
    height, width = image.shape[:2]
    masks = image_masks(instances.masks) if n else np.zeros((0, height, width), bool)
    return FrameResult(
        frame_index=int(frame_index), image=image,
        boxes=instances.boxes.float().cpu().numpy() if n else np.zeros((0, 4), np.float32),
        masks=np.asarray(masks.cpu().numpy() if hasattr(masks, "cpu") else masks, dtype=bool),
        scores=instances.scores.float().cpu().numpy() if n else np.zeros(0, np.float32),
        labels=np.asarray(labels, np.int64),
        det_labels=instances.labels.cpu().numpy().astype(np.int64) if n else np.zeros(0, np.int64),
        class_names=[names[i] if 0 <= i < len(names) else None for i in labels.tolist()],
        track_ids=None if not tracked else
        instances.track_ids.cpu().numpy().astype(np.int64) if n else np.zeros(0, np.int64),
    )


class VideoPredictor:
    """A loaded model and its tracker settings. ``VideoPredictor(model=NAME)``, ``VideoPredictor(config=...,
    checkpoint=...)`` or ``VideoPredictor()`` (the bundled demo model), with `RunOptions`' other fields as keyword
    arguments. Bad options are one-line `vis.VisError`s raised here, before anything loads."""

    def __init__(self, model: Optional[str] = None, config: Optional[str] = None,
                 checkpoint: Optional[str] = None, **options: Any):
        from .inference import build_preprocess, build_video_tracker, load_video_model, resolve_device

        unknown = sorted(set(options) - set(RunOptions.__dataclass_fields__))
        if unknown:
            from .errors import ConfigError

            raise ConfigError(f"unknown option '{unknown[0]}' (choose from "
                              f"{', '.join(sorted(RunOptions.__dataclass_fields__))})")
        self.options = RunOptions(model=model, config=config, checkpoint=checkpoint, **options).check()
        resolved = self.options.resolve(quiet=True)
        self.device = resolve_device(resolved.device)
        loaded = load_video_model(resolved, self.device)
        self.model, self.cfg, self.class_names = loaded.model, loaded.cfg, list(loaded.class_names)
        self.tracker_cfg, self.notes = loaded.tracker_cfg, loaded.notes
        self.preprocess = build_preprocess(loaded.cfg)
        # `predict` keeps what the video path keeps: ``score_thr`` when given, else the tracker's threshold.
        self.predict_thr = self.options.score_thr
        if self.predict_thr is None:
            self.predict_thr = getattr(build_video_tracker(self.tracker_cfg), "score_thr", None)

    def track(self, source: str, start: int = 0, end: Optional[int] = None, fps: Optional[float] = None,
              vid_stride: int = 1, timeout: float = DEFAULT_TIMEOUT, reconnect: int = DEFAULT_RECONNECT
              ) -> Iterator[FrameResult]:
        """Track a video file, a folder of frames, a webcam (``0``) or a stream URL (every ``vid_stride``-th frame of
        ``start <= i < end``; ``timeout`` and ``reconnect`` as `tools/run_video.py`'s): one `FrameResult` per frame,
        as soon as it is tracked. Each call starts a new tracker (track ids from 0). A live source runs until it
        ends or the loop stops (``break`` closes it)."""
        from .inference import build_video_tracker, track_video
        from .io.sources import open_source
        from .io.video import FrameReader, FrameSpan, read_queue_size
        from .utils.threads import streaming_threads

        import torch

        tracker = build_video_tracker(self.tracker_cfg, self.options.score_thr)
        video = open_source(str(source), FrameSpan(start, end, fps, vid_stride, timeout, reconnect))
        reader = FrameReader(video, queue_size=read_queue_size(video.frame_size))
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(streaming_threads(self.options.threads))
        try:
            for index, image, tracked in track_video(self.model, reader, tracker, self.device,
                                                     self.options.batch_size, self.preprocess, self.options.amp):
                yield frame_result(index, image, tracked, self.class_names)
        finally:
            reader.close()
            video.close()
            torch.set_num_threads(previous_threads)

    def predict(self, image: np.ndarray) -> FrameResult:
        """Segment one HxWx3 uint8 RGB image (no tracking): the detections above the tracker's score threshold
        (``score_thr`` when given)."""
        from .inference import predict_frames

        inputs = [self.preprocess(image).to(self.device)]
        (instances,) = predict_frames(self.model, inputs, [tuple(image.shape[:2])], self.options.amp,
                                      score_thr=self.predict_thr)
        return frame_result(0, image, instances.to("cpu"), self.class_names, tracked=False)
