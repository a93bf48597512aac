"""pipelines/evaluate.py and tools/test.py with stand-in models: an oracle that predicts the ground truth."""
import json
import os
import runpy

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

import pipelines.evaluate as evaluate
from vis.options import RunOptions
from vis.errors import VisError
from vis.structures import Instances

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZES = {1: (96, 128), 2: (120, 90), 3: (64, 64)}  # image id -> (H, W)
CAT_IDS = [2, 9]


def _rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def make_gt():
    images, annotations = [], []
    boxes = {1: [(5, 5, 40, 30, 2), (60, 40, 50, 40, 9)], 2: [(10, 20, 60, 70, 9)], 3: [(8, 8, 20, 12, 2)]}
    for image_id, (h, w) in SIZES.items():
        images.append({"id": image_id, "file_name": f"{image_id}.png", "height": h, "width": w})
        for x, y, bw, bh, cat in boxes[image_id]:
            mask = np.zeros((h, w), dtype=bool)
            mask[y : y + bh, x : x + bw] = True
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat, "iscrowd": 0,
                                "segmentation": _rle(mask), "area": float(mask.sum()), "bbox": [x, y, bw, bh]})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 2, "name": "two"}, {"id": 9, "name": "nine"}]}


class Oracle(torch.nn.Module):
    """Returns the ground truth of the images it is shown, in dataset order (batch size 1, one process)."""

    def __init__(self, gt):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.coco = COCO()
        self.coco.dataset = gt
        self.coco.createIndex()
        self.queue = [img["id"] for img in gt["images"]]
        self.calls = []

    def predict(self, images, orig_sizes=None):
        self.calls.append((self.training, torch.is_grad_enabled(), [tuple(s) for s in orig_sizes]))
        out = []
        for size in orig_sizes:
            image_id = self.queue.pop(0)
            assert tuple(size) == SIZES[image_id]
            anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id]))
            masks = torch.from_numpy(np.stack([self.coco.annToMask(a).astype(bool) for a in anns]))
            boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                                  for a in anns], dtype=torch.float32)
            labels = torch.tensor([CAT_IDS.index(a["category_id"]) for a in anns])
            out.append(Instances(size, boxes=boxes, scores=torch.ones(len(anns)), labels=labels, masks=masks))
        return out


class ListDataset(torch.utils.data.Dataset):
    """Contract samples straight from the ground truth; images at half size to exercise orig_size."""

    def __init__(self, gt):
        self.gt = gt
        self.cat_ids = CAT_IDS

    def label_to_cat_id(self, label):
        return self.cat_ids[int(label)]

    def __len__(self):
        return len(self.gt["images"])

    def __getitem__(self, idx):
        info = self.gt["images"][idx]
        h, w = info["height"] // 2, info["width"] // 2
        target = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64),
                  "masks": torch.zeros((0, h, w), dtype=torch.bool),
                  "instance_ids": torch.zeros((0,), dtype=torch.int64),
                  "image_id": info["id"], "orig_size": (info["height"], info["width"]), "image_size": (h, w),
                  "file_name": info["file_name"]}
        return {"image": torch.zeros((3, h, w)), "target": target}


def test_run_inference_restores_mode_and_gives_perfect_ap():
    gt = make_gt()
    model = Oracle(gt)
    model.train()
    results = evaluate.run_inference(model, ListDataset(gt), batch_size=2, progress=False)
    assert model.training  # train mode restored
    assert all(not training and not grad for training, grad, _ in model.calls)  # eval mode, no_grad
    assert [c[2] for c in model.calls] == [[SIZES[1], SIZES[2]], [SIZES[3]]]
    assert [r["image_id"] for r in results] == [1, 1, 2, 3]  # dataset order
    assert {r["category_id"] for r in results} == {2, 9}
    metrics = evaluate.evaluate_coco(model.coco, results)
    assert metrics["bbox_mAP"] == pytest.approx(1.0) and metrics["segm_mAP"] == pytest.approx(1.0)


def test_run_inference_restores_eval_mode_after_an_error():
    gt = make_gt()
    model = Oracle(gt)
    model.train()
    model.queue = []  # predict raises IndexError
    with pytest.raises(IndexError):
        evaluate.run_inference(model, ListDataset(gt), progress=False)
    assert model.training


def write_coco_on_disk(root):
    gt = make_gt()
    os.makedirs(root / "img", exist_ok=True)
    for info in gt["images"]:
        image = np.full((info["height"], info["width"], 3), 127, dtype=np.uint8)
        cv2.imwrite(str(root / "img" / info["file_name"]), image)
    (root / "ann.json").write_text(json.dumps(gt))
    return gt


def _val_cfg(root):
    # no test_mode given: the evaluator must default it to True
    return dict(type="CocoDataset", ann_file=str(root / "ann.json"), img_dir=str(root / "img"),
                transforms=[dict(type="Resize", scale=(64, 48), keep_ratio=True)])


def test_make_evaluator_on_a_coco_dataset(tmp_path):
    gt = write_coco_on_disk(tmp_path)
    assert evaluate.make_evaluator({"data": {"train": {}}}) is None
    evaluator = evaluate.make_evaluator({"data": {"val": _val_cfg(tmp_path)}, "evaluation": {"metrics": "segm"}})
    metrics = evaluator(Oracle(gt))
    assert set(metrics) == {f"segm_{n}" for n in ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"]}
    assert metrics["segm_mAP"] == pytest.approx(1.0)
    with pytest.raises(VisError, match="keypoints"):
        evaluate.make_evaluator({"data": {"val": _val_cfg(tmp_path)}, "evaluation": {"metrics": ["keypoints"]}})


@pytest.fixture
def stubbed_model(monkeypatch):
    """vis.models.build_model -> Oracle over the config's annotation file; load_checkpoint -> no-op."""
    import vis.engine.loading as loading
    import vis.models

    def build_model(model_cfg):
        with open(model_cfg["ann_file"]) as f:
            return Oracle(json.load(f))

    def load_checkpoint(model, path, **options):
        return loading.LoadReport(path=path, model_type=type(model).__name__, num_model_keys=0)

    monkeypatch.setattr(vis.models, "build_model", build_model, raising=False)
    monkeypatch.setattr(loading, "load_checkpoint", load_checkpoint)


def _config(root):
    path = root / "cfg.py"
    path.write_text(f"model = dict(type='Oracle', ann_file={str(root / 'ann.json')!r})\n"
                    f"data = dict(workers_per_gpu=0, val={_val_cfg(root)!r})\n")
    (root / "model.pth").write_bytes(b"stub")
    return str(path)


def test_test_from_config_evaluates_and_writes(tmp_path, stubbed_model, capsys):
    write_coco_on_disk(tmp_path)
    out = str(tmp_path / "out" / "results.json")
    options = RunOptions(config=_config(tmp_path), checkpoint=str(tmp_path / "model.pth"), device="cpu")
    metrics = evaluate.test_from_config(options, out=out)
    assert metrics["bbox_mAP"] == pytest.approx(1.0) and metrics["segm_mAP"] == pytest.approx(1.0)
    printed = capsys.readouterr().out
    assert "Average Precision" in printed and "segm" in printed
    assert len(json.load(open(out))) == 4


def test_test_from_config_format_only(tmp_path, stubbed_model):
    write_coco_on_disk(tmp_path)
    config, ckpt = _config(tmp_path), str(tmp_path / "model.pth")
    with pytest.raises(VisError, match="--out"):
        evaluate.test_from_config(RunOptions(config=config, checkpoint=ckpt), format_only=True)
    out = str(tmp_path / "results.json")
    assert evaluate.test_from_config(RunOptions(config=config, checkpoint=ckpt, device="cpu"), format_only=True,
                                     out=out) == {}
    results = json.load(open(out))
    assert [r["image_id"] for r in results] == [1, 1, 2, 3]
    with pytest.raises(VisError, match="checkpoint not found"):
        evaluate.test_from_config(RunOptions(config=config, checkpoint=str(tmp_path / "nope.pth")))


def test_tool_exits_2_with_one_line(tmp_path, capfd):
    main = runpy.run_path(os.path.join(REPO, "tools", "test.py"))["main"]
    assert main([str(tmp_path / "none.py"), "x.pth"]) == 2
    out, err = capfd.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [f"error: config file not found: {tmp_path / 'none.py'}"]


def _split_config(root, with_test=True):
    """val = the oracle's own ground truth (AP 1); test = the same images with one object more (AP < 1)."""
    gt = json.load(open(root / "ann.json"))
    harder = dict(gt, annotations=gt["annotations"] + [dict(gt["annotations"][0], id=99, bbox=[70, 5, 20, 20],
                                                             area=400.0, segmentation=[[70, 5, 90, 5, 90, 25, 70, 25]])])
    (root / "test.json").write_text(json.dumps(harder))
    test_cfg = dict(_val_cfg(root), ann_file=str(root / "test.json"))
    path = root / ("cfg_split.py" if with_test else "cfg_val_only.py")
    data = {"workers_per_gpu": 0, "val": _val_cfg(root)}
    if with_test:
        data["test"] = test_cfg
    path.write_text(f"model = dict(type='Oracle', ann_file={str(root / 'ann.json')!r})\ndata = {data!r}\n")
    (root / "model.pth").write_bytes(b"stub")
    return str(path)


def test_split_chooses_data_test_or_data_val(tmp_path, stubbed_model, capsys):
    write_coco_on_disk(tmp_path)
    config, ckpt = _split_config(tmp_path), str(tmp_path / "model.pth")
    options = RunOptions(config=config, checkpoint=ckpt, device="cpu")
    on_test = evaluate.test_from_config(options)  # default: data.test
    on_val = evaluate.test_from_config(options, split="val")
    assert on_val["segm_mAP"] == pytest.approx(1.0)
    assert on_test["segm_mAP"] < 0.9  # one ground-truth object of test.json has no detection
    # --ann/--images replace the split's files
    replaced = evaluate.test_from_config(options, ann_file=str(tmp_path / "ann.json"), img_dir=str(tmp_path / "img"))
    assert replaced["segm_mAP"] == pytest.approx(1.0)
    with pytest.raises(VisError, match="--ann and --images"):
        evaluate.test_from_config(RunOptions(config=config, checkpoint=ckpt), ann_file=str(tmp_path / "ann.json"))
    with pytest.raises(VisError, match="unknown split 'train'"):
        evaluate.test_from_config(RunOptions(config=config, checkpoint=ckpt), split="train")
    capsys.readouterr()
    # A config without data.test (the real-COCO configs) is evaluated on data.val, and says so.
    val_only = _split_config(tmp_path, with_test=False)
    val_options = RunOptions(config=val_only, checkpoint=ckpt, device="cpu")
    assert evaluate.test_from_config(val_options)["segm_mAP"] == pytest.approx(1.0)
    assert "has no data.test: evaluating its data.val" in capsys.readouterr().err
    with pytest.raises(VisError, match="has no data.test"):
        evaluate.split_dataset_cfg({"data": {"val": None}}, "test", "c.py")
