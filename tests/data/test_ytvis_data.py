"""YouTube-VIS dataset (both layouts, frame addressing, key/reference pairs), pseudo-video pairs and their collate."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest
import torch

from vis.data import DATASETS, build_dataset
from vis.data.pairs import PseudoVideoPairs, collate_pairs
from vis.data.synthetic import make_coco_split, make_ytvis_split
from vis.data.transforms import RandomChoiceResize, RandomFlip, Resize
from vis.data.ytvis import YTVISDataset, default_img_dir, load_ytvis, ref_frame_candidates
from vis.data.ytvis_classes import (COCO_TO_YTVIS_2019, COCO_TO_YTVIS_2021, YTVIS_2019_CLASSES, YTVIS_2021_CLASSES,
                                    detect_dataset, ytvis_categories)
from vis.errors import ConfigError, DataError
from vis.structures import ImageBatch

H, W = 64, 80


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """3 videos x 6 frames (64x80): 'train' (uncompressed RLE), the same content compressed, and 4 COCO images."""
    root = tmp_path_factory.mktemp("synthetic")
    train = make_ytvis_split(str(root / "a"), "train", 3, seed=0, num_frames=(6, 6), height=H, width=W,
                             progress=False)
    compressed = make_ytvis_split(str(root / "b"), "train", 3, seed=0, num_frames=(6, 6), height=H, width=W,
                                  rle_format="compressed", progress=False)
    coco = make_coco_split(str(root / "a"), "train", 4, seed=0, min_size=64, max_size=80, progress=False)
    return {"root": root, "train": train, "compressed": compressed, "coco": coco}


def _json(data):
    with open(data["train"]["ann_file"]) as f:
        return json.load(f)


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


# -- loading ---------------------------------------------------------------------------------------
def test_2019_layout_finds_frames(data):
    ds = YTVISDataset(data["train"]["ann_file"])  # img_dir from the layout
    assert os.path.samefile(ds.img_dir, data["train"]["img_dir"])
    assert len(ds.videos) == 3 and ds.num_classes == 6 and ds.cat_ids == [1, 2, 4, 5, 7, 9]
    assert ds.class_names[0] == "circle" and ds.label_to_cat_id(5) == 9
    assert DATASETS["YTVISDataset"] is YTVISDataset and DATASETS["PseudoVideoPairs"] is PseudoVideoPairs


def test_2021_layout_loads_the_same(data, tmp_path):
    split = tmp_path / "ytvis2021" / "train"
    split.mkdir(parents=True)
    shutil.copytree(data["train"]["img_dir"], split / "JPEGImages")
    shutil.copy(data["train"]["ann_file"], split / "instances.json")
    assert default_img_dir(str(split / "instances.json")) == str(split / "JPEGImages")
    ds21 = YTVISDataset(str(split / "instances.json"))
    ds19 = YTVISDataset(data["train"]["ann_file"])
    assert [ds21.get_item_info(i) for i in range(len(ds21))] == [ds19.get_item_info(i) for i in range(len(ds19))]
    a, b = ds21[(0, 3)], ds19[(0, 3)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["ref_target"]["masks"], b["ref_target"]["masks"])


def test_frames_addressed_by_position(data):
    ds = YTVISDataset(data["train"]["ann_file"], test_mode=True)
    assert len(ds) == 18  # test mode: every frame of every video
    video = ds.videos[1]
    assert video["file_names"][3].endswith("/00015.jpg")  # names step by 5; position 3 is the 4th file
    raw = ds.load_frame(1, 3)
    assert raw["file_name"] == video["file_names"][3]
    on_disk = cv2.cvtColor(cv2.imread(os.path.join(ds.img_dir, video["file_names"][3])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(raw["image"], on_disk)
    ann = next(a for a in _json(data)["annotations"] if a["video_id"] == video["id"] and a["segmentations"][3])
    i = raw["instance_ids"].tolist().index(ann["id"])
    x, y, w, h = ann["bboxes"][3]
    np.testing.assert_allclose(raw["boxes"][i], [x, y, x + w, y + h])
    item = ds[6 + 3]  # video 1 starts after video 0's 6 frames
    assert item["target"]["frame_index"] == 3 and item["target"]["video_id"] == video["id"]
    assert set(item) == {"image", "target"}


def test_null_frames_produce_no_instance(data, tmp_path):
    ds = YTVISDataset(data["train"]["ann_file"], test_mode=True)
    for ann in _json(data)["annotations"]:
        v = next(i for i, video in enumerate(ds.videos) if video["id"] == ann["video_id"])
        for t, seg in enumerate(ann["segmentations"]):
            assert (ann["id"] in ds.load_frame(v, t)["instance_ids"].tolist()) == (seg is not None)
    # a null segmentation with a stale box is still absent; a frame left without instances is no key frame
    obj = _json(data)
    ann = obj["annotations"][-1]
    ann["segmentations"] = [None] * len(ann["segmentations"])
    ds2 = YTVISDataset(_write(tmp_path / "nulled.json", obj), data["train"]["img_dir"])
    v = next(i for i, video in enumerate(ds2.videos) if video["id"] == ann["video_id"])
    assert all(ann["id"] not in ds2.load_frame(v, t)["instance_ids"].tolist() for t in range(6))
    assert all(len(ds2.load_frame(*ds2.get_item_info(i))["instance_ids"]) > 0 for i in range(len(ds2)))


def test_uncompressed_and_compressed_rle_decode(data):
    plain = YTVISDataset(data["train"]["ann_file"])
    packed = YTVISDataset(data["compressed"]["ann_file"])
    anns = {a["id"]: a for a in _json(data)["annotations"]}
    assert isinstance(next(iter(anns.values()))["segmentations"][-1]["counts"], list)
    for v in range(3):
        for t in range(6):
            a, b = plain.load_frame(v, t), packed.load_frame(v, t)
            np.testing.assert_array_equal(a["masks"], b["masks"])
            for mask, ann_id in zip(a["masks"], a["instance_ids"].tolist()):
                assert mask.sum() == anns[ann_id]["areas"][t]


# -- key / reference pairs ------------------------------------------------------------------------
def test_ref_frame_candidates():
    assert ref_frame_candidates(3, 10, 2, annotated=[0, 3]) == [1, 2, 4, 5]
    assert ref_frame_candidates(0, 10, 2, annotated=[]) == [1, 2]
    assert ref_frame_candidates(3, 10, None, annotated=[0, 3, 7]) == [0, 7]
    assert ref_frame_candidates(0, 1, 100, annotated=[0]) == [0]  # one-frame video: its own reference
    assert ref_frame_candidates(2, 5, None, annotated=[2]) == [2]


@pytest.mark.parametrize("frame_range", [1, None])
def test_pairs_same_video_in_range_and_linked(data, frame_range):
    ds = YTVISDataset(data["train"]["ann_file"], ref_frame_range=frame_range, seed=3)
    annotated = {(v, t) for v, t in (ds.get_item_info(i) for i in range(len(ds)))}
    linked = 0
    for epoch in range(2):
        for idx in range(len(ds)):
            item = ds[(epoch, idx)]
            key, ref = item["target"], item["ref_target"]
            assert key["video_id"] == ref["video_id"] and len(key["instance_ids"]) > 0
            assert key["frame_index"] != ref["frame_index"]
            if frame_range is None:
                v = next(i for i, video in enumerate(ds.videos) if video["id"] == key["video_id"])
                assert (v, ref["frame_index"]) in annotated
            else:
                assert abs(key["frame_index"] - ref["frame_index"]) <= frame_range
            ref_label = dict(zip(ref["instance_ids"].tolist(), ref["labels"].tolist()))
            for ann_id, label in zip(key["instance_ids"].tolist(), key["labels"].tolist()):
                if ann_id in ref_label:
                    assert ref_label[ann_id] == label  # the same track: same object, same class
                    linked += 1
    assert linked > 0


def test_key_and_ref_share_transform_parameters(data):
    drawn = []

    def record(sample, rng):
        drawn.append((sample["flip"], sample["scale_factor"], sample["image"].shape))
        return sample

    transforms = [RandomFlip(prob=0.5), RandomChoiceResize(scales=[(40, 50), (64, 80), (96, 120)]), record]
    ds = YTVISDataset(data["train"]["ann_file"], transforms=transforms)
    for idx in range(len(ds)):
        item = ds[(1, idx)]
        key, ref = drawn[-2], drawn[-1]
        assert key == ref and item["target"]["image_size"] == item["ref_target"]["image_size"]
    assert {d[0] for d in drawn} == {True, False} and len({d[1] for d in drawn}) > 1

    flipped = YTVISDataset(data["train"]["ann_file"], transforms=[RandomFlip(prob=1.0)])
    item = flipped[0]
    for name in ("target", "ref_target"):
        target = item[name]
        v = next(i for i, video in enumerate(flipped.videos) if video["id"] == target["video_id"])
        raw = flipped.load_frame(v, target["frame_index"])
        np.testing.assert_array_equal(target["masks"].numpy(), raw["masks"][:, :, ::-1].astype(bool))


def test_pairs_are_deterministic(data):
    transforms = [RandomFlip(), RandomChoiceResize(scales=[(40, 50), (64, 80)])]
    ds = YTVISDataset(data["train"]["ann_file"], transforms=transforms)
    a = ds[(2, 5)]
    ds.set_epoch(2)
    b = ds[5]
    assert a["target"]["frame_index"] == b["target"]["frame_index"]
    assert a["ref_target"]["frame_index"] == b["ref_target"]["frame_index"]
    assert torch.equal(a["ref_image"], b["ref_image"])


def test_video_frames_stream(data):
    ds = YTVISDataset(data["train"]["ann_file"], transforms=[Resize(scale=(40, 50))], test_mode=True)
    frames = ds.iter_video_frames(2)
    assert len(frames) == 6 and frames.video_id == ds.videos[2]["id"]
    seen = []
    for position, image, orig_size in frames:
        assert image.dtype == torch.float32 and tuple(image.shape) == (3, 40, 50) and orig_size == (H, W)
        seen.append(position)
    assert seen == list(range(6))


# -- class lists ------------------------------------------------------------------------------------
COCO_NAMES = {1: "person", 3: "car", 4: "motorcycle", 5: "airplane", 7: "train", 8: "truck", 9: "boat",
              16: "bird", 17: "cat", 18: "dog", 19: "horse", 21: "cow", 22: "elephant", 23: "bear", 24: "zebra",
              25: "giraffe", 34: "frisbee", 36: "snowboard", 41: "skateboard", 42: "surfboard", 43: "tennis racket"}
RENAMED = {"car": {"sedan", "car"}, "motorcycle": {"motorbike"}, "frisbee": {"flying_disc"},
           "tennis racket": {"tennis_racket"}}


def test_class_lists_and_coco_map():
    for names in (YTVIS_2019_CLASSES, YTVIS_2021_CLASSES):
        assert len(names) == 40 and len(set(names)) == 40
    assert YTVIS_2019_CLASSES[:3] == ("person", "giant_panda", "lizard") and YTVIS_2019_CLASSES[-1] == "tennis_racket"
    assert list(YTVIS_2021_CLASSES) == sorted(YTVIS_2021_CLASSES)
    assert detect_dataset(ytvis_categories("ytvis2019")) == "ytvis2019"
    assert detect_dataset(ytvis_categories("ytvis2021")) == "ytvis2021"
    assert detect_dataset(ytvis_categories("ytvis2022")) == "ytvis2021"  # 2022 has 2021's classes
    assert detect_dataset(ytvis_categories("ovis")) == "ovis" and detect_dataset(ytvis_categories("ovis")[:5]) is None
    for mapping, names in ((COCO_TO_YTVIS_2019, YTVIS_2019_CLASSES), (COCO_TO_YTVIS_2021, YTVIS_2021_CLASSES)):
        assert all(1 <= v <= 40 for v in mapping.values()) and len(set(mapping.values())) == len(mapping)
        for coco_id, ytvis_id in mapping.items():
            coco_name = COCO_NAMES[coco_id]
            assert names[ytvis_id - 1] in RENAMED.get(coco_name, {coco_name})
    assert 74 not in COCO_TO_YTVIS_2019 and 16 not in COCO_TO_YTVIS_2019  # computer mouse; generic bird


def test_class_map_into_ytvis_label_space(data):
    ds = YTVISDataset(data["train"]["ann_file"], class_map={1: 1}, classes="ytvis2019", test_mode=True)
    assert ds.num_classes == 40 and ds.class_names[0] == "person"
    labels = torch.cat([ds[i]["target"]["labels"] for i in range(len(ds))])
    assert len(labels) > 0 and set(labels.tolist()) == {0}  # only circles (id 1) kept, as "person"
    with pytest.raises(ConfigError):
        YTVISDataset(data["train"]["ann_file"], class_map={1: 1})
    with pytest.raises(ConfigError):
        YTVISDataset(data["train"]["ann_file"], ref_frame_range=0)


# -- user errors -------------------------------------------------------------------------------------
def _mutate_length(obj):
    obj["videos"][1]["length"] += 1
    return f"video {obj['videos'][1]['id']} "


def _mutate_per_frame(obj):
    ann = obj["annotations"][2]
    ann["segmentations"].pop()
    return f"annotation {ann['id']} "


def _mutate_bboxes(obj):
    ann = obj["annotations"][0]
    ann["bboxes"].append(None)
    return f"annotation {ann['id']} "


def _mutate_missing_frame(obj):
    obj["videos"][2]["file_names"][4] = obj["videos"][2]["file_names"][4].replace(".jpg", "_gone.jpg")
    return obj["videos"][2]["file_names"][4]


def _mutate_no_videos(obj):
    obj["videos"], obj["annotations"] = [], []
    return "no videos"


def _mutate_unknown_video(obj):
    obj["annotations"][0]["video_id"] = 99
    return "video_id 99"


def _mutate_no_annotations(obj):
    obj["annotations"] = None
    return "no frame with an annotated instance"


@pytest.mark.parametrize("mutate", [_mutate_length, _mutate_per_frame, _mutate_bboxes, _mutate_missing_frame,
                                    _mutate_no_videos, _mutate_unknown_video, _mutate_no_annotations])
def test_data_errors_name_the_problem(data, tmp_path, mutate):
    obj = _json(data)
    expected = mutate(obj)
    ann_file = _write(tmp_path / "bad.json", obj)
    with pytest.raises(DataError) as err:
        YTVISDataset(ann_file, data["train"]["img_dir"])
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_malformed_json_and_valid_split_without_annotations(data, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"videos": [')
    with pytest.raises(DataError, match="malformed"):
        load_ytvis(str(bad))
    obj = _json(data)
    obj["annotations"] = None  # official valid.json: no ground truth
    ds = YTVISDataset(_write(tmp_path / "valid.json", obj), data["train"]["img_dir"], test_mode=True)
    assert len(ds) == 18 and len(ds[0]["target"]["instance_ids"]) == 0


# -- pseudo-video pairs and collate -------------------------------------------------------------------
def _coco_cfg(data):
    return dict(ann_file=data["coco"]["ann_file"], img_dir=data["coco"]["img_dir"])


def test_pseudo_pairs_link_ids_and_differ_in_geometry(data):
    pairs = build_dataset(dict(type="PseudoVideoPairs", dataset=_coco_cfg(data), seed=1,
                               transforms=[dict(type="RandomChoiceResize", scales=[(48, 60), (64, 80), (80, 100)])]))
    assert len(pairs) == 4 and pairs.num_classes == 6 and pairs.cat_ids == pairs.dataset.cat_ids
    for idx in range(len(pairs)):
        item = pairs[(0, idx)]
        key, ref = item["target"], item["ref_target"]
        source = pairs.dataset.load_raw(idx)
        source_label = dict(zip(source["instance_ids"].tolist(), source["labels"].tolist()))
        common = set(key["instance_ids"].tolist()) & set(ref["instance_ids"].tolist())
        assert common, "the two views share no instance"
        for target in (key, ref):
            assert target["image_id"] == source["image_id"]
            assert all(source_label[i] == label for i, label in zip(target["instance_ids"].tolist(),
                                                                    target["labels"].tolist()))
            assert all(m.any() for m in target["masks"])  # instances that vanished from a view are dropped
            assert target["masks"].shape[1:] == target["image_size"]
        key_box = dict(zip(key["instance_ids"].tolist(), key["boxes"]))
        ref_box = dict(zip(ref["instance_ids"].tolist(), ref["boxes"]))
        moved = max(float((key_box[i] - ref_box[i]).abs().max()) for i in common)
        assert key["image_size"] != ref["image_size"] or moved > 0.5


def test_pseudo_pairs_shared_flip(data):
    pairs = PseudoVideoPairs(_coco_cfg(data), max_shift=0.0, flip_prob=1.0)
    item = pairs[1]
    raw = pairs.dataset.load_raw(1)
    for target in (item["target"], item["ref_target"]):
        np.testing.assert_array_equal(target["masks"].numpy(), raw["masks"][:, :, ::-1].astype(bool))
    with pytest.raises(ConfigError):
        PseudoVideoPairs(_coco_cfg(data), max_shift=1.0)


def test_collate_pairs_shapes(data):
    video = YTVISDataset(data["train"]["ann_file"])
    pairs = PseudoVideoPairs(_coco_cfg(data), transforms=[Resize(scale=(48, 60))])
    for dataset in (video, pairs):
        batch = collate_pairs([dataset[0], dataset[1]])
        assert set(batch) == {"images", "targets", "ref_images", "ref_targets"}
        for key in ("images", "ref_images"):
            images = batch[key]
            assert isinstance(images, ImageBatch) and images.tensor.shape[:2] == (2, 3)
            assert images.tensor.shape[2] % 32 == 0 and images.tensor.shape[3] % 32 == 0
        assert len(batch["targets"]) == 2 and len(batch["ref_targets"]) == 2
        assert batch["images"].image_sizes[0] == batch["targets"][0]["image_size"]
        assert batch["ref_images"].image_sizes[1] == batch["ref_targets"][1]["image_size"]
