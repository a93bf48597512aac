"""YouTube-VIS (2019 / 2021 / 2022) and OVIS video datasets: key/reference frame pairs for training, frame streams
for inference. OVIS files have YouTube-VIS's format; only the layout and the classes differ.

Layouts (``img_dir`` may be left out and is then found from ``ann_file``):

    2019        <root>/train.json               + <root>/train/JPEGImages/<video>/<frame>.jpg
    2021, 2022  <root>/train/instances.json     + <root>/train/JPEGImages/<video>/<frame>.jpg
    OVIS        <root>/annotations_train.json   + <root>/train/<video>/<frame>.jpg

A video's frames are addressed by their **position** in ``file_names`` (0, 1, 2, ...): the names are
source frame numbers (00000, 00005, ...) and are not consecutive, while every per-frame list of an
annotation (``segmentations``, ``bboxes``, ``areas``) is indexed by that position. An annotation is one
object track; its id is the instance id that links key and reference frame targets.

The JSON is checked at construction (shapes of the per-frame lists, unknown ids, missing frame
files), so a broken split fails with a one-line `DataError` naming the video or annotation instead
of crashing hours into training.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..io.files import read_json
from ..structures import image_tensor
from .coco import segmentation_to_mask, to_contract
from .label_space import LabelSpaceMixin, build_label_space
from .serialized import SerializedRecords, release_freed_memory
from .transforms import Compose, masks_to_boxes
from .ytvis_classes import detect_dataset

# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------
def default_img_dir(ann_file: str) -> str:
    """The frame folder of each layout: ``<split>/instances.json`` (2021, 2022), ``annotations_<split>.json``
    (OVIS: ``<split>/``) or ``<split>.json`` (2019)."""
    folder, name = os.path.split(os.path.abspath(ann_file))
    stem = os.path.splitext(name)[0]
    if name == "instances.json":
        return os.path.join(folder, "JPEGImages")
    if stem.startswith("annotations_") and len(stem) > len("annotations_"):
        return os.path.join(folder, stem[len("annotations_"):])
    return os.path.join(folder, stem, "JPEGImages")


def video_label(video: Mapping[str, Any]) -> str:
    """'video <id> (<folder>)' for messages: the folder name is what a user can look for on disk."""
    names = video.get("file_names") or []
    folder = os.path.dirname(str(names[0])) if names and isinstance(names[0], str) else "?"
    return f"video {video.get('id')} ({folder})"


def load_ytvis(ann_file: str) -> Dict[str, Any]:
    """Read and check a YouTube-VIS / OVIS JSON (any year); returns it with ``annotations`` always a list.

    The official valid/test files carry no annotations (``null`` or no key); that is accepted here and
    rejected by `YTVISDataset` only for training. The per-annotation ``length`` field is not checked:
    official files do not keep it equal to the video length; the video's ``file_names`` is the truth.
    """
    data = read_json(ann_file, what="annotation file")
    if not isinstance(data, dict):
        raise DataError(f"annotation file {ann_file} must hold a JSON object with 'videos' and 'categories'")
    for key in ("videos", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"annotation file {ann_file} has no '{key}' list")
    if data.get("annotations") is None:
        data["annotations"] = []
    if not isinstance(data["annotations"], list):
        raise DataError(f"'annotations' in annotation file {ann_file} must be a list")
    if not data["videos"]:
        raise DataError(f"no videos in {ann_file}")
    if not data["categories"]:
        raise DataError(f"annotation file {ann_file} has no categories")
    _check_videos(data["videos"], ann_file)
    _check_categories(data["categories"], ann_file)
    _check_annotations(data, ann_file)
    return data


def _check_videos(videos: List[Any], ann_file: str) -> None:
    seen = set()
    for video in videos:
        if not isinstance(video, dict):
            raise DataError(f"video record {str(video)[:80]} in {ann_file} is not an object")
        for key in ("id", "file_names", "height", "width"):
            if key not in video:
                raise DataError(f"{video_label(video)} in {ann_file} has no '{key}'")
        names = video["file_names"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise DataError(f"{video_label(video)} in {ann_file}: 'file_names' must be a non-empty list of strings")
        if "length" in video and video["length"] != len(names):
            raise DataError(
                f"{video_label(video)} in {ann_file}: length {video['length']} but {len(names)} file_names"
            )
        if video["id"] in seen:
            raise DataError(f"duplicate video id {video['id']} in {ann_file}")
        seen.add(video["id"])


def _check_categories(categories: List[Any], ann_file: str) -> None:
    ids = set()
    for cat in categories:
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            raise DataError(f"category {str(cat)[:80]} in {ann_file} has no 'id' or 'name'")
        if int(cat["id"]) in ids:
            raise DataError(f"duplicate category id {cat['id']} in {ann_file}")
        ids.add(int(cat["id"]))


def _check_annotations(data: Dict[str, Any], ann_file: str) -> None:
    videos = {v["id"]: v for v in data["videos"]}
    cat_ids = {int(c["id"]) for c in data["categories"]}
    seen = set()
    for ann in data["annotations"]:
        if not isinstance(ann, dict):
            raise DataError(f"annotation record {str(ann)[:80]} in {ann_file} is not an object")
        for key in ("id", "video_id", "category_id", "segmentations"):
            if key not in ann:
                raise DataError(f"annotation {ann.get('id', str(ann)[:60])} in {ann_file} has no '{key}'")
        if ann["id"] in seen:
            raise DataError(f"duplicate annotation id {ann['id']} in {ann_file} (ids are the track identities)")
        seen.add(ann["id"])
        video = videos.get(ann["video_id"])
        if video is None:
            raise DataError(f"annotation {ann['id']} in {ann_file} refers to unknown video_id {ann['video_id']}")
        if int(ann["category_id"]) not in cat_ids:
            raise DataError(
                f"annotation {ann['id']} in {ann_file} has category_id {ann['category_id']} not in 'categories'"
            )
        num_frames = len(video["file_names"])
        for key in ("segmentations", "bboxes", "areas"):
            values = ann.get(key)
            if values is None and key != "segmentations":
                continue
            if not isinstance(values, list) or len(values) != num_frames:
                got = f"{len(values)} entries" if isinstance(values, list) else type(values).__name__
                raise DataError(
                    f"annotation {ann['id']} of {video_label(video)} in {ann_file}: '{key}' has {got} "
                    f"but the video has {num_frames} frames"
                )


def _check_frame_files(videos: List[Dict[str, Any]], img_dir: str, ann_file: str) -> None:
    """Name the first missing frame now rather than when a worker first reaches it."""
    if not os.path.isdir(img_dir):
        raise DataError(f"frame folder not found: {img_dir} (for {ann_file})")
    for video in videos:
        for name in video["file_names"]:
            path = os.path.join(img_dir, name)
            if not os.path.isfile(path):
                raise DataError(f"frame file not found: {path} ({video_label(video)} of {ann_file})")


# ---------------------------------------------------------------------------------------------
# Reference frames
# ---------------------------------------------------------------------------------------------
def _frame_instance(ann: Mapping[str, Any], t: int) -> Dict[str, Any]:
    """A YouTube-VIS annotation (one track over the video) cut to frame ``t``: what a sample of that frame reads."""
    bboxes = ann.get("bboxes")
    return {"id": ann["id"], "category_id": ann["category_id"], "segmentation": ann["segmentations"][t],
            "bbox": bboxes[t] if bboxes is not None else None}


def ref_frame_candidates(key: int, num_frames: int, frame_range: Optional[int],
                         annotated: Sequence[int]) -> List[int]:
    """Positions a reference frame for key position ``key`` is drawn from (uniformly).

    ``frame_range=N`` (mmdet3 ``UniformRefFrameSample(frame_range=N, filter_key_img=True)``): every
    frame within +-N positions, key excluded. ``frame_range=None`` (MaskTrack R-CNN original
    ``sample_ref``): every other frame with at least one instance (``annotated``). With no candidate
    (a one-frame video, or no other annotated frame) the key frame is its own reference, as both do.
    """
    if frame_range is None:
        candidates = [t for t in annotated if t != key]
    else:
        candidates = [t for t in range(max(0, key - frame_range), min(num_frames, key + frame_range + 1)) if t != key]
    return candidates or [key]


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------
class YTVISDataset(LabelSpaceMixin, torch.utils.data.Dataset):
    """YouTube-VIS split -> (key frame, reference frame) training pairs, or single frames in ``test_mode``.

    Training item ``idx`` is the ``idx``-th (video, key frame) with at least one instance; its reference
    frame comes from `ref_frame_candidates`. Both frames are transformed with two generators built from
    the same seed, so they get the same random parameters (scale, flip), as in MaskTrack R-CNN. Returns
    ``{"image", "target", "ref_image", "ref_target"}``; targets follow the data sample contract with
    ``instance_ids`` = annotation (track) ids, ``image_id`` = the video id, plus ``video_id`` and
    ``frame_index`` (position in ``file_names``).

    ``test_mode``: items are all frames of all videos in order, each ``{"image", "target"}``; for
    streaming inference use `iter_video_frames`. Instances kept: not crowd, segmentation and box not
    null, box w and h >= 1, area > 0, category mapped (MaskTrack R-CNN's rules).
    ``class_map`` / ``classes`` work as in `CocoDataset`; ``classes`` may also be 'ytvis2019' / 'ytvis2021' /
    'ytvis2022' / 'ovis', and the file's categories are then checked against that table
    (`vis.data.label_space.check_named_tables`) before any frame is read.
    """

    def __init__(
        self,
        ann_file: str,
        img_dir: Optional[str] = None,
        transforms: Optional[Sequence[Any]] = None,
        test_mode: bool = False,
        ref_frame_range: Optional[int] = 100,
        seed: int = 0,
        class_map: Optional[Mapping[Any, Any]] = None,
        classes: Union[None, str, Sequence[Mapping[str, Any]]] = None,
    ):
        if ref_frame_range is not None and (isinstance(ref_frame_range, bool) or not isinstance(ref_frame_range, int)
                                            or ref_frame_range < 1):
            raise ConfigError(f"YTVISDataset: ref_frame_range must be a positive int or None, got {ref_frame_range!r}")
        self.ann_file = ann_file
        self.img_dir = default_img_dir(ann_file) if img_dir is None else img_dir
        self.test_mode = bool(test_mode)
        self.ref_frame_range = ref_frame_range
        self.seed = int(seed)
        self.epoch = 0
        self.transforms = transforms if isinstance(transforms, Compose) else Compose(transforms)

        data = load_ytvis(ann_file)
        self.categories: List[Dict[str, Any]] = data["categories"]
        self.dataset_name = detect_dataset(self.categories)  # 'ytvis2019', 'ytvis2021', 'ovis' or None
        self.cat_ids, self.class_names, self._source_to_label = build_label_space(
            self.categories, class_map, classes, owner="YTVISDataset", ann_file=ann_file
        )
        self.cat_id_to_label = {cat_id: label for label, cat_id in enumerate(self.cat_ids)}
        _check_frame_files(data["videos"], self.img_dir, ann_file)
        self._build_index(data["videos"], data["annotations"])
        del data  # the parsed file: only the serialized records stay
        release_freed_memory()

    # -- construction ---------------------------------------------------------------------------
    def _build_index(self, videos: List[Dict[str, Any]], annotations: List[Dict[str, Any]]) -> None:
        """Everything a sample needs, in shared byte buffers (`vis.data.serialized`): the video records, and per
        frame the instances kept there (each annotation cut to that frame: id, category, segmentation, box)."""
        video_pos = {v["id"]: i for i, v in enumerate(videos)}
        tracks: List[List[Dict[str, Any]]] = [[] for _ in videos]  # annotations per video
        for ann in annotations:
            tracks[video_pos[ann["video_id"]]].append(ann)
        frames, annotated = [], []
        items: List[Tuple[int, int]] = []  # (video index, frame position)
        for v, (video, video_tracks) in enumerate(zip(videos, tracks)):
            present = [[_frame_instance(a, t) for a in video_tracks if self._keep(a, t)]
                       for t in range(len(video["file_names"]))]
            frames.extend(present)
            annotated.append([t for t, anns in enumerate(present) if anns])
            positions = range(len(video["file_names"])) if self.test_mode else annotated[v]
            items.extend((v, t) for t in positions)
        if not items:
            raise DataError(f"no frame with an annotated instance in {self.ann_file}")
        self.videos = SerializedRecords(videos)  # records read by index: dataset.videos[i] is a copy
        self._num_frames = np.array([len(v["file_names"]) for v in videos], dtype=np.int64)
        self._first_frame = np.concatenate([[0], np.cumsum(self._num_frames)[:-1]]).astype(np.int64)
        self._frames = SerializedRecords(frames)  # [video's first frame + position] -> kept instances
        self._annotated = SerializedRecords(annotated)
        self._items = np.array(items, dtype=np.int64).reshape(-1, 2)

    def _keep(self, ann: Dict[str, Any], t: int) -> bool:
        if ann.get("iscrowd", 0) or int(ann["category_id"]) not in self._source_to_label:
            return False
        if ann["segmentations"][t] is None:
            return False
        bboxes, areas = ann.get("bboxes"), ann.get("areas")
        if bboxes is not None:
            box = bboxes[t]
            if box is None or len(box) != 4 or float(box[2]) < 1 or float(box[3]) < 1:
                return False
        if areas is not None and areas[t] is not None and float(areas[t]) <= 0:
            return False
        return True

    # -- frames ---------------------------------------------------------------------------------
    def num_frames(self, video_index: int) -> int:
        return int(self._num_frames[video_index])

    def frame_path(self, video_index: int, position: int) -> str:
        return os.path.join(self.img_dir, self.videos[video_index]["file_names"][position])

    def read_frame(self, video_index: int, position: int) -> np.ndarray:
        """RGB uint8 [H, W, 3] of the frame at ``position``; its size must match the video record."""
        video = self.videos[video_index]
        path = self.frame_path(video_index, position)
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"cannot read frame {path} (missing, corrupt or not an image)")
        h, w = image.shape[:2]
        if (h, w) != (int(video["height"]), int(video["width"])):
            raise DataError(f"frame {path} is {h}x{w} but {video_label(video)} in {self.ann_file} says "
                            f"{video['height']}x{video['width']}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def load_frame(self, video_index: int, position: int) -> Dict[str, Any]:
        """One frame before transforms, in the numpy sample layout of `vis.data.transforms`."""
        video = self.videos[video_index]
        image = self.read_frame(video_index, position)
        h, w = image.shape[:2]
        anns = self._frames[int(self._first_frame[video_index]) + position]
        boxes = np.zeros((len(anns), 4), dtype=np.float32)
        masks = np.zeros((len(anns), h, w), dtype=np.uint8)
        labels = np.zeros((len(anns),), dtype=np.int64)
        instance_ids = np.zeros((len(anns),), dtype=np.int64)
        for i, ann in enumerate(anns):
            seg = ann["segmentation"]
            if isinstance(seg, dict):
                if "counts" not in seg or "size" not in seg:
                    raise DataError(f"annotation {ann['id']} of {video_label(video)}: segmentation at frame "
                                    f"{position} is not an RLE")
                if [int(s) for s in seg["size"]] != [h, w]:
                    raise DataError(f"annotation {ann['id']} of {video_label(video)}: RLE size {seg['size']} "
                                    f"!= frame size {[h, w]} at frame {position}")
            masks[i] = segmentation_to_mask(seg, h, w)
            if ann["bbox"] is not None:
                x, y, bw, bh = (float(v) for v in ann["bbox"])
                boxes[i] = (x, y, x + bw, y + bh)
            else:
                boxes[i] = masks_to_boxes(masks[i:i + 1])[0]
            labels[i] = self._source_to_label[int(ann["category_id"])]
            instance_ids[i] = int(ann["id"])
        return {
            "image": image,
            "boxes": boxes,
            "masks": masks,
            "labels": labels,
            "instance_ids": instance_ids,
            "image_id": video["id"],
            "file_name": video["file_names"][position],
            "orig_size": (h, w),
        }

    def iter_video_frames(self, video_index: int) -> "VideoFrames":
        """The frames of one video, loaded and test-transformed one at a time (see `VideoFrames`)."""
        return VideoFrames(self, video_index)

    # -- samples --------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream; call before each epoch (in every worker process)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._items)

    def get_item_info(self, idx: int) -> Tuple[int, int]:
        """(video index, frame position) of item ``idx`` (the key frame when training)."""
        v, t = self._items[idx]
        return int(v), int(t)

    def rng(self, idx: int, epoch: Optional[int] = None) -> np.random.Generator:
        """The random stream of item ``idx`` in ``epoch`` (default: the epoch from `set_epoch`)."""
        epoch = self.epoch if epoch is None else int(epoch)
        return np.random.default_rng([self.seed, epoch, int(idx)])

    def sample_ref_position(self, idx: int, epoch: Optional[int] = None) -> int:
        """The reference frame position of training item ``idx`` in ``epoch`` (deterministic)."""
        v, key = self.get_item_info(idx)
        candidates = ref_frame_candidates(key, self.num_frames(v), self.ref_frame_range, self._annotated[v])
        return int(candidates[int(self.rng(idx, epoch).integers(len(candidates)))])

    def _frame_sample(self, v: int, t: int, rng: np.random.Generator) -> Dict[str, Any]:
        sample = to_contract(self.transforms(self.load_frame(v, t), rng))
        sample["target"]["video_id"] = int(self.videos[v]["id"])
        sample["target"]["frame_index"] = int(t)
        return sample

    def __getitem__(self, item) -> Dict[str, Any]:
        """``dataset[idx]`` (epoch from `set_epoch`) or ``dataset[(epoch, idx)]`` as `TrainBatchSampler` yields."""
        epoch, idx = item if isinstance(item, tuple) else (None, item)
        epoch = self.epoch if epoch is None else int(epoch)
        v, key = self.get_item_info(idx)
        if self.test_mode:
            return self._frame_sample(v, key, self.rng(idx, epoch))
        ref = self.sample_ref_position(idx, epoch)
        # Two generators in the same state: both frames draw identical transform parameters.
        transform_seed = [self.seed, epoch, int(idx), 1]
        key_sample = self._frame_sample(v, key, np.random.default_rng(transform_seed))
        ref_sample = self._frame_sample(v, ref, np.random.default_rng(transform_seed))
        return {"image": key_sample["image"], "target": key_sample["target"],
                "ref_image": ref_sample["image"], "ref_target": ref_sample["target"]}


class VideoFrames:
    """The frames of one video for streaming inference: iterating yields ``(position, image, orig_size)``.

    ``image`` is float32 [3, h, w] RGB 0..255 after the dataset's (test) transforms, ``orig_size`` the
    (H, W) on disk. Frames are read lazily, one at a time, so a long video is never held in memory.
    """

    def __init__(self, dataset: YTVISDataset, video_index: int):
        if not 0 <= int(video_index) < len(dataset.videos):
            raise IndexError(f"video index {video_index} out of range (0..{len(dataset.videos) - 1})")
        self.dataset = dataset
        self.video_index = int(video_index)
        self.video = dataset.videos[self.video_index]

    @property
    def video_id(self) -> int:
        return int(self.video["id"])

    def __len__(self) -> int:
        return len(self.video["file_names"])

    def images(self) -> Iterator[Tuple[int, np.ndarray]]:
        """``(position, HxWx3 uint8 RGB)`` as on disk, for `vis.inference.track_video` (which applies the
        dataset's ``transforms`` itself)."""
        for t in range(len(self)):
            yield t, self.dataset.read_frame(self.video_index, t)

    def preprocess(self, image: np.ndarray, position: int = 0) -> torch.Tensor:
        """One frame (HxWx3 uint8) -> the model input: float32 [3, h, w] after the dataset's (test) transforms.
        They are deterministic; a fixed stream per video and position keeps any random one reproducible."""
        rng = np.random.default_rng([self.dataset.seed, self.video_index, position])
        return image_tensor(self.dataset.transforms({"image": image}, rng)["image"])

    def __iter__(self) -> Iterator[Tuple[int, torch.Tensor, Tuple[int, int]]]:
        for t, image in self.images():
            yield t, self.preprocess(image, t), (int(image.shape[0]), int(image.shape[1]))
