"""The synthetic data generator writes official COCO / YouTube-VIS 2019 files, deterministically."""
import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from vis.data import synthetic
from vis.errors import ConfigError
from vis.formats import encode_mask_uncompressed_rle

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = dict(min_size=96, max_size=128)  # small images keep the tests fast
VIDEO = dict(num_frames=(6, 6), height=96, width=128)


def tight_box(mask):
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def decode(segmentation):
    """Any COCO segmentation dict (compressed or uncompressed RLE) -> bool mask."""
    h, w = segmentation["size"]
    if isinstance(segmentation["counts"], list):
        segmentation = mask_utils.frPyObjects(segmentation, h, w)
    return mask_utils.decode(segmentation).astype(bool)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.make_coco_split(root, "train", 30, seed=1, progress=False, **SIZE)
    synthetic.make_ytvis_split(root, "train", 3, seed=1, progress=False, **VIDEO)
    synthetic.make_ytvis_split(root, "valid", 2, seed=1, progress=False, **VIDEO)
    return root


def load_coco(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(path)


def test_categories_have_non_consecutive_ids():
    assert len(synthetic.CLASS_NAMES) >= 6
    ids = list(synthetic.CATEGORY_IDS)
    assert len(ids) == len(synthetic.CLASS_NAMES) == len(set(ids))
    assert ids != list(range(1, len(ids) + 1))
    assert [c["id"] for c in synthetic.CATEGORIES] == ids


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    def run(root, seed):
        coco = synthetic.make_coco_split(str(root), "val", 3, seed=seed, progress=False, **SIZE)
        ytvis = synthetic.make_ytvis_split(str(root), "valid", 1, seed=seed, progress=False, **VIDEO)
        return open(coco["ann_file"]).read(), open(ytvis["ann_file"]).read()

    a, b, c = run(tmp_path / "a", 5), run(tmp_path / "b", 5), run(tmp_path / "c", 6)
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]
    for name in sorted(os.listdir(tmp_path / "a" / "coco" / "val")):
        a_bytes = (tmp_path / "a" / "coco" / "val" / name).read_bytes()
        assert a_bytes == (tmp_path / "b" / "coco" / "val" / name).read_bytes()
    image_a, objects_a = synthetic.render_coco_image(5, "val", 0, **SIZE)
    image_b, objects_b = synthetic.render_coco_image(5, "val", 0, **SIZE)
    assert np.array_equal(image_a, image_b)
    assert all(np.array_equal(ma, mb) for (_, ma), (_, mb) in zip(objects_a, objects_b))


def test_coco_json_loads_and_masks_match_the_rendering(data_root):
    ann_file = os.path.join(data_root, "coco", "annotations", "instances_train.json")
    raw = json.load(open(ann_file))
    assert {"info", "licenses", "images", "annotations", "categories"} <= set(raw)
    coco = load_coco(ann_file)
    assert sorted(coco.getCatIds()) == sorted(synthetic.CATEGORY_IDS)
    ann_ids = [a["id"] for a in raw["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) >= 1
    kinds = set()
    for index, info in enumerate(sorted(raw["images"], key=lambda i: i["id"])):
        path = os.path.join(data_root, "coco", "train", info["file_name"])
        on_disk = cv2.imread(path)
        assert on_disk.shape[:2] == (info["height"], info["width"])
        assert SIZE["min_size"] <= info["height"] <= SIZE["max_size"]
        rendered, objects = synthetic.render_coco_image(1, "train", index, **SIZE)
        # JPEG drops the grain and subsamples chroma; 5x5 means agree within ~2 levels (another image: ~50+)
        blur = lambda x: cv2.blur(x.astype(np.float32), (5, 5))  # noqa: E731
        assert np.abs(blur(on_disk[..., ::-1]) - blur(rendered)).mean() < 4.0
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[info["id"]]))
        assert len(anns) == len(objects)
        for ann, (category_id, visible) in zip(anns, objects):
            mask = coco.annToMask(ann).astype(bool)
            assert np.array_equal(mask, visible), "stored segmentation must be the visible mask"
            assert ann["category_id"] == category_id and ann["iscrowd"] == 0
            assert ann["area"] == mask.sum() >= 40
            assert ann["bbox"] == tight_box(mask)
            seg = ann["segmentation"]
            if isinstance(seg, list):
                kinds.add("polygon")
                assert all(len(p) >= 6 and len(p) % 2 == 0 for p in seg)
            else:
                kinds.add("rle")
                assert isinstance(seg["counts"], str) and seg["size"] == [info["height"], info["width"]]
    assert kinds == {"polygon", "rle"}


def test_small_objects_and_every_class_occur(data_root):
    raw = json.load(open(os.path.join(data_root, "coco", "annotations", "instances_train.json")))
    assert any(a["bbox"][2] < 32 and a["bbox"][3] < 32 for a in raw["annotations"])
    assert {a["category_id"] for a in raw["annotations"]} == set(synthetic.CATEGORY_IDS)


@pytest.mark.parametrize("split,counts_type", [("train", list), ("valid", str)])
def test_ytvis_json(data_root, split, counts_type):
    raw = json.load(open(os.path.join(data_root, "ytvis", f"{split}.json")))
    assert {"info", "licenses", "videos", "annotations", "categories"} <= set(raw)
    videos = {v["id"]: v for v in raw["videos"]}
    for video in raw["videos"]:
        assert len(video["file_names"]) == video["length"] == 6
        numbers = [int(os.path.splitext(os.path.basename(f))[0]) for f in video["file_names"]]
        assert numbers == [5 * i for i in range(video["length"])]
        for name in video["file_names"]:
            assert os.path.isfile(os.path.join(data_root, "ytvis", split, "JPEGImages", name))
        frame = cv2.imread(os.path.join(data_root, "ytvis", split, "JPEGImages", video["file_names"][0]))
        assert frame.shape[:2] == (video["height"], video["width"]) == (96, 128)
    ids = [a["id"] for a in raw["annotations"]]
    assert len(set(ids)) == len(ids)
    for ann in raw["annotations"]:
        video = videos[ann["video_id"]]
        assert ann["iscrowd"] == 0 and ann["category_id"] in synthetic.CATEGORY_IDS
        assert (ann["height"], ann["width"]) == (video["height"], video["width"])
        n = video["length"]
        assert len(ann["segmentations"]) == len(ann["bboxes"]) == len(ann["areas"]) == n
        assert any(s is not None for s in ann["segmentations"])
        for seg, box, area in zip(ann["segmentations"], ann["bboxes"], ann["areas"]):
            assert (seg is None) == (box is None) == (area is None)
            if seg is None:
                continue
            assert isinstance(seg["counts"], counts_type)
            mask = decode(seg)
            assert mask.shape == (video["height"], video["width"])
            assert area == mask.sum() >= 40
            assert box == tight_box(mask)


def test_some_ytvis_object_is_absent_in_some_frames(data_root):
    anns = []
    for split in ("train", "valid"):
        anns += json.load(open(os.path.join(data_root, "ytvis", f"{split}.json")))["annotations"]
    assert any(None in a["segmentations"] for a in anns)
    assert any(None not in a["segmentations"] for a in anns) or len(anns) < 3


def test_uncompressed_rle_matches_pycocotools():
    rng = np.random.default_rng(0)
    for first in (0, 1):
        mask = rng.random((7, 9)) < 0.4
        mask[0, 0] = bool(first)
        rle = encode_mask_uncompressed_rle(mask)
        assert sum(rle["counts"]) == mask.size
        assert np.array_equal(decode(rle), mask)
        compressed = mask_utils.frPyObjects(rle, 7, 9)
        assert compressed["counts"] == mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]


def test_polygons_round_trip_exactly_and_holes_go_to_rle():
    mask = np.zeros((40, 50), dtype=bool)
    cv2.fillPoly(mask.view(np.uint8), [np.array([[5, 3], [40, 8], [30, 35], [8, 30]], np.int32)], 1)
    polygon = synthetic.mask_to_polygon(mask)
    assert polygon is not None
    assert np.array_equal(mask_utils.decode(mask_utils.frPyObjects(polygon, 40, 50))[..., 0].astype(bool), mask)
    holed = mask.copy()
    holed[15:20, 15:20] = False
    assert synthetic.mask_to_polygon(holed) is None
    assert isinstance(synthetic.coco_segmentation(holed)["counts"], str)
    split = mask.copy()
    split[:, 20:22] = False
    assert synthetic.mask_to_polygon(split) is None


def test_demo_video_opens_with_cv2_and_the_frame_source(tmp_path):
    from vis.io.video import open_frame_source

    path = str(tmp_path / "demo.mp4")
    truth = synthetic.write_demo_video(path, num_frames=10, height=96, width=128, seed=2,
                                       gt_path=str(tmp_path / "demo.json"))
    assert sorted(os.listdir(tmp_path)) == ["demo.json", "demo.mp4"]  # no temp file left behind
    cap = cv2.VideoCapture(path)
    frames = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (96, 128, 3)
        frames += 1
    cap.release()
    assert frames == 10
    source = open_frame_source(path)
    assert source.total_frames == 10 and [f.shape for _, f in source] == [(96, 128, 3)] * 10
    assert json.load(open(tmp_path / "demo.json")) == json.loads(json.dumps(truth))
    assert truth["videos"][0]["length"] == 10
    for ann in truth["annotations"]:
        assert len(ann["segmentations"]) == len(ann["areas"]) == 10


def test_demo_video_has_the_frames_cv2_mp4v_writes(tmp_path):
    """The demo mp4 goes through VideoWriter(codec='mp4v'), set up as cv2's 'mp4v' writer: the same packets (an odd
    last row / column dropped, as cv2 drops it), so the videos decode to the same frames."""
    import av

    from vis.data.synthetic.scenes import render_video, sample_demo_scene
    from vis.data.synthetic.textures import item_rng

    def packets(path):
        with av.open(path) as container:
            return [bytes(p) for p in container.demux(video=0) if p.size]

    for height, width in ((64, 96), (65, 97)):
        ours = str(tmp_path / f"ours_{height}.mp4")
        synthetic.write_demo_video(ours, num_frames=14, height=height, width=width, seed=4)
        theirs = str(tmp_path / f"cv2_{height}.mp4")
        writer = cv2.VideoWriter(theirs, cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
        rng = item_rng(4, "demo", 0)
        for frame, _ in render_video(rng, sample_demo_scene(rng, 14, height, width)):
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
        writer.release()
        assert packets(ours) == packets(theirs) and len(packets(ours)) == 14


def test_bad_arguments_raise_config_error(tmp_path):
    with pytest.raises(ConfigError):
        synthetic.make_coco_split(str(tmp_path), "train", 1, min_size=300, max_size=200, progress=False)
    with pytest.raises(ConfigError):
        synthetic.generate_all(str(tmp_path), synthetic.SyntheticSpec(num_train_images=-1), progress=False,
                               verbose=False)
    assert os.listdir(tmp_path) == []


def _load_tool():
    path = os.path.join(REPO, "tools", "make_synthetic_data.py")
    spec = importlib.util.spec_from_file_location("make_synthetic_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY_ROOT = ["--num-train", "2", "--num-val", "1", "--num-test", "2", "--num-train-videos", "1",
             "--num-val-videos", "1", "--num-test-videos", "2", "--demo-frames", "4", "--image-size", "64", "96",
             "--video-size", "64", "96", "--video-frames", "3", "4", "--no-progress"]


def _tree_bytes(root):
    """{relative path: file bytes} of every file under ``root``."""
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


def test_tool_writes_a_data_root(tmp_path, capsys):
    out = str(tmp_path / "root")
    code = _load_tool().main(["--out", out] + TINY_ROOT)
    assert code == 0
    for rel in ("coco/annotations/instances_train.json", "coco/annotations/instances_val.json",
                "coco/annotations/instances_test.json", "ytvis/train.json", "ytvis/valid.json", "ytvis/test.json",
                "demo/demo.mp4", "demo/demo.json"):
        assert os.path.isfile(os.path.join(out, rel)), rel
    assert len(os.listdir(os.path.join(out, "coco", "test"))) == 2
    assert len(json.load(open(os.path.join(out, "ytvis", "test.json")))["videos"]) == 2
    assert not [n for n in os.listdir(os.path.join(out, "coco")) if n.startswith(".")]
    assert "synthetic data written" in capsys.readouterr().out


def test_tool_bad_input_exits_2_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "tools/make_synthetic_data.py", "--out", str(tmp_path / "x"), "--image-size", "300", "200"],
        cwd=REPO, capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_test_split_is_its_own_stream(tmp_path):
    """Adding the test split leaves every other file byte-identical, and test content differs from valid."""
    with_test, without_test = str(tmp_path / "with"), str(tmp_path / "without")
    assert _load_tool().main(["--out", with_test] + TINY_ROOT) == 0
    assert _load_tool().main(["--out", without_test, "--splits", "train", "val", "demo"] + TINY_ROOT) == 0
    full, partial = _tree_bytes(with_test), _tree_bytes(without_test)
    assert not [p for p in partial if "test" in p]
    assert set(full) - set(partial) == {p for p in full if "test" in p} != set()
    assert all(full[p] == partial[p] for p in partial)
    test_gt = json.load(open(os.path.join(with_test, "ytvis", "test.json")))
    valid_gt = json.load(open(os.path.join(with_test, "ytvis", "valid.json")))
    assert test_gt["videos"][0]["file_names"][0] != valid_gt["videos"][0]["file_names"][0]
    assert synthetic.dataset_seed(test_gt) == 0


def test_only_the_test_split_and_its_seed(tmp_path):
    root = str(tmp_path / "t")
    assert _load_tool().main(["--out", root, "--seed", "7", "--splits", "test"] + TINY_ROOT) == 0
    written = sorted(_tree_bytes(root))
    assert written[:3] == ["coco/annotations/instances_test.json", "coco/test/000001.jpg", "coco/test/000002.jpg"]
    assert written[3:] and all(p == "ytvis/test.json" or p.startswith("ytvis/test/JPEGImages/") for p in written[3:])
    assert synthetic.dataset_seed(json.load(open(os.path.join(root, "coco/annotations/instances_test.json")))) == 7
    assert synthetic.dataset_seed({"info": {"description": "COCO 2017", "contributor": "COCO Consortium"}}) is None
    with pytest.raises(ConfigError, match="split group"):
        synthetic.generate_all(str(tmp_path / "u"), synthetic.SyntheticSpec(splits=["tests"]), progress=False,
                               verbose=False)


def test_tool_defaults_are_the_generators():
    """The tool keeps plain copies of the test-split sizes (fast --help); they must not drift."""
    tool = _load_tool()
    assert (tool.NUM_TEST_IMAGES, tool.NUM_TEST_VIDEOS) == (synthetic.NUM_TEST_IMAGES, synthetic.NUM_TEST_VIDEOS)
    assert tool.SPLIT_GROUPS == synthetic.SPLIT_GROUPS
