"""The datasets the field reports (YouTube-VIS 2019 / 2021 / 2022, OVIS): their configs resolve on files of their
layout and classes, zero-shot COCO tables, a file checked against the table its config names, OVIS submissions.

Every file here is tiny and generated: a few 32x48 JPEG frames per video, one track per listed category.
"""
import json
import os
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_util

from vis.coco_classes import COCO_CLASSES
from vis.config import load_config, to_plain
from vis.data import build_dataset
from vis.data.label_space import build_label_space, model_label_map, named_categories
from vis.data.ytvis import default_img_dir
from vis.data.ytvis_classes import COCO_TO_OVIS, COCO_TO_YTVIS_2021, OVIS_CLASSES, detect_dataset, ytvis_categories
from vis.errors import ConfigError, DataError
from vis.evaluation.submission import validate_results, validate_submission_zip, write_submission_zip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H, W, FRAMES = 32, 48, 3

# dataset config -> (classes it names, number of classes, train file, test file), as the official releases lay
# them out under data/.
DATASET_CONFIGS = {
    "ytvis_2019.py": ("ytvis2019", 40, "data/ytvis_2019/train.json", "data/ytvis_2019/valid.json"),
    "ytvis_2021.py": ("ytvis2021", 40, "data/ytvis_2021/train/instances.json", "data/ytvis_2021/valid/instances.json"),
    "ytvis_2022.py": ("ytvis2022", 40, "data/ytvis_2021/train/instances.json", "data/ytvis_2022/valid/instances.json"),
    "ovis.py": ("ovis", 25, "data/ovis/annotations_train.json", "data/ovis/annotations_valid.json"),
}
# finetune config -> the classes of its dataset (its model must have as many)
FINETUNE_CONFIGS = {
    "queryinst_vis/queryinst_r50_fpn_ytvis21.py": "ytvis2021",
    "queryinst_vis/queryinst_r50_fpn_ytvis22.py": "ytvis2022",
    "queryinst_vis/queryinst_r50_fpn_ovis.py": "ovis",
    "istr/istr_r50_fpn_ytvis21.py": "ytvis2021",
    "istr/istr_r50_fpn_ytvis22.py": "ytvis2022",
    "istr/istr_r50_fpn_ovis.py": "ovis",
    "solq/solq_r50_ytvis21.py": "ytvis2021",
    "solq/solq_r50_ytvis22.py": "ytvis2022",
    "solq/solq_r50_ovis.py": "ovis",
}


def _rle(mask):
    encoded = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def write_video_file(ann_file, img_dir, categories, track_categories, annotated=True, num_videos=1):
    """A tiny YouTube-VIS-format file at ``ann_file`` (official layouts' frame names) and its JPEG frames under
    ``img_dir``: ``num_videos`` videos of FRAMES frames, one track per id of ``track_categories``, each a
    rectangle of its own, present in every frame. ``annotated=False``: no annotations, as official valid files.
    Returns the parsed JSON."""
    videos, annotations = [], []
    rng = np.random.default_rng(0)
    for v in range(1, num_videos + 1):
        folder = f"video{v:03d}"
        os.makedirs(os.path.join(img_dir, folder), exist_ok=True)
        names = [f"{folder}/{t * 5:05d}.jpg" for t in range(FRAMES)]
        for name in names:
            cv2.imwrite(os.path.join(img_dir, name), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        videos.append({"id": v, "height": H, "width": W, "length": FRAMES, "file_names": names})
        for k, category_id in enumerate(track_categories):
            mask = np.zeros((H, W), dtype=bool)
            mask[2 + 6 * k:8 + 6 * k, 4 + 8 * k:14 + 8 * k] = True
            x, y = 4 + 8 * k, 2 + 6 * k
            annotations.append({"id": len(annotations) + 1, "video_id": v, "category_id": category_id, "iscrowd": 0,
                                "segmentations": [_rle(mask)] * FRAMES, "bboxes": [[x, y, 10, 6]] * FRAMES,
                                "areas": [60] * FRAMES, "height": H, "width": W, "length": FRAMES})
    data = {"videos": videos, "categories": list(categories), "annotations": annotations if annotated else None}
    os.makedirs(os.path.dirname(ann_file), exist_ok=True)
    with open(ann_file, "w") as f:
        json.dump(data, f)
    return data


def split_cfg(config, split, root):
    """``data.<split>`` of a config with its files moved under ``root`` (the same relative layout)."""
    cfg = dict(to_plain(load_config(os.path.join(REPO, config)).data[split]))
    cfg["ann_file"] = os.path.join(root, cfg["ann_file"])
    cfg["img_dir"] = os.path.join(root, cfg["img_dir"])
    return cfg


# -- the dataset configs on files of their own ---------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DATASET_CONFIGS))
def test_dataset_config_resolves_and_reads_its_files(name, tmp_path):
    classes, num_classes, train_file, test_file = DATASET_CONFIGS[name]
    config = f"configs/_base_/datasets/{name}"
    train, test = split_cfg(config, "train", tmp_path), split_cfg(config, "test", tmp_path)
    assert (train["ann_file"], test["ann_file"]) == (str(tmp_path / train_file), str(tmp_path / test_file))
    assert train["classes"] == test["classes"] == classes
    for cfg in (train, test):  # the config's frame folder is where the layout says it is (tools/test_vis.py --ann)
        assert os.path.normpath(default_img_dir(cfg["ann_file"])) == os.path.normpath(cfg["img_dir"])
    official = named_categories(classes)
    first, last = official[0]["id"], official[-1]["id"]
    write_video_file(train["ann_file"], train["img_dir"], official, [last, first])

    dataset = build_dataset(train)
    assert dataset.num_classes == num_classes and dataset.cat_ids == list(range(1, num_classes + 1))
    assert dataset.class_names == [c["name"] for c in official]
    item = dataset[0]
    assert sorted(item["target"]["labels"].tolist()) == [0, num_classes - 1]
    assert item["ref_target"]["video_id"] == item["target"]["video_id"] == 1
    assert tuple(item["image"].shape) == (3, 360, 540)  # 32x48 resized keep-ratio into 640x360

    write_video_file(test["ann_file"], test["img_dir"], official, [], annotated=False, num_videos=2)
    frames = build_dataset(test)
    assert len(frames) == 2 * FRAMES and frames.num_classes == num_classes
    assert len(frames[FRAMES]["target"]["labels"]) == 0 and frames[FRAMES]["target"]["video_id"] == 2


def test_ytvis_2022_trains_on_2021_and_tests_on_its_own_valid():
    train = load_config(os.path.join(REPO, "configs/_base_/datasets/ytvis_2022.py")).data
    train21 = load_config(os.path.join(REPO, "configs/_base_/datasets/ytvis_2021.py")).data
    assert train.train.ann_file == train21.train.ann_file and train.train.img_dir == train21.train.img_dir
    assert train.test.ann_file == "data/ytvis_2022/valid/instances.json"
    assert named_categories("ytvis2022") == named_categories("ytvis2021")


@pytest.mark.parametrize("config", sorted(FINETUNE_CONFIGS))
def test_finetune_config_matches_its_dataset(config):
    cfg = load_config(os.path.join(REPO, "configs", config))
    classes = FINETUNE_CONFIGS[config]
    assert cfg.data.train.classes == cfg.data.test.classes == classes
    assert cfg.model.segmenter.num_classes == len(named_categories(classes))
    if classes == "ovis":  # crowded frames: 100 detections per frame, and the tracker keeps them
        assert cfg.model.segmenter.max_per_img == 100 and cfg.tracker.max_per_frame == 100
    else:
        assert cfg.tracker.max_per_frame == 10


def test_queryinst_ovis_loads_the_official_coco_model_shapes():
    """100 proposals as the COCO model: only the classifier (and the new track head) differ from it."""
    ovis = load_config(os.path.join(REPO, "configs/queryinst_vis/queryinst_r50_fpn_ovis.py")).model.segmenter
    coco = load_config(os.path.join(REPO, "configs/queryinst/queryinst_r50_fpn_1x_coco.py")).model
    assert ovis.num_proposals == coco.num_proposals == 100 and ovis.max_per_img == 100
    assert ovis.num_stages == coco.num_stages and ovis.backbone.depth == coco.backbone.depth


def test_queryinst_coco_pretraining_in_the_2021_label_space(tmp_path):
    data = load_config(os.path.join(REPO, "configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis21-classes.py")).data
    assert data.train.class_map == "coco_to_ytvis2021" and data.train.classes == "ytvis2021"
    coco_cats = named_categories("coco")
    cat_ids, names, to_label = build_label_space(coco_cats, data.train.class_map, data.train.classes)
    assert len(cat_ids) == 40 and names[to_label[16]] == "bird" and names[to_label[34]] == "flying_disc"


# -- class tables ------------------------------------------------------------------------------------
def test_ovis_table_and_coco_map():
    assert len(OVIS_CLASSES) == 25 and OVIS_CLASSES[0] == "Person" and OVIS_CLASSES[24] == "Vehical"
    assert detect_dataset(ytvis_categories("ovis")) == "ovis"
    # the file's spelling, another case, '_' or ' ', and the corrected "Vehicle" are the same classes
    respelt = [{"id": c["id"], "name": c["name"].lower().replace("_", " ")} for c in ytvis_categories("ovis")]
    respelt[24]["name"] = "Vehicle"
    assert detect_dataset(respelt) == "ovis"
    assert [COCO_TO_OVIS[i] for i in (3, 6, 8)] == [25, 25, 25]  # car, bus, truck -> Vehical
    assert COCO_TO_OVIS[1] == 1 and COCO_TO_OVIS[16] == 2 and COCO_TO_OVIS[2] == 21 and COCO_TO_OVIS[4] == 22
    assert 7 not in COCO_TO_OVIS  # train: no OVIS counterpart
    assert all(OVIS_CLASSES[v - 1] not in ("Poultry", "Giant_panda", "Lizard", "Parrot", "Monkey", "Rabbit",
                                            "Tiger", "Fish", "Turtle") for v in COCO_TO_OVIS.values())


def test_zero_shot_coco_model_on_ovis_and_2022():
    names = list(COCO_CLASSES)
    mapping, note = model_label_map(names, ytvis_categories("ovis"))
    for coco_name, ovis_id in (("car", 25), ("bus", 25), ("truck", 25), ("bird", 2), ("person", 1), ("boat", 24)):
        assert mapping[names.index(coco_name)] == ovis_id, coco_name
    assert names.index("train") not in mapping and names.index("mouse") not in mapping
    assert len(mapping) == 18 and "OVIS" in note and "18 of the model's 80" in note

    mapping22, note22 = model_label_map(names, ytvis_categories("ytvis2022"))
    assert mapping22 == {names.index(coco_name): ytvis_id for coco_name, ytvis_id in _coco_named(COCO_TO_YTVIS_2021)}
    assert mapping22[names.index("bird")] == 3 and mapping22[names.index("car")] == 5 and len(mapping22) == 21
    assert "21 of the model's 80" in note22
    # a model trained on OVIS writes its labels as the file's ids, whatever the file's case and spelling
    respelt = [{"id": c["id"], "name": c["name"].upper()} for c in ytvis_categories("ovis")]
    respelt[24]["name"] = "Vehicle"
    assert model_label_map(list(OVIS_CLASSES), respelt) == ({i: i + 1 for i in range(25)}, None)


def _coco_named(table):
    from vis.coco_classes import COCO_THING_IDS

    name_of = dict(zip(COCO_THING_IDS, COCO_CLASSES))
    return [(name_of[coco_id], target) for coco_id, target in table.items()]


def test_named_class_maps_for_ovis_and_2022():
    coco = named_categories("coco")
    cat_ids, names, to_label = build_label_space(coco, "coco_to_ovis", "ovis")
    assert len(cat_ids) == 25 and to_label[3] == to_label[6] == to_label[8] == 24 and names[24] == "Vehical"
    assert build_label_space(coco, "coco_to_ytvis2022", "ytvis2022") == build_label_space(
        coco, "coco_to_ytvis2021", "ytvis2021")


# -- a file checked against the table its config names --------------------------------------------------
def _one_line_error(kind, cfg, *needles):
    with pytest.raises(kind) as info:
        build_dataset(cfg)
    message = str(info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def test_2021_file_under_the_2019_config_is_refused(tmp_path):
    cfg = split_cfg("configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py", "train", tmp_path)
    write_video_file(cfg["ann_file"], cfg["img_dir"], ytvis_categories("ytvis2021"), [1])
    _one_line_error(ConfigError, cfg, "YTVISDataset", cfg["ann_file"], "are YouTube-VIS 2021's (id 1 'airplane')",
                    "classes='ytvis2019'")


def test_ovis_file_under_a_youtube_vis_config_and_back(tmp_path):
    cfg = split_cfg("configs/_base_/datasets/ytvis_2021.py", "test", tmp_path)
    write_video_file(cfg["ann_file"], cfg["img_dir"], ytvis_categories("ovis"), [], annotated=False)
    _one_line_error(ConfigError, cfg, "are OVIS's (id 1 'Person')", "classes='ytvis2021'")
    cfg = split_cfg("configs/_base_/datasets/ovis.py", "test", tmp_path)
    write_video_file(cfg["ann_file"], cfg["img_dir"], ytvis_categories("ytvis2019"), [], annotated=False)
    # id 1 is "person" in both: the first that differs is named
    _one_line_error(ConfigError, cfg, "are YouTube-VIS 2019's (id 2 'giant_panda')", "classes='ovis'")


def test_category_the_table_lacks_is_refused_before_any_frame_is_read(tmp_path):
    cfg = split_cfg("configs/_base_/datasets/ovis.py", "train", tmp_path)
    extra = ytvis_categories("ovis") + [{"id": 26, "name": "Car"}, {"id": 30, "name": "Tram"}]
    write_video_file(cfg["ann_file"], cfg["img_dir"], extra, [1, 26])
    cfg["img_dir"] = str(tmp_path / "no_such_folder")  # the categories are checked first
    _one_line_error(DataError, cfg, cfg["ann_file"], "category ids that classes='ovis' lacks: 26 'Car', 30 'Tram'",
                    "ids 1..25")


def test_renamed_category_is_refused(tmp_path):
    cfg = split_cfg("configs/_base_/datasets/ytvis_2019.py", "train", tmp_path)
    categories = ytvis_categories("ytvis2019")
    categories[2]["name"] = "gecko"
    write_video_file(cfg["ann_file"], cfg["img_dir"], categories, [3])
    _one_line_error(ConfigError, cfg, "names category id 3 'gecko'", "classes='ytvis2019' has 'lizard' there",
                    "disagree on 1 of its 40 categories")


def test_youtube_vis_file_under_a_coco_class_map_is_refused(tmp_path):
    """The COCO -> YouTube-VIS config's label space, pointed at a YouTube-VIS file by mistake."""
    coco_cfg = load_config(os.path.join(REPO, "configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis-classes.py"))
    cfg = split_cfg("configs/_base_/datasets/ytvis_2019.py", "train", tmp_path)
    cfg.update(class_map=coco_cfg.data.train.class_map, classes=coco_cfg.data.train.classes)
    write_video_file(cfg["ann_file"], cfg["img_dir"], ytvis_categories("ytvis2019"), [1])
    _one_line_error(ConfigError, cfg, "class_map='coco_to_ytvis2019' reads COCO category ids",
                    "names id 3 'lizard' (COCO's is 'car')", "YouTube-VIS 2019's, not COCO's")
    cfg.update(class_map="coco_to_ovis", classes="ytvis2019")
    _one_line_error(ConfigError, cfg, "class_map='coco_to_ovis' maps into OVIS's categories",
                    "classes='ytvis2019'")


def test_truncated_file_under_the_new_configs(tmp_path):
    for config in ("configs/queryinst_vis/queryinst_r50_fpn_ytvis21.py",
                   "configs/queryinst_vis/queryinst_r50_fpn_ovis.py"):
        cfg = split_cfg(config, "train", tmp_path)
        write_video_file(cfg["ann_file"], cfg["img_dir"], named_categories(cfg["classes"]), [1])
        with open(cfg["ann_file"]) as f:
            text = f.read()
        with open(cfg["ann_file"], "w") as f:
            f.write(text[: len(text) // 2])
        _one_line_error(DataError, cfg, "malformed annotation file", cfg["ann_file"])


def test_custom_dataset_without_classes_keeps_its_own_categories(tmp_path):
    cfg = split_cfg("configs/_base_/datasets/ytvis_2019.py", "train", tmp_path)
    del cfg["classes"]
    write_video_file(cfg["ann_file"], cfg["img_dir"], [{"id": 9, "name": "kite"}, {"id": 4, "name": "Person"}], [9])
    dataset = build_dataset(cfg)
    assert dataset.cat_ids == [4, 9] and dataset.class_names == ["Person", "kite"]
    assert dataset[0]["target"]["labels"].tolist() == [1]


# -- test_vis on OVIS / 2022 files ----------------------------------------------------------------------
def test_video_split_of_an_image_config_drops_its_label_space():
    from pipelines.submission import video_split_cfg

    coco_split = dict(type="CocoDataset", ann_file="coco.json", img_dir="coco/", classes="coco_id_slots",
                      class_map={1: 1}, filter_empty=True, transforms=[dict(type="Resize", scale=(640, 360))])
    video = video_split_cfg(coco_split, "data/ovis/annotations_valid.json", None)
    assert video == {"type": "YTVISDataset", "test_mode": True, "ann_file": "data/ovis/annotations_valid.json",
                     "img_dir": None, "transforms": [dict(type="Resize", scale=(640, 360))]}
    ovis_split = dict(type="YTVISDataset", ann_file="a.json", img_dir="a/", classes="ovis", transforms=[])
    assert video_split_cfg(ovis_split)["classes"] == "ovis"  # a video config's table still checks the file


def test_zero_shot_label_map_of_a_built_ovis_dataset(tmp_path):
    from pipelines.submission import dataset_label_map

    cfg = split_cfg("configs/queryinst_vis/queryinst_r50_fpn_ovis.py", "test", tmp_path)
    write_video_file(cfg["ann_file"], cfg["img_dir"], ytvis_categories("ovis"), [], annotated=False)
    cfg["test_mode"] = True
    dataset = build_dataset(cfg)
    label_map = dataset_label_map(list(COCO_CLASSES), dataset, progress=False)
    assert label_map[COCO_CLASSES.index("truck")] == 25 and len(label_map) == 18


def _results_for(gt, category_id):
    return [{"video_id": v["id"], "category_id": category_id, "score": 0.8,
             "segmentations": [_rle(np.ones((H, W), bool))] + [None] * (len(v["file_names"]) - 1)}
            for v in gt["videos"]]


def test_ovis_submission_is_valid_and_zipped(tmp_path):
    gt = write_video_file(str(tmp_path / "ovis" / "annotations_valid.json"), str(tmp_path / "ovis" / "valid"),
                          ytvis_categories("ovis"), [], annotated=False, num_videos=2)
    results = _results_for(gt, 25) + _results_for(gt, 1)  # Vehical and Person
    assert validate_results(results, gt) == []
    unknown = validate_results(_results_for(gt, 26), gt)
    assert len(unknown) == 2 and "unknown category id 26" in unknown[0]
    json_path, zip_path = write_submission_zip(results, str(tmp_path / "out"), str(tmp_path / "ovis" /
                                                                                   "annotations_valid.json"))
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist() == ["results.json"]
        assert [e["category_id"] for e in json.loads(archive.read("results.json"))] == [25, 25, 1, 1]
    assert validate_submission_zip(zip_path, gt) == []
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "validate_submission.py"), zip_path,
                           "--ann", str(tmp_path / "ovis" / "annotations_valid.json")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok: 4 tracks in 2 videos", proc.stderr


def test_ytvis_2022_submission_with_a_long_video(tmp_path):
    """2022's valid set mixes long videos in: one zip answers all, each entry as long as its video."""
    gt = write_video_file(str(tmp_path / "valid" / "instances.json"), str(tmp_path / "valid" / "JPEGImages"),
                          ytvis_categories("ytvis2022"), [], annotated=False)
    gt["videos"].append({"id": 2, "height": H, "width": W, "length": 40,
                         "file_names": [f"long/{t * 5:05d}.jpg" for t in range(40)]})
    results = _results_for(gt, 40)
    assert [len(r["segmentations"]) for r in results] == [FRAMES, 40]
    assert validate_results(results, gt) == []
    results[1]["segmentations"] = results[1]["segmentations"][:FRAMES]
    assert "3 segmentations for a 40-frame video" in validate_results(results, gt)[0]


@pytest.mark.parametrize("table, ann_name", [("ovis", "annotations_valid.json"), ("ytvis2022", "instances.json")])
def test_zero_shot_test_vis_writes_a_valid_submission(tmp_path, table, ann_name):
    """A COCO image model (random weights, 80 classes) through test_vis on an OVIS / 2022 valid file: the COCO
    split's ``classes='coco_id_slots'`` stays behind, labels go through the table, the zip is valid."""
    import torch

    from pipelines.submission import test_vis_from_config
    from vis.engine.checkpoint import save_checkpoint
    from vis.models import build_model
    from vis.options import RunOptions

    # max_per_img 400: random weights favour a few classes, so a short top-k may hold none with a counterpart
    config = tmp_path / "coco_tiny.py"
    config.write_text(
        "model = dict(type='QueryInst', num_classes=80, num_proposals=20, num_stages=2, hidden_dim=32, num_heads=4, "
        "feedforward_channels=64, dynamic_channels=8, mask_num_convs=1, max_per_img=400, "
        "backbone=dict(depth=18, pretrained=None, frozen_stages=-1, norm_eval=False))\n"
        "class_names = 'coco'\n"
        "data = dict(val=dict(type='CocoDataset', ann_file='unused.json', img_dir='unused/', test_mode=True, "
        "classes='coco_id_slots', transforms=[dict(type='Resize', scale=(96, 64), keep_ratio=True)]))\n"
        "tracker = dict(type='QueryTracker', score_thr=0.0, init_score_thr=0.0, max_per_frame=20)\n")
    torch.manual_seed(0)
    checkpoint = save_checkpoint(str(tmp_path / "coco_tiny.pth"), build_model(load_config(str(config)).model))
    ann = str(tmp_path / "valid" / ann_name)
    gt = write_video_file(ann, str(tmp_path / "valid" / ("valid" if table == "ovis" else "JPEGImages")),
                          ytvis_categories(table), [], annotated=False, num_videos=2)
    options = RunOptions(config=str(config), checkpoint=checkpoint, device="cpu")
    # no img_dir: each layout's default frame folder (OVIS: the split's folder, 2022: JPEGImages)
    assert test_vis_from_config(options, ann_file=ann, split="val", out_dir=str(tmp_path / "out"),
                                progress=False) == {}  # no annotations: no metrics, only the submission
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    table_ids = set((COCO_TO_OVIS if table == "ovis" else COCO_TO_YTVIS_2021).values())
    assert results and {r["category_id"] for r in results} <= table_ids
    assert {r["video_id"] for r in results} == {1, 2}
    assert validate_submission_zip(str(tmp_path / "out" / "submission.zip"), gt) == []


def test_an_official_coco_file_finetunes_the_ovis_model_when_the_proposals_match(tmp_path):
    """Why the OVIS QueryInst keeps the COCO model's proposals: a file of the official (mmdet) layout then loads
    into the video model with only the classifier re-initialised and the track head new; a 10-query model cannot
    take it. Tiny models of the same structure as the R-50 configs."""
    import torch

    from official_layouts import mmdet2_file
    from vis.engine.loading import load_checkpoint
    from vis.errors import CheckpointError
    from vis.models import build_model

    def queryinst(num_classes, num_proposals):
        return dict(type="QueryInst", num_classes=num_classes, num_proposals=num_proposals, num_stages=2,
                    hidden_dim=32, num_heads=4, feedforward_channels=64, dynamic_channels=8, num_reg_fcs=1,
                    mask_num_convs=1, max_per_img=num_proposals, backbone=dict(depth=18, frozen_stages=1))

    torch.manual_seed(0)
    path = str(tmp_path / "queryinst_coco_mmdet.pth")
    torch.save(mmdet2_file(build_model(queryinst(80, 20)).state_dict()), path)
    ovis = build_model(dict(type="VideoSegmenter", segmenter=queryinst(25, 20), track_head=dict(fc_channels=64)))
    report = load_checkpoint(ovis, path)
    assert report.classifier_reinitialised and "checkpoint has 80 classes, model has 25" in report.classifier_message
    assert not report.unexpected and report.missing and all(k.startswith("track_head.") for k in report.missing)
    ten = build_model(dict(type="VideoSegmenter", segmenter=queryinst(25, 10), track_head=dict(fc_channels=64)))
    with pytest.raises(CheckpointError, match="differ in shape outside the classifier"):
        load_checkpoint(ten, path)
