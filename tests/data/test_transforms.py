"""Transforms: mmdet resize rule, box/mask alignment under resize, flip and crop, config building."""
import numpy as np
import pytest

from vis.data import TRANSFORMS
from vis.data.transforms import (
    Compose,
    RandomChoice,
    RandomChoiceResize,
    RandomCrop,
    RandomFlip,
    Resize,
    hflip,
    masks_to_boxes,
    detr_rescale_size,
    rescale_size,
)
from vis.errors import ConfigError


def make_sample(h=60, w=80, seed=0):
    """Rectangular instances, so each box is exactly the tight box of its mask."""
    rng = np.random.default_rng(seed)
    rects = [(5, 4, 30, 25), (40, 10, 78, 58), (0, 30, 12, 60), (20, 20, 21, 22)]
    masks = np.zeros((len(rects), h, w), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(rects):
        masks[i, y1:y2, x1:x2] = 1
    return {
        "image": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "boxes": np.array(rects, dtype=np.float32),
        "masks": masks,
        "labels": np.arange(len(rects), dtype=np.int64),
        "instance_ids": np.arange(100, 100 + len(rects), dtype=np.int64),
        "image_id": 7,
    }


def assert_aligned(sample, tol=1.0):
    """Every per-instance array has n rows; each mask's tight box is within ``tol`` px of its box.

    A nearest-neighbour downscale may erase a mask thinner than a pixel (mmdet keeps such instances),
    so boxes under 2 px are only checked for an in-box mask.
    """
    n = len(sample["boxes"])
    h, w = sample["image"].shape[:2]
    assert sample["masks"].shape == (n, h, w)
    assert len(sample["labels"]) == n and len(sample["instance_ids"]) == n
    assert sample["boxes"].dtype == np.float32
    for box, mask in zip(sample["boxes"], sample["masks"]):
        if min(box[2] - box[0], box[3] - box[1]) < 2 and not mask.any():
            continue
        np.testing.assert_allclose(masks_to_boxes(mask[None])[0], box, atol=tol)


def test_rescale_rule():
    assert rescale_size(640, 480, (1333, 800)) == (1067, 800)
    assert rescale_size(480, 640, (800, 1333)) == (800, 1067)  # order inside scale does not matter
    assert rescale_size(1000, 100, (1333, 800)) == (1333, 133)  # long edge bound wins


def test_detr_size_rule_truncates_the_long_side():
    """DETR / Deformable DETR / SOLQ (get_size_with_aspect_ratio): short side = size, long side int(size*l/s)."""
    assert detr_rescale_size(640, 480, (1333, 800)) == (1066, 800)  # mmcv and detectron2: 1067 x 800
    assert detr_rescale_size(480, 640, (1333, 800)) == (800, 1066)
    assert detr_rescale_size(500, 375, (1333, 800)) == (1066, 800)  # 1066.67: truncated
    # Long-side bound: the short side becomes round(1333 * 500 / 2000) = 333, the long int(333 * 4) = 1332.
    assert detr_rescale_size(2000, 500, (1333, 800)) == (1332, 333)
    assert rescale_size(2000, 500, (1333, 800)) == (1333, 333)
    assert detr_rescale_size(1066, 800, (1333, 800)) == (1066, 800)  # already there: unchanged
    sample = Resize((1333, 800), keep_ratio=True, size_rule="detr")(
        {"image": np.zeros((480, 640, 3), np.uint8), "boxes": np.array([[0, 0, 640, 480]], np.float32)})
    assert sample["image"].shape == (800, 1066, 3)
    assert np.allclose(sample["boxes"], [[0, 0, 1066, 800]])
    with pytest.raises(ConfigError, match="size_rule"):
        Resize((1333, 800), size_rule="round")


def test_resize_keep_ratio_numbers():
    sample = Resize(scale=(1333, 800))(make_sample(480, 640), None)
    assert sample["image"].shape == (800, 1067, 3) and sample["masks"].shape[1:] == (800, 1067)
    np.testing.assert_allclose(sample["scale_factor"], (1067 / 640, 800 / 480))


@pytest.mark.parametrize("scale,keep_ratio", [((160, 120), True), ((50, 37), True), ((100, 90), False)])
def test_resize_keeps_alignment(scale, keep_ratio):
    sample = Resize(scale=scale, keep_ratio=keep_ratio)(make_sample(), None)
    if not keep_ratio:
        assert sample["image"].shape[:2] == (scale[1], scale[0])  # (w, h) order like mmdet 3.x
    assert_aligned(sample, tol=1.0)


def test_random_choice_resize_picks_each_scale():
    transform = RandomChoiceResize(scales=[(80, 40), (80, 50), (80, 60)])
    seen = {transform(make_sample(), np.random.default_rng(i))["image"].shape[0] for i in range(30)}
    assert seen == {40, 50, 60}


def test_flip_formula_alignment_and_involution():
    sample = make_sample()
    original = {k: v.copy() for k, v in sample.items() if isinstance(v, np.ndarray)}
    flipped = hflip(make_sample())
    w = original["image"].shape[1]
    np.testing.assert_allclose(flipped["boxes"][:, 0], w - original["boxes"][:, 2])
    np.testing.assert_allclose(flipped["boxes"][:, 2], w - original["boxes"][:, 0])
    assert_aligned(flipped, tol=0.0)
    twice = hflip(flipped)
    for key, value in original.items():
        np.testing.assert_array_equal(twice[key], value)


def test_random_flip_probability():
    assert RandomFlip(prob=1.0)(make_sample(), np.random.default_rng(0))["flip"] is True
    assert RandomFlip(prob=0.0)(make_sample(), np.random.default_rng(0))["flip"] is False
    flips = [RandomFlip(0.5)(make_sample(), np.random.default_rng(i))["flip"] for i in range(40)]
    assert 5 < sum(flips) < 35


def test_random_crop_absolute_range_alignment():
    transform = RandomCrop(crop_size=(20, 50), crop_type="absolute_range")
    dropped = 0
    for i in range(30):
        sample = transform(make_sample(), np.random.default_rng(i))
        h, w = sample["image"].shape[:2]
        assert 20 <= h <= 50 and 20 <= w <= 50
        assert_aligned(sample, tol=0.0)
        assert ((sample["boxes"][:, 2:] - sample["boxes"][:, :2]) >= 1).all()
        assert (sample["boxes"] >= 0).all() and (sample["boxes"][:, 2] <= w).all() and (sample["boxes"][:, 3] <= h).all()
        dropped += len(sample["boxes"]) < 4
    assert dropped > 0  # some crops remove instances, and stay aligned when they do


def test_random_crop_matches_slicing():
    sample = make_sample()
    image = sample["image"].copy()
    out = RandomCrop(crop_size=(30, 40), crop_type="absolute")(sample, np.random.default_rng(1))
    h, w = out["image"].shape[:2]
    assert (h, w) == (40, 30)  # absolute crop_size is (w, h)
    found = [(y, x) for y in range(60 - h + 1) for x in range(80 - w + 1)
             if np.array_equal(image[y:y + h, x:x + w], out["image"])]
    assert len(found) == 1


def test_random_crop_negative_and_recompute():
    sample = make_sample()
    sample["boxes"] = sample["boxes"][3:]
    sample["masks"], sample["labels"], sample["instance_ids"] = (sample[k][3:] for k in ("masks", "labels", "instance_ids"))
    rng_seed = next(i for i in range(100) if len(RandomCrop((10, 10), "absolute")(
        {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in sample.items()}, np.random.default_rng(i))["boxes"]) == 0)
    kept = RandomCrop((10, 10), "absolute", allow_negative_crop=False)(sample, np.random.default_rng(rng_seed))
    assert kept["image"].shape == (60, 80, 3) and len(kept["boxes"]) == 1  # crop skipped, sample intact

    sample = make_sample()
    sample["boxes"] = sample["boxes"] + np.array([-2, -2, 2, 2], dtype=np.float32)  # loose boxes
    out = RandomCrop((60, 80), "absolute", recompute_bbox=True)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(out["boxes"], masks_to_boxes(out["masks"]))


def test_random_crop_relative():
    out = RandomCrop((0.5, 0.25), "relative")(make_sample(), np.random.default_rng(0))
    assert out["image"].shape[:2] == (15, 40)
    out = RandomCrop((0.5, 0.5), "relative_range")(make_sample(), np.random.default_rng(0))
    assert 30 <= out["image"].shape[0] <= 60 and 40 <= out["image"].shape[1] <= 80


def test_random_choice_detr_style_config():
    cfg = dict(type="RandomChoice", transforms=[
        [dict(type="RandomChoiceResize", scales=[(100, 48), (100, 64)])],
        [dict(type="RandomChoiceResize", scales=[(100, 40)]),
         dict(type="RandomCrop", crop_size=(20, 30), crop_type="absolute_range"),
         dict(type="RandomChoiceResize", scales=[(100, 48), (100, 64)])],
    ])
    pipeline = Compose([dict(type="RandomFlip", prob=0.5), cfg])
    assert isinstance(pipeline.transforms[1], RandomChoice)
    branch_sizes = set()
    for i in range(20):
        sample = pipeline(make_sample(), np.random.default_rng(i))
        # resize -> crop -> resize: the first resize's sub-pixel error is magnified by the second (up to ~2.4x)
        assert_aligned(sample, tol=2.5)
        branch_sizes.add(min(sample["image"].shape[:2]))
    assert branch_sizes <= {48, 64} and branch_sizes
    only_second = RandomChoice([[dict(type="Resize", scale=(40, 30))], [dict(type="Resize", scale=(20, 15))]], prob=[0, 1])
    assert only_second(make_sample(), np.random.default_rng(0))["image"].shape[:2] == (15, 20)


def test_compose_is_deterministic_given_rng():
    pipeline = Compose([dict(type="RandomFlip"), dict(type="RandomCrop", crop_size=(20, 50))])
    a = pipeline(make_sample(), np.random.default_rng([0, 1, 2]))
    b = pipeline(make_sample(), np.random.default_rng([0, 1, 2]))
    for key in ("image", "boxes", "masks", "labels"):
        np.testing.assert_array_equal(a[key], b[key])


def test_config_errors():
    assert set(TRANSFORMS) >= {"Resize", "RandomChoiceResize", "RandomFlip", "RandomCrop", "RandomChoice"}
    with pytest.raises(ConfigError, match="unknown config key 'scales'"):
        Compose([dict(type="Resize", scales=(1333, 800))])
    with pytest.raises(ConfigError, match="unknown transform type 'Rezise'"):
        Compose([dict(type="Rezise")])
    with pytest.raises(ConfigError, match="unknown config key 'size'"):
        Compose([dict(type="RandomChoice", transforms=[[dict(type="RandomCrop", size=3)]])])
    with pytest.raises(ConfigError, match="crop_type"):
        RandomCrop(crop_type="center")
    with pytest.raises(ConfigError):
        RandomFlip(prob=2)
