"""tools/test_seeds.py / pipelines.heldout: one checkpoint on the test splits of several generator seeds.

Runs the bundled demo model (a real trained VideoSegmenter) on two tiny test splits per task, and checks
the report against the standard evaluation path (tools/test_vis.py, tools/test.py) on the same files.
"""
import json
import os
import subprocess
import sys

import pytest

from pipelines import evaluate, heldout, submission
from vis.config import load_config
from vis.data import synthetic
from vis.errors import ConfigError
from vis.options import RunOptions

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CONFIG = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.py")
DEMO_CKPT = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.pth")
DEMO = RunOptions(config=DEMO_CONFIG, checkpoint=DEMO_CKPT, device="cpu")


@pytest.fixture(scope="module")
def video_report(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("heldout"))
    report = heldout.evaluate_seeds(DEMO, seeds=[3, 4], data_root=root, num_items=2, progress=False)
    return root, report


def test_video_report_per_seed_and_summary(video_report):
    root, report = video_report
    assert report["task"] == "videos" and report["seeds"] == [3, 4]
    assert [r["seed"] for r in report["per_seed"]] == [3, 4]
    assert [r["num_items"] for r in report["per_seed"]] == [2, 2]
    for seed in (3, 4):  # each seed's own test split, written by the generator for that seed
        gt = json.load(open(os.path.join(root, f"seed{seed}", "ytvis", "test.json")))
        assert len(gt["videos"]) == 2 and f"seed {seed}" in gt["info"]["description"]
    for key in ("AP", "AP50", "IDSW_per_video", "matched_fraction"):
        values = [r["metrics"][key] for r in report["per_seed"]]
        summary = report["summary"][key]
        assert summary["min"] == min(values) and summary["max"] == max(values)
        assert summary["mean"] == pytest.approx(sum(values) / 2)
    assert report["summary"]["AP50"]["mean"] > 0.2  # a trained model, not an empty result
    table = heldout.format_report(report)
    assert table.splitlines()[0] == "videos: test splits of seeds 3, 4"
    assert table.splitlines()[1].split("|")[0].strip() == "seed"
    assert table.splitlines()[-2].startswith("   mean") and "–" in table.splitlines()[-1]


def test_video_figures_equal_test_vis_on_the_same_split(video_report, tmp_path):
    root, report = video_report
    ann = os.path.join(root, "seed4", "ytvis", "test.json")
    metrics = submission.test_vis_from_config(DEMO, ann_file=ann, out_dir=str(tmp_path), progress=False)
    seed4 = report["per_seed"][1]["metrics"]
    for key in ("AP", "AP50", "AP75", "AR10", "IDSW", "matched_fraction"):
        assert seed4[key] == pytest.approx(metrics[key]), key


def test_existing_splits_are_reused_and_stale_ones_rewritten(video_report):
    root, _ = video_report
    ann = os.path.join(root, "seed3", "ytvis", "test.json")
    stamp = os.stat(ann).st_mtime_ns
    assert heldout.ensure_split(root, 3, "videos", "test", 2)["ann_file"] == ann
    assert os.stat(ann).st_mtime_ns == stamp  # same seed and count: reused
    heldout.ensure_split(root, 3, "videos", "test", 1)
    assert len(json.load(open(ann))["videos"]) == 1  # another count: regenerated
    tuning = heldout.ensure_split(root, 3, "videos", "val", 1)  # the seed's tuning split, YouTube-VIS's 'valid'
    assert tuning["ann_file"] == os.path.join(root, "seed3", "ytvis", "valid.json")
    valid_gt = json.load(open(tuning["ann_file"]))
    assert synthetic.dataset_seed(valid_gt) == 3
    assert valid_gt["videos"][0]["file_names"] != json.load(open(ann))["videos"][0]["file_names"]


def test_image_task_equals_test_py(tmp_path):
    report = heldout.evaluate_seeds(DEMO, seeds=[5], data_root=str(tmp_path), task="images", num_items=4,
                                    progress=False)
    (seed5,) = report["per_seed"]
    assert seed5["num_items"] == 4 and 0.0 <= seed5["metrics"]["segm_mAP"] <= 1.0
    # The same images through tools/test.py's path: the demo config with its test split made a COCO one.
    ann = os.path.join(str(tmp_path), "seed5", "coco", "annotations", "instances_test.json")
    options = RunOptions(config=DEMO_CONFIG, checkpoint=DEMO_CKPT, cfg_options=["data.test.type=CocoDataset"],
                         device="cpu")
    metrics = evaluate.test_from_config(options, ann_file=ann,
                                        img_dir=os.path.join(str(tmp_path), "seed5", "coco", "test"))
    for key in ("segm_mAP", "segm_mAP_50", "bbox_mAP"):
        assert seed5["metrics"][key] == pytest.approx(metrics[key]), key
    # A per-frame segmenter's config defaults to images, a video model's to videos.
    image_config = load_config(os.path.join(REPO, "configs", "shapes", "queryinst_tiny_shapes.py"))
    assert heldout.default_task(image_config) == "images"
    assert heldout.default_task(load_config(DEMO_CONFIG)) == "videos"


def test_bad_arguments_fail_before_any_data_is_written(tmp_path):
    root = str(tmp_path / "never")
    with pytest.raises(ConfigError, match="distinct non-negative"):
        heldout.evaluate_seeds(DEMO, seeds=[1, 1], data_root=root)
    with pytest.raises(ConfigError, match="unknown task"):
        heldout.evaluate_seeds(DEMO, task="frames", data_root=root)
    result = subprocess.run([sys.executable, "tools/test_seeds.py", DEMO_CONFIG, str(tmp_path / "none.pth"),
                             "--data-root", root], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: checkpoint not found: {tmp_path / 'none.pth'}"]
    assert not os.path.exists(root)
    (tmp_path / "file").write_text("")
    result = subprocess.run([sys.executable, "tools/test_seeds.py", DEMO_CONFIG, DEMO_CKPT, "--data-root", root,
                             "--out", str(tmp_path / "file" / "report.json")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: cannot write {tmp_path / 'file' / 'report.json'}: {tmp_path / 'file'} is not a writable folder"]
    assert not os.path.exists(root)  # refused before any data is generated
