"""The one inference path: a config + checkpoint become a model, and a video's frames become tracked instances.

Every place that runs a model on video frames goes through this module: ``tools/run_video.py`` (streaming, via
`pipelines.video.run_video`), ``tools/test_vis.py`` and ``tools/test_seeds.py`` (a YouTube-VIS split, via
`pipelines.submission`), and the benchmarks. So a frame is prepared, predicted, cleaned, tracked and pasted the
same way everywhere::

    frame (HxWx3 uint8) -> preprocess (the config's test transforms) -> model.predict (masks deferred)
        -> boxes clipped (the model's FrameTransform) -> keep_labels -> tracker.update -> paste the tracked masks
        -> visible -> track_labels

`load_model` is the one loader of a config's model with a checkpoint (its key report in `LoadReport`);
`load_video_model` adds what tracking needs: the tracker, the class names and the notes to show the user.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .config import load_config, to_plain
from .errors import CheckpointError, ConfigError, VisError
from .options import RunOptions
from .structures import Instances, image_masks, image_tensor

TRACK_HEAD_TRACKER = "OnlineTracker"  # MaskTrack R-CNN association on a trained track head's embeddings
QUERY_TRACKER = "QueryTracker"  # training-free association on the segmenter's query embeddings

TrackedFrame = Tuple[int, np.ndarray, Instances]  # (frame index, the frame as given, its tracked instances)


# -- devices and models ----------------------------------------------------------------------------
def resolve_device(device: Optional[str]) -> torch.device:
    """None -> CUDA when available; under torchrun each rank uses its LOCAL_RANK GPU."""
    from .engine import dist

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise VisError(f"unknown device '{device}' (use cpu or cuda)")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise VisError("--device cuda requested but CUDA is not available")
        return torch.device("cuda", dist.get_local_rank())
    return torch.device("cpu")


def cpu_has_native_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX), where bfloat16 autocast is fast;
    elsewhere it is emulated and slower than float32."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def amp_dtype(device: Any) -> torch.dtype:
    """What ``--amp`` autocasts to: float16 on CUDA, bfloat16 on the CPU."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16


def check_amp(amp: bool, device: torch.device) -> None:
    """``--amp`` is float16 autocast on CUDA and bfloat16 autocast on a CPU that runs bfloat16 natively (there it is
    faster than float32; docs/performance.md has the figures); on another CPU it is a one-line error."""
    if amp and torch.device(device).type != "cuda" and not cpu_has_native_bfloat16():
        raise VisError("--amp on the CPU is bfloat16 autocast, and this CPU has no native bfloat16 (AVX512-BF16 or "
                       "AMX): drop --amp, or use a CUDA device")


def load_model(cfg: Any, checkpoint: str, device: Optional[torch.device] = None, fold_batchnorm: bool = True
               ) -> Tuple[torch.nn.Module, Any]:
    """``cfg.model`` with the checkpoint's weights, in eval mode on ``device`` -> (model, `LoadReport`).

    The model is for inference: ``fold_batchnorm`` folds every BatchNorm that follows a convolution into it
    (`vis.models.fusion.fold_batchnorms`: the same outputs at float noise, less work); its state dict then has
    no BatchNorm keys, so pass False to get the checkpoint's layout.

    A checkpoint of another architecture is a one-line CheckpointError (``same_architecture``); the report
    says which keys were missing or unexpected and what loading changed (e.g. SOLQ's 91 class slots)."""
    from .engine.loading import load_checkpoint
    from .models import build_model
    from .models.fusion import fold_batchnorms

    if cfg.get("model") is None:
        raise ConfigError("the config has no model section")
    model = build_model(cfg.model)
    report = load_checkpoint(model, checkpoint, same_architecture=True)
    model.to(device or torch.device("cpu"))
    model.eval()
    if fold_batchnorm:
        fold_batchnorms(model)
    return model, report


def runtime_model(model: torch.nn.Module, backend: str = "pytorch", onnx: Optional[str] = None,
                  threads: Optional[int] = None, example_size: Tuple[int, int] = (320, 480),
                  compiled: bool = False, amp: bool = False) -> torch.nn.Module:
    """``model`` (from `load_model`) with its per-frame network run by ``backend``: 'pytorch' returns it as it is
    (``compiled``: with the network compiled by ``torch.compile``, `vis.runtime.compiled`); 'onnxruntime' runs the
    ONNX file ``onnx`` (`tools/export_onnx.py`; checked against the model), or, without one, a file exported from
    ``model`` now into a temporary folder (deleted once loaded), on the CPU. Selection, masks of the kept
    detections, pasting and a track head stay the model's PyTorch code (`vis.runtime`), except a mask head the
    file brings along (``--int8-mask-head``), which replaces the model's.

    ``amp``: the model will run under autocast (`predict_frames` with ``amp``): its linear and convolution
    weights are cast to `amp_dtype` once here (`vis.models.fusion.cast_for_autocast`, the same predictions) rather
    than by autocast at every call. An ONNX file is exported before, from the float32 weights."""
    prepared = _runtime_model(model, backend, onnx, threads, example_size, compiled)
    if amp:
        from .models.fusion import cast_for_autocast

        cast_for_autocast(model, amp_dtype(next(model.parameters()).device))
    return prepared


def _runtime_model(model: torch.nn.Module, backend: str, onnx: Optional[str], threads: Optional[int],
                   example_size: Tuple[int, int], compiled: bool) -> torch.nn.Module:
    from .runtime.onnx_network import BACKENDS, OnnxNetwork, RuntimeModel, attach_mask_head

    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")
    if compiled and backend != "pytorch":
        raise ConfigError(f"--compile compiles the PyTorch network; --backend {backend} runs its own")
    if backend == "pytorch":
        if onnx is not None:
            raise ConfigError("--onnx is read by --backend onnxruntime; the pytorch backend runs the checkpoint")
        if compiled:
            from .runtime.compiled import CompiledNetwork

            return RuntimeModel(model, CompiledNetwork(getattr(model, "segmenter", model).network), "pytorch")
        return model
    if next(model.parameters()).device.type != "cpu":
        raise ConfigError(f"--backend {backend} runs on the CPU here: use --device cpu")
    segmenter = getattr(model, "segmenter", model)
    if onnx is not None:
        network = OnnxNetwork(onnx, segmenter, threads)
        attach_mask_head(segmenter, network)  # when the file has one (int8): the model's mask head is replaced
        return RuntimeModel(model, network, backend)
    import tempfile

    from .runtime.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="vis-onnx-") as folder:
        path = export_onnx(segmenter, os.path.join(folder, "network.onnx"), example_size)
        return RuntimeModel(model, OnnxNetwork(path, segmenter, threads), backend)


def class_names_for(model: torch.nn.Module, cfg: Any, checkpoint_names: Optional[Sequence[str]]) -> List[str]:
    """Names of labels 0..K-1: the checkpoint's (its meta, any layout), else the config's ``class_names`` (a list
    or a table name such as 'coco'), else the model's, else 'class 0', 'class 1', ..."""
    from .data.label_space import config_class_names

    num_classes = int(model.num_classes)
    for names in (checkpoint_names, config_class_names(cfg.get("class_names")), getattr(model, "class_names", None)):
        if names is not None and len(names) == num_classes:
            return [str(n) for n in names]
    return [f"class {i}" for i in range(num_classes)]


@dataclass
class VideoModel:
    """What every video path needs from a config + checkpoint.

    ``model`` is what runs per frame: a `VideoSegmenter` when its track head tracks, else a `FrameSegmenter`
    (an image model, or a video model's segmenter when the query tracker is chosen). ``tracker_cfg`` is the
    tracker section to build; ``notes`` are the lines the tools print on stderr: what loading changed in the
    checkpoint (e.g. SOLQ's 91 class slots mapped to 80 labels) and why the tracker is not the config's.
    """

    model: torch.nn.Module
    cfg: Any
    class_names: List[str]
    tracker_cfg: Dict[str, Any]
    notes: List[str] = field(default_factory=list)


def choose_tracker(cfg: Any, tracker: Optional[str], is_video_model: bool, has_track_head: bool,
                   checkpoint: str) -> Tuple[Dict[str, Any], Optional[str]]:
    """-> (tracker section, note). ``tracker`` (e.g. ``--tracker QueryTracker``) overrides the config's type.

    Default: the config's ``tracker`` section; without one, OnlineTracker (the track head) for a video model and
    QueryTracker (query embeddings, no training) for an image model. A named type other than the config's gets
    that tracker's documented defaults. A video config whose checkpoint has no track head (a COCO file) tracks
    with QueryTracker and says so; asking for OnlineTracker there, or for an image model, is a one-line error.
    """
    from .tracking import TRACKERS

    section = dict(to_plain(cfg.get("tracker") or {}))
    if tracker is not None and tracker not in TRACKERS:
        raise ConfigError(f"unknown tracker '{tracker}' (choose from {', '.join(TRACKERS)})")
    explicit = tracker or section.get("type")
    name = explicit or (TRACK_HEAD_TRACKER if is_video_model else QUERY_TRACKER)
    note = None
    if name == TRACK_HEAD_TRACKER and not has_track_head:
        if not is_video_model:
            raise ConfigError(f"{TRACK_HEAD_TRACKER} associates with a track head, and the config's model is an "
                              f"image model without one: use --tracker {QUERY_TRACKER} (or drop the tracker section)")
        if tracker == TRACK_HEAD_TRACKER:
            raise CheckpointError(f"checkpoint {checkpoint} has no track head, which --tracker {TRACK_HEAD_TRACKER} "
                                  f"needs: finetune it on videos, or track with --tracker {QUERY_TRACKER}")
        name = QUERY_TRACKER
        note = (f"checkpoint {os.path.basename(checkpoint)} has no track head (an image model): tracking with "
                f"{QUERY_TRACKER} on the segmenter's query embeddings")
    if section.get("type") == name:
        return section, note
    return dict(type=name), note


def load_video_model(options: RunOptions, device: Optional[torch.device] = None) -> VideoModel:
    """`RunOptions` naming local files (`RunOptions.resolve`) -> `VideoModel` (model in eval mode on ``device``,
    config, class names, tracker).

    Any segmenter tracks: a video model (segmenter + track head) with its track head by default, an image model
    (e.g. an official COCO checkpoint) with `QueryTracker`; see `choose_tracker`. A checkpoint that does not fit
    the config (another segmenter, a video checkpoint with an image config) is a one-line CheckpointError. The
    options' ``backend``, ``onnx``, ``threads`` and ``compiled`` choose the runtime of the per-frame network;
    ``amp``: it will run under autocast, its weights cast once (`runtime_model`).
    """
    from .models import VideoSegmenter

    config, checkpoint = options.config, options.checkpoint
    cfg = load_config(config, options.cfg_options)
    if cfg.get("model") is None:
        raise ConfigError(f"config {config} has no model section")
    model, report = load_model(cfg, checkpoint, device)
    is_video_model = isinstance(model, VideoSegmenter)
    has_track_head = is_video_model and not any(key.startswith("track_head.") for key in report.missing)
    tracker_cfg, note = choose_tracker(cfg, options.tracker, is_video_model, has_track_head, checkpoint)
    class_names = class_names_for(model, cfg, report.class_names)
    if is_video_model and tracker_cfg["type"] != TRACK_HEAD_TRACKER:
        model = model.segmenter  # the same per-frame weights; the track head would only cost time
    model = runtime_model(model, options.backend, options.onnx, options.threads, compiled=options.compiled,
                          amp=options.amp)
    notes = [f"{os.path.basename(checkpoint)}: {line}" for line in report.notes]
    if note:
        notes.append(note)
    if options.backend != "pytorch" and options.onnx is None:
        notes.append(f"--backend {options.backend}: the network was exported to ONNX for this run; "
                     f"tools/export_onnx.py writes it to a file once (then --onnx FILE)")
    return VideoModel(model, cfg, class_names, tracker_cfg, notes)


# -- frames in -------------------------------------------------------------------------------------
def build_preprocess(cfg: Any) -> Callable[[np.ndarray], torch.Tensor]:
    """HxWx3 uint8 RGB -> float32 [3, h, w] 0..255 after the config's test transforms (``data.test``, else
    ``data.val``; none: full resolution). Test transforms are deterministic; a fixed rng keeps it so."""
    from .data.transforms import Compose

    data = to_plain(cfg.get("data") or {})
    split = data.get("test") or data.get("val") or {}
    transforms = Compose(split.get("transforms") or [])

    def preprocess(image: np.ndarray) -> torch.Tensor:
        if len(transforms):
            image = transforms({"image": image}, np.random.default_rng(0))["image"]
        return image_tensor(image)

    return preprocess


def build_video_tracker(tracker_cfg: Mapping[str, Any], score_thr: Optional[float] = None):
    """Build a tracker section (`VideoModel.tracker_cfg`). ``score_thr`` replaces both its ``score_thr`` and
    ``init_score_thr``: detections below it are dropped, every other one may start a track. The threshold
    lives in the tracker only, so it is applied once."""
    from .tracking import build_tracker

    tracker_cfg = dict(tracker_cfg)
    if score_thr is not None:
        tracker_cfg.update(score_thr=float(score_thr), init_score_thr=float(score_thr))
    return build_tracker(tracker_cfg)


# -- one step --------------------------------------------------------------------------------------
def predict_frames(model: torch.nn.Module, inputs: Sequence[torch.Tensor], sizes: Sequence[Tuple[int, int]],
                   amp: bool = False, defer_masks: bool = False, score_thr: Optional[float] = None
                   ) -> List[Instances]:
    """``model.predict`` without gradients, under autocast when ``amp`` (`amp_dtype`: float16 on CUDA, bfloat16 on
    the CPU); its float fields back to float32 (what trackers and sinks read). ``defer_masks``: masks come as
    `DeferredMasks`, pasted later for the detections kept. ``score_thr``: detections below it are not returned
    (nor their masks predicted)."""
    device = inputs[0].device if len(inputs) else torch.device("cpu")
    cast_to = getattr(model, "autocast_weights_dtype", None)
    if cast_to is not None and (not amp or cast_to != amp_dtype(device)):
        raise VisError(f"the model's weights were cast to {cast_to} for autocast (runtime_model(..., amp=True)): "
                       f"run it with amp on a device whose autocast dtype is that")
    with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp):
        results = model.predict(list(inputs), orig_sizes=list(sizes), defer_masks=defer_masks, score_thr=score_thr,
                                clip_boxes=True)
    if amp:
        for instances in results:
            for name, value in instances.fields().items():
                if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float32:
                    instances.set(name, value.float())
    return results


def visible(tracked: Instances) -> Instances:
    """After the tracker: the tracked instances that have something to show (a non-empty mask).

    A detection whose pasted mask is empty still continues its track (dropping it before association breaks
    tracks and costs AP: docs/performance.md), but it is not drawn or written: no box without a mask, no empty
    RLE, no vote for the track's class."""
    if not len(tracked) or not tracked.has("masks"):
        return tracked
    keep = tracked.masks.flatten(1).any(dim=1)
    return tracked if bool(keep.all()) else tracked[keep]


# -- a whole video ---------------------------------------------------------------------------------
def track_video(model: torch.nn.Module, frames: Iterable[Tuple[int, np.ndarray]], tracker: Any,
                device: Optional[torch.device] = None, batch_size: int = 1,
                preprocess: Optional[Callable[[np.ndarray], torch.Tensor]] = None, amp: bool = False,
                keep_labels: Optional[Sequence[int]] = None) -> Iterator[TrackedFrame]:
    """Track one video: ``frames`` yields ``(frame_index, HxWx3 uint8 RGB)`` with increasing indices.

    Yields ``(frame_index, image, tracked)`` per frame, in order, as soon as it is tracked; ``tracked`` is an
    `Instances` on the CPU at the frame's size with ``track_ids``, ``boxes`` (clipped to the frame), ``scores``,
    ``labels`` (this frame's class), ``track_labels`` (the track's majority class so far: one class per track at
    any moment, `vis.tracking.TrackLabelVotes`) and ``masks``. The tracker drops detections below its
    ``score_thr`` (`build_video_tracker`); tracked instances with an empty mask are not yielded (`visible`).
    ``keep_labels``: detections of other labels are dropped before tracking (a dataset's categories), so they
    neither start tracks nor take a track's place. ``batch_size`` frames go through the model together (the
    tracker still runs frame by frame, counting frames as they come: with every n-th frame of a video, a track is
    kept for ``num_frames_retain`` of the frames seen, not of the video's). The tracker is reset first. ``preprocess`` maps a frame to the model's
    input tensor (default: no resize; see `build_preprocess`). ``amp`` runs the model under autocast (float16 on
    CUDA, bfloat16 on a CPU with native bfloat16, `check_amp`); the tracker always sees float32.
    """
    if batch_size < 1:
        raise VisError(f"--batch-size must be >= 1, got {batch_size}")
    if device is None:
        device = next(model.parameters()).device
    check_amp(amp, device)
    step = _FrameStep(model, tracker, device, preprocess or image_tensor, amp, keep_labels)
    model.eval()
    tracker.reset()
    batch: List[Tuple[int, np.ndarray]] = []
    for index, image in frames:
        batch.append((int(index), image))
        if len(batch) == batch_size:
            yield from step(batch)
            batch = []
    if batch:
        yield from step(batch)


class _FrameStep:
    """`track_video`'s per-batch work, with the state that lives for one video (the class votes)."""

    def __init__(self, model, tracker, device, preprocess, amp, keep_labels):
        from .tracking import TrackLabelVotes

        self.model, self.tracker, self.device, self.preprocess, self.amp = model, tracker, device, preprocess, amp
        self.keep_labels = None if keep_labels is None else torch.as_tensor(list(keep_labels), dtype=torch.int64)
        self.votes = TrackLabelVotes()
        self.tracked = 0  # frames tracked so far: the tracker's clock (its retention counts processed frames)

    def __call__(self, batch: Sequence[Tuple[int, np.ndarray]]) -> Iterator[TrackedFrame]:
        inputs = [self.preprocess(image).to(self.device) for _, image in batch]
        sizes = [(int(image.shape[0]), int(image.shape[1])) for _, image in batch]
        # The model leaves out what the tracker would drop first (scores below its score_thr), so no mask is
        # predicted for those; masks are pasted after the tracker has chosen (at most max_per_frame of the rest):
        # the same masks as pasting all first, without full-size masks for detections the tracker drops.
        results = predict_frames(self.model, inputs, sizes, self.amp, defer_masks=True,
                                 score_thr=getattr(self.tracker, "score_thr", None))
        for (index, image), instances in zip(batch, results):
            if self.keep_labels is not None and len(instances):
                instances = instances[torch.isin(instances.labels, self.keep_labels.to(instances.labels.device))]
            tracked = self.tracker.update(instances, frame_index=self.tracked)
            self.tracked += 1
            if tracked.has("masks"):
                tracked.masks = image_masks(tracked.masks)
            tracked = visible(tracked.to("cpu"))
            tracked.track_labels = torch.from_numpy(self.votes.update(tracked.track_ids, tracked.labels))
            yield index, image, tracked
