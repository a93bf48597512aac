"""CocoDataset: decoding, label spaces, filtering, the sample contract, determinism and user errors."""
import json

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from vis.data import DATASETS, CocoDataset, build_dataset, collate
from vis.errors import ConfigError, DataError

H, W = 48, 64


def _rect(x0, y0, x1, y1):
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def _ellipse(cx, cy, ax, ay):
    mask = np.zeros((H, W), dtype=np.uint8)
    cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
    return mask


def _tight_xywh(mask):
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())]


def _uncompressed_rle(mask):
    """COCO's uncompressed RLE: column-major run lengths starting with zeros."""
    flat = np.asfortranarray(mask).flatten(order="F")
    counts, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return {"size": [H, W], "counts": [int(c) for c in counts]}


def _compressed_rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _ann(ann_id, image_id, cat, mask, seg, iscrowd=0):
    xywh = _tight_xywh(mask)
    return {"id": ann_id, "image_id": image_id, "category_id": cat, "bbox": xywh, "area": float(mask.sum()),
            "segmentation": seg, "iscrowd": iscrowd}


@pytest.fixture
def coco_dir(tmp_path):
    """3 images (48x64), categories 1, 3, 7; image 1 holds one instance per segmentation format + a crowd."""
    rng = np.random.default_rng(0)
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    images = []
    for i in (1, 2, 3):
        name = f"im{i}.jpg"
        cv2.imwrite(str(img_dir / name), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        images.append({"id": i, "file_name": name, "height": H, "width": W})
    masks = {
        101: _rect(10, 10, 30, 20),
        102: _ellipse(45, 30, 10, 8),
        103: _rect(2, 30, 20, 46),
        104: _rect(40, 0, 64, 10),
        201: _rect(0, 0, 20, 20),
        301: _ellipse(30, 24, 20, 12),
        302: _rect(5, 5, 25, 6),
    }
    anns = [
        _ann(101, 1, 1, masks[101], [[10, 10, 30, 10, 30, 20, 10, 20]]),
        _ann(102, 1, 3, masks[102], _compressed_rle(masks[102])),
        _ann(103, 1, 7, masks[103], _uncompressed_rle(masks[103])),
        _ann(104, 1, 1, masks[104], _uncompressed_rle(masks[104]), iscrowd=1),
        _ann(201, 2, 3, masks[201], _uncompressed_rle(masks[201]), iscrowd=1),
        _ann(301, 3, 7, masks[301], _compressed_rle(masks[301])),
        _ann(302, 3, 1, masks[302], _compressed_rle(masks[302])),
    ]
    anns[-1]["bbox"] = [5.0, 5.0, 20.0, 0.5]  # h < 1: dropped
    cats = [{"id": 7, "name": "seven"}, {"id": 1, "name": "one"}, {"id": 3, "name": "three"}]
    ann_file = tmp_path / "instances.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return {"ann_file": str(ann_file), "img_dir": str(img_dir), "masks": masks, "tmp": tmp_path}


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def test_segmentation_formats_decode(coco_dir):
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"])
    raw = ds.load_raw(0)
    assert raw["image"].dtype == np.uint8 and raw["image"].shape == (H, W, 3)
    assert raw["instance_ids"].tolist() == [101, 102, 103]  # crowd 104 dropped
    for i, ann_id in enumerate(raw["instance_ids"].tolist()):  # polygon, compressed RLE, uncompressed RLE
        np.testing.assert_array_equal(raw["masks"][i], coco_dir["masks"][ann_id])
    x, y, w, h = _tight_xywh(coco_dir["masks"][102])
    np.testing.assert_allclose(raw["boxes"][1], [x, y, x + w, y + h])
    assert raw["orig_size"] == (H, W)


def test_category_mapping_non_consecutive_ids(coco_dir):
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"])
    assert ds.cat_ids == [1, 3, 7]
    assert ds.cat_id_to_label == {1: 0, 3: 1, 7: 2}
    assert ds.class_names == ["one", "three", "seven"]
    assert ds.num_classes == 3
    assert [ds.label_to_cat_id(label) for label in range(3)] == [1, 3, 7]
    assert ds.load_raw(0)["labels"].tolist() == [0, 1, 2]


def test_class_map_drops_unmapped(coco_dir):
    classes = [{"id": 20, "name": "b"}, {"id": 10, "name": "a"}]
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], class_map={1: 10, "7": 20}, classes=classes)
    assert ds.cat_ids == [10, 20] and ds.class_names == ["a", "b"]
    raw = ds.load_raw(0)
    assert raw["instance_ids"].tolist() == [101, 103]  # category 3 is unmapped
    assert raw["labels"].tolist() == [0, 1]
    with pytest.raises(ConfigError):
        CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], class_map={1: 99}, classes=classes)
    with pytest.raises(ConfigError):
        CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], class_map={1: 10})


def test_crowd_and_invalid_dropped_filter_empty(coco_dir):
    train = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"])
    assert train.img_ids == [1, 3]  # image 2 has only a crowd annotation
    assert train.load_raw(1)["instance_ids"].tolist() == [301]  # 302 has h < 1
    test = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], test_mode=True)
    assert test.img_ids == [1, 2, 3]
    empty = test[1]["target"]
    assert empty["boxes"].shape == (0, 4) and empty["masks"].shape == (0, H, W)
    assert len(test.coco.getAnnIds()) == 7  # evaluation sees the JSON unchanged


def test_getitem_contract(coco_dir):
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], transforms=[dict(type="Resize", scale=(128, 96))])
    sample = ds[0]
    image, target = sample["image"], sample["target"]
    assert set(sample) == {"image", "target"}
    assert set(target) == {"boxes", "labels", "masks", "instance_ids", "image_id", "orig_size", "image_size", "file_name"}
    assert image.dtype == torch.float32 and image.shape == (3, 96, 128)
    assert float(image.max()) <= 255 and float(image.min()) >= 0
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (3, 4)
    assert target["labels"].dtype == torch.int64 and target["instance_ids"].tolist() == [101, 102, 103]
    assert target["masks"].dtype == torch.bool and target["masks"].shape == (3, 96, 128)
    assert target["image_id"] == 1 and target["file_name"] == "im1.jpg"
    assert target["orig_size"] == (H, W) and target["image_size"] == (96, 128)
    np.testing.assert_allclose(target["boxes"][0].numpy(), [20, 20, 60, 40])


def test_image_is_rgb(coco_dir):
    path = coco_dir["tmp"] / "images" / "im1.jpg"
    solid = np.zeros((H, W, 3), dtype=np.uint8)
    solid[..., 2] = 255  # BGR red
    cv2.imwrite(str(path), solid)
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"])
    red, green, blue = ds[0]["image"].mean(dim=(1, 2)).tolist()
    assert red > 240 and green < 15 and blue < 15


def test_deterministic_augmentation(coco_dir):
    transforms = [dict(type="RandomFlip", prob=0.5), dict(type="RandomCrop", crop_size=(20, 40))]
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], transforms=transforms, seed=3)
    other = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], transforms=transforms, seed=3)

    def same(a, b):
        return torch.equal(a["image"], b["image"]) and all(
            torch.equal(a["target"][k], b["target"][k]) for k in ("boxes", "masks", "labels", "instance_ids")
        )

    ds.set_epoch(2)
    other.set_epoch(2)
    assert same(ds[0], other[0]) and same(ds[0], ds[0])
    other.set_epoch(0)
    assert same(ds[0], other[(2, 0)])  # (epoch, idx) items, as the train batch sampler yields
    first = ds[0]
    differs = False
    for epoch in range(3, 8):
        ds.set_epoch(epoch)
        sample = ds[0]
        differs |= sample["image"].shape != first["image"].shape or not same(sample, first)
    assert differs


def test_collate_pads_to_32(coco_dir):
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"],
                     transforms=[dict(type="RandomChoiceResize", scales=[(70, 50), (100, 40)])])
    batch = collate([ds[0], ds[1]])
    images = batch["images"]
    sizes = [ds[0]["image"].shape[-2:], ds[1]["image"].shape[-2:]]
    assert images.image_sizes == [tuple(s) for s in sizes]
    assert images.tensor.shape[-2] % 32 == 0 and images.tensor.shape[-1] % 32 == 0
    for i, (h, w) in enumerate(images.image_sizes):
        assert torch.equal(images.tensor[i, :, :h, :w], ds[i]["image"])
        assert float(images.tensor[i, :, h:, :].abs().sum()) == 0 and float(images.tensor[i, :, :, w:].abs().sum()) == 0
    assert [t["image_id"] for t in batch["targets"]] == [1, 3]


def test_build_dataset(coco_dir):
    assert DATASETS["CocoDataset"] is CocoDataset
    ds = build_dataset(dict(type="CocoDataset", ann_file=coco_dir["ann_file"], img_dir=coco_dir["img_dir"]))
    assert len(ds) == 2
    with pytest.raises(ConfigError, match="ann_fle"):
        build_dataset(dict(type="CocoDataset", ann_fle=coco_dir["ann_file"], img_dir=coco_dir["img_dir"]))
    with pytest.raises(ConfigError, match="unknown transform type 'Flip'"):
        CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], transforms=[dict(type="Flip")])
    with pytest.raises(ConfigError, match="probability"):
        CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"], transforms=[dict(type="RandomFlip", probability=0.5)])


# -- user errors: one line, naming the problem ---------------------------------------------------
def _one_line(exc_info):
    assert "\n" not in str(exc_info.value)
    return str(exc_info.value)


def test_malformed_json(coco_dir):
    bad = coco_dir["tmp"] / "bad.json"
    bad.write_text('{"images": [\n  {"id": 1,, }]}')
    with pytest.raises(DataError) as exc:
        CocoDataset(str(bad), coco_dir["img_dir"])
    assert "line 2" in _one_line(exc) and str(bad) in str(exc.value)


def test_missing_annotations_key(coco_dir):
    data = json.loads(open(coco_dir["ann_file"]).read())
    del data["annotations"]
    path = _write(coco_dir["tmp"] / "noanns.json", data)
    with pytest.raises(DataError) as exc:
        CocoDataset(path, coco_dir["img_dir"])
    assert "'annotations'" in _one_line(exc)


def test_missing_image_file(coco_dir):
    (coco_dir["tmp"] / "images" / "im3.jpg").unlink()
    with pytest.raises(DataError) as exc:
        CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"])
    assert "im3.jpg" in _one_line(exc)


def test_corrupt_image_file(coco_dir):
    (coco_dir["tmp"] / "images" / "im1.jpg").write_bytes(b"this is not a jpeg" * 10)
    ds = CocoDataset(coco_dir["ann_file"], coco_dir["img_dir"])  # existence is fine at init
    with pytest.raises(DataError) as exc:
        ds[0]
    assert "im1.jpg" in _one_line(exc)


def test_empty_dataset(coco_dir):
    data = json.loads(open(coco_dir["ann_file"]).read())
    for ann in data["annotations"]:
        ann["iscrowd"] = 1
    path = _write(coco_dir["tmp"] / "allcrowd.json", data)
    with pytest.raises(DataError) as exc:
        CocoDataset(path, coco_dir["img_dir"])
    assert _one_line(exc) == f"no images with annotations in {path}"
    assert len(CocoDataset(path, coco_dir["img_dir"], test_mode=True)) == 3


def test_image_size_mismatch(coco_dir):
    data = json.loads(open(coco_dir["ann_file"]).read())
    data["images"][0]["height"] = H + 1
    path = _write(coco_dir["tmp"] / "size.json", data)
    with pytest.raises(DataError) as exc:
        CocoDataset(path, coco_dir["img_dir"])[0]
    assert "im1.jpg" in _one_line(exc)
