"""Bad input to the command-line tools: one line `error: ...` on stderr, exit code 2, no traceback."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from assertions import assert_one_line_error
import torch

from vis.data.synthetic import make_coco_split

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "shapes", "queryinst_tiny_shapes.py")


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_shapes")
    make_coco_split(str(root), "train", num_images=3, seed=1, min_size=64, max_size=80, progress=False)
    return os.path.join(str(root), "coco")


def data_options(ann_file, img_dir):
    return [f"data.train.ann_file={ann_file}", f"data.train.img_dir={img_dir}", "data.val=None",
            "data.workers_per_gpu=0"]


def run_tool(tool, *args):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", tool), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    return proc


def test_train_unknown_config_key(coco, tmp_path):
    ann = os.path.join(coco, "annotations", "instances_train.json")
    proc = run_tool("train.py", TINY, "--work-dir", tmp_path / "w", "--cfg-options",
                    *data_options(ann, os.path.join(coco, "train")), "model.num_querys=5")
    assert_one_line_error(proc, "num_querys")


def test_train_missing_config_file(tmp_path):
    assert_one_line_error(run_tool("train.py", tmp_path / "nope.py"), "not found")


def test_train_malformed_annotation_json(coco, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [1, 2,, ]}')
    proc = run_tool("train.py", TINY, "--work-dir", tmp_path / "w", "--cfg-options",
                    *data_options(bad, os.path.join(coco, "train")))
    assert_one_line_error(proc, "malformed", "bad.json")


def test_train_missing_image_file(coco, tmp_path):
    img_dir = tmp_path / "images"
    shutil.copytree(os.path.join(coco, "train"), img_dir)
    victim = sorted(os.listdir(img_dir))[0]
    os.remove(img_dir / victim)
    proc = run_tool("train.py", TINY, "--work-dir", tmp_path / "w", "--cfg-options",
                    *data_options(os.path.join(coco, "annotations", "instances_train.json"), img_dir))
    assert_one_line_error(proc, victim)


def test_train_empty_dataset(coco, tmp_path):
    with open(os.path.join(coco, "annotations", "instances_train.json")) as f:
        data = json.load(f)
    data["annotations"] = []
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(data))
    proc = run_tool("train.py", TINY, "--work-dir", tmp_path / "w", "--cfg-options",
                    *data_options(empty, os.path.join(coco, "train")))
    assert_one_line_error(proc, "empty.json")


def test_train_unwritable_work_dir(coco, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_tool("train.py", TINY, "--work-dir", blocker / "work", "--cfg-options",
                    *data_options(os.path.join(coco, "annotations", "instances_train.json"), os.path.join(coco, "train")),
                    "schedule.max_iters=1")
    assert_one_line_error(proc, "a_file")


def test_test_checkpoint_of_another_architecture(coco, tmp_path):
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)}, other)
    ann = os.path.join(coco, "annotations", "instances_train.json")
    proc = run_tool("test.py", TINY, other, "--cfg-options", f"data.val.ann_file={ann}",
                    f"data.val.img_dir={os.path.join(coco, 'train')}")
    assert_one_line_error(proc, "does not fit")


def test_test_missing_and_corrupt_checkpoint(coco, tmp_path):
    ann = os.path.join(coco, "annotations", "instances_train.json")
    opts = ["--cfg-options", f"data.val.ann_file={ann}", f"data.val.img_dir={os.path.join(coco, 'train')}"]
    assert_one_line_error(run_tool("test.py", TINY, tmp_path / "missing.pth", *opts), "missing.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x02garbage" * 10)
    assert_one_line_error(run_tool("test.py", TINY, corrupt, *opts), "corrupt.pth")


def test_model_info_unknown_key():
    assert_one_line_error(run_tool("model_info.py", TINY, "--cfg-options", "model.backbone.detph=18"), "detph")


def test_train_missing_imagenet_weights_file(coco, tmp_path):
    proc = run_tool("train.py", TINY, "--work-dir", tmp_path / "w", "--cfg-options",
                    *data_options(os.path.join(coco, "annotations", "instances_train.json"), os.path.join(coco, "train")),
                    f"model.backbone.pretrained={tmp_path / 'resnet18-missing.pth'}")
    assert_one_line_error(proc, "resnet18-missing.pth")
