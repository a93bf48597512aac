"""End-to-end training of the tiny QueryInst on generated shapes, through the real tools and data paths.

The full learning run (mask AP >= 0.5) is in docs/learning_runs.md; here CI checks, in a few minutes,
that the loss falls far below its start and that stopping + `--resume` continues the run exactly.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from vis.data.synthetic import make_coco_split

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs", "shapes", "queryinst_tiny_shapes.py")
TRAIN_TOOL = os.path.join(REPO, "tools", "train.py")


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    make_coco_split(str(root), "train", num_images=8, seed=3, min_size=96, max_size=128, progress=False)
    return root


def options(root, **extra):
    coco = os.path.join(str(root), "coco")
    opts = {
        "data.train.ann_file": os.path.join(coco, "annotations", "instances_train.json"),
        "data.train.img_dir": os.path.join(coco, "train"),
        "data.workers_per_gpu": 0,
        "data.samples_per_gpu": 4,
        "data.val": None,
        "runtime.log_interval": 5,
        "runtime.eval_interval": 0,
        "runtime.progress_bar": False,
        "runtime.tensorboard": False,
    }
    opts.update(extra)
    return opts


def as_cli(opts):
    return [f"{k}={v}".replace(" ", "") for k, v in opts.items()]


def run_train(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, TRAIN_TOOL, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def read_losses(work_dir):
    with open(os.path.join(work_dir, "metrics.jsonl")) as f:
        events = [json.loads(line) for line in f]
    return [e["loss"] for e in events if e.get("event") == "train"]


def test_loss_falls_far_below_its_start(shapes_root, tmp_path):
    from pipelines.train import train_from_config

    work = str(tmp_path / "learn")
    opts = options(shapes_root, **{"schedule.max_iters": 100, "schedule.milestones": [], "schedule.warmup_iters": 10,
                                   "optimizer.lr": 5e-4, "runtime.checkpoint_interval": 100})
    train_from_config(CONFIG, work_dir=work, cfg_options=opts)
    losses = read_losses(work)
    assert len(losses) == 20
    first, last = losses[0], sum(losses[-3:]) / 3
    assert last < 0.45 * first, f"loss went from {first:.2f} to {last:.2f}"
    checkpoint = torch.load(os.path.join(work, "iter_100.pth"), map_location="cpu", weights_only=True)
    assert checkpoint["iteration"] == 100
    assert checkpoint["meta"]["class_names"] == ["circle", "square", "triangle", "star", "hexagon", "cross"]


def test_stop_and_resume_gives_identical_weights(shapes_root, tmp_path):
    """6 iterations straight == 3 iterations, process exits, `tools/train.py --resume` runs 3 more."""
    n = 6
    common = options(shapes_root, **{"schedule.warmup_iters": 2, "schedule.milestones": [4],
                                     "runtime.checkpoint_interval": n // 2})
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    run_train([CONFIG, "--work-dir", straight, "--cfg-options", *as_cli({**common, "schedule.max_iters": n})], REPO)
    run_train([CONFIG, "--work-dir", split, "--cfg-options", *as_cli({**common, "schedule.max_iters": n // 2})], REPO)
    assert not os.path.exists(os.path.join(split, f"iter_{n}.pth"))
    run_train([CONFIG, "--work-dir", split, "--resume", "--cfg-options", *as_cli({**common, "schedule.max_iters": n})],
              REPO)

    a = torch.load(os.path.join(straight, f"iter_{n}.pth"), map_location="cpu", weights_only=True)
    b = torch.load(os.path.join(split, f"iter_{n}.pth"), map_location="cpu", weights_only=True)
    assert a["iteration"] == b["iteration"] == n
    assert a["model"].keys() == b["model"].keys()
    different = [k for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    # The weights did change during the second half, so the comparison is not vacuous.
    half = torch.load(os.path.join(split, f"iter_{n // 2}.pth"), map_location="cpu", weights_only=True)
    assert not torch.equal(half["model"]["roi_head.bbox_head.0.fc_cls.weight"], b["model"]["roi_head.bbox_head.0.fc_cls.weight"])
