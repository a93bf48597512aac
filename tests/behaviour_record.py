"""What today's models, trackers and training loop output on fixed inputs and weights: the record the
refactoring of issue 16 must keep.

`record(work_dir)` builds each segmenter from its tiny shapes config with seeded weights and returns, for fixed
synthetic images: the weighted losses and per-parameter gradient norms of one training forward/backward, the
predictions in image mode (and, for the video configs, the track-head embeddings); the demo model's tracks on the
first frames of ``models/demo/demo.mp4`` with both trackers, its COCO and YouTube-VIS metrics on generated
splits, and the losses of the first training iterations of the real trainer. ``tests/test_behaviour_unchanged.py``
compares a fresh record with the ones saved before the refactoring (``tests/data/behaviour_record_*.pt``, one per
CPU kind; each names its machine, `machine_kind.machine`):

    python tests/behaviour_record.py --out tests/data/behaviour_record_KIND.pt   # only when a change is deliberate
"""
import argparse
import json
import math
import os
import re
import sys
import zlib
from typing import Any, Dict, List

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from machine_kind import machine  # noqa: E402
from vis.config import load_config  # noqa: E402
from vis.data import synthetic  # noqa: E402
from vis.models import build_model  # noqa: E402
from vis.models.pca_codec import save_codec  # noqa: E402

# The demo weights with the config they were recorded with (its track head settings; the bundled config now
# defaults to QueryTracker, models/demo/README.md): the record stays what it measured.
DEMO_CONFIG = os.path.join(REPO, "configs", "shapes", "queryinst_vis_tiny_shapes.py")
DEMO_CKPT = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.pth")
DEMO_CLIP = os.path.join(REPO, "models", "demo", "demo.mp4")
SHAPES = os.path.join(REPO, "configs", "shapes")
IMAGE_CONFIGS = ("queryinst_tiny_shapes", "istr_tiny_shapes", "solq_tiny_shapes")
VIDEO_CONFIGS = ("queryinst_vis_tiny_shapes", "istr_vis_tiny_shapes", "solq_vis_tiny_shapes")
TRAIN_CONFIGS = IMAGE_CONFIGS + ("queryinst_vis_tiny_shapes",)
TRAIN_ITERS = 3
TRACK_FRAMES = 40


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
def shapes_sample(seed: int, index: int):
    """One generated shapes image as a model input ([3, h, w] float 0..255) and its training target."""
    image, objects = synthetic.render_coco_image(seed, "record", index, min_size=96, max_size=128)
    masks = torch.from_numpy(np.stack([mask for _, mask in objects])) if objects else torch.zeros(0, *image.shape[:2])
    boxes = []
    for mask in masks.numpy():
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([synthetic.CATEGORY_IDS.index(c) for c, _ in objects], dtype=torch.int64),
        "masks": masks.bool(),
        "instance_ids": torch.arange(len(objects), dtype=torch.int64),
    }
    return torch.from_numpy(image).permute(2, 0, 1).float().contiguous(), target


def seeded_codec(dim: int, mask_size: int) -> Dict[str, torch.Tensor]:
    """A valid PCA codec (orthonormal components) from a fixed seed: ISTR's record must not depend on fitting."""
    generator = torch.Generator().manual_seed(7)
    components = torch.linalg.qr(torch.randn(mask_size * mask_size, dim, generator=generator))[0].T.contiguous()
    return {"components": components, "explained_variances": torch.linspace(2.0, 0.1, dim),
            "means": torch.rand(mask_size * mask_size, generator=generator)}


def seeded_model(name: str) -> torch.nn.Module:
    cfg = load_config(os.path.join(SHAPES, name + ".py"))
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model)
    segmenter_cfg = model_cfg.get("segmenter", model_cfg)
    segmenter_cfg["backbone"] = dict(segmenter_cfg["backbone"], pretrained=None)
    if "mask_codec" in segmenter_cfg:
        segmenter_cfg["mask_codec"] = None
    torch.manual_seed(0)
    model = build_model(model_cfg)
    segmenter = getattr(model, "segmenter", model)
    if hasattr(segmenter, "mask_encoding"):
        codec = segmenter.mask_encoding
        codec.set_codec(seeded_codec(codec.dim, codec.mask_size), source="record")
    return model


# ------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------
def instances_record(instances) -> Dict[str, Any]:
    record = {"image_size": tuple(instances.image_size)}
    for key in ("boxes", "scores", "labels", "embeds", "query_index", "track_embeds"):
        if instances.has(key):
            record[key] = instances.get(key).detach().cpu().clone()
    masks = instances.masks.cpu().numpy().astype(bool)
    record["masks"] = {"shape": tuple(masks.shape), "packed": zlib.compress(np.packbits(masks).tobytes(), 9)}
    return record


def unpack_masks(packed: Dict[str, Any]) -> np.ndarray:
    """`instances_record`'s masks -> bool [n, h, w]."""
    shape = packed["shape"]
    bits = np.unpackbits(np.frombuffer(zlib.decompress(packed["packed"]), dtype=np.uint8))
    return bits[: int(np.prod(shape))].reshape(shape).astype(bool)


def model_record(name: str) -> Dict[str, Any]:
    """Losses, gradient norms and predictions of one seeded model on fixed images."""
    model = seeded_model(name)
    samples = [shapes_sample(11, i) for i in range(2)]
    images, targets = [s[0] for s in samples], [s[1] for s in samples]
    is_video = hasattr(model, "track_head")
    model.train()
    torch.manual_seed(1)
    if is_video:
        # Reference frames: the same objects 3 pixels to the right, with the same instance ids.
        ref_images = [image.roll(3, dims=2) for image in images]
        ref_targets = [dict(t, boxes=t["boxes"] + torch.tensor([3.0, 0.0, 3.0, 0.0]), masks=t["masks"].roll(3, dims=2))
                       for t in targets]
        losses = model(images, targets, ref_images, ref_targets)
    else:
        losses = model(images, targets)
    sum(losses.values()).backward()
    grad_norms = {n: p.grad.norm().item() for n, p in model.named_parameters() if p.grad is not None}
    model.eval()
    with torch.no_grad():
        orig_sizes = [(im.shape[1] * 2, im.shape[2] * 3 // 2) for im in images]  # rescaled outputs
        predictions = model.predict(images, orig_sizes)
    return {"losses": {k: v.item() for k, v in losses.items()}, "grad_norms": grad_norms,
            "predictions": [instances_record(p) for p in predictions]}


def tracks_record(work_dir: str) -> Dict[str, Any]:
    """The demo model's tracks on the first frames of the demo clip through run_video, with both trackers."""
    from pipelines.video import run_video
    from vis.io.video import FrameSpan
    from vis.options import RunOptions

    record = {}
    for tracker in ("OnlineTracker", "QueryTracker"):
        out = os.path.join(work_dir, "tracks_" + tracker)
        options = RunOptions(config=DEMO_CONFIG, checkpoint=DEMO_CKPT, device="cpu", tracker=tracker, threads=1)
        run_video(DEMO_CLIP, options, out_dir=out, span=FrameSpan(end=TRACK_FRAMES), outputs=("frames", "ytvis", "mot"),
                  progress=False)
        with open(os.path.join(out, "demo.frames.jsonl")) as f:
            frames = [json.loads(line) for line in f]
        with open(os.path.join(out, "demo.ytvis.json")) as f:
            ytvis = json.load(f)
        with open(os.path.join(out, "demo.mot.txt")) as f:
            mot = f.read()
        record[tracker] = {"frames": frames, "ytvis": ytvis, "mot": mot}
    return record


def metrics_record(work_dir: str) -> Dict[str, Any]:
    """The demo model's YouTube-VIS and COCO metrics on generated test splits (pipelines.heldout)."""
    from pipelines import heldout
    from vis.options import RunOptions

    root = os.path.join(work_dir, "heldout")
    demo = RunOptions(config=DEMO_CONFIG, checkpoint=DEMO_CKPT, device="cpu")
    videos = heldout.evaluate_seeds(demo, seeds=[4], data_root=root, num_items=2, progress=False)
    images = heldout.evaluate_seeds(demo, seeds=[5], data_root=root, task="images", num_items=4, progress=False)
    return {"videos": videos["per_seed"][0]["metrics"], "images": images["per_seed"][0]["metrics"]}


def training_record(work_dir: str) -> Dict[str, List[Dict[str, float]]]:
    """Losses of the first iterations of tools/train.py's trainer (seeded data order, augmentation and weights)."""
    from pipelines.train import train_from_config

    data_root = os.path.join(work_dir, "shapes")
    synthetic.make_coco_split(data_root, "train", num_images=8, seed=3, min_size=96, max_size=128, progress=False)
    synthetic.make_ytvis_split(data_root, "train", num_videos=2, seed=3, num_frames=(4, 6), height=96, width=128,
                               progress=False)
    codec_file = os.path.join(work_dir, "codec.pth")
    save_codec(codec_file, seeded_codec(60, 28))
    coco, ytvis = os.path.join(data_root, "coco"), os.path.join(data_root, "ytvis")
    record = {}
    for name in TRAIN_CONFIGS:
        options = {
            "data.workers_per_gpu": 0, "data.samples_per_gpu": 2, "data.val": None,
            "runtime.log_interval": 1, "runtime.eval_interval": 0, "runtime.checkpoint_interval": 0,
            "runtime.progress_bar": False, "runtime.tensorboard": False,
            "schedule.max_iters": TRAIN_ITERS, "schedule.warmup_iters": 2,
        }
        if name.endswith("_vis_tiny_shapes"):
            options.update({"data.train.ann_file": os.path.join(ytvis, "train.json"),
                            "data.train.img_dir": os.path.join(ytvis, "train", "JPEGImages"),
                            "model.segmenter.backbone.pretrained": None})
        else:
            options.update({"data.train.ann_file": os.path.join(coco, "annotations", "instances_train.json"),
                            "data.train.img_dir": os.path.join(coco, "train"),
                            "model.backbone.pretrained": None})
        if name.startswith("istr"):
            options["model.mask_codec"] = codec_file
        work = os.path.join(work_dir, "train_" + name)
        train_from_config(os.path.join(SHAPES, name + ".py"), work_dir=work, cfg_options=options)
        with open(os.path.join(work, "metrics.jsonl")) as f:
            events = [json.loads(line) for line in f]
        record[name] = [{k: v for k, v in e.items() if "loss" in k or k in ("iter", "grad_norm", "lr")}
                        for e in events if e.get("event") == "train"]
    return record


def record(work_dir: str) -> Dict[str, Any]:
    torch.set_num_threads(1)  # one thread: the same reduction order wherever the record is made
    result = {"machine": machine(), "models": {}}
    for name in IMAGE_CONFIGS + VIDEO_CONFIGS:
        result["models"][name] = model_record(name)
    result["tracks"] = tracks_record(work_dir)
    result["metrics"] = metrics_record(work_dir)
    result["training"] = training_record(work_dir)
    return result


def field_kind(where: str) -> str:
    """A record path without its config, item and parameter names: the kind of number it is, e.g.
    ``models.losses.s2``, ``training[>0].loss``, ``tracks.box``."""
    kind = re.sub(r"^(models|training)\.\w+", r"\1", where)
    kind = re.sub(r"\.grad_norms\..*", ".grad_norms", kind)
    step = re.match(r"^training\[(\d+)\]", kind)
    kind = re.sub(r"\[\d+\]", "", kind)
    if step:
        kind = kind.replace("training", "training[0]" if step.group(1) == "0" else "training[>0]", 1)
    return re.sub(r"\.(loss_\w+|OnlineTracker|QueryTracker|frames|instances|videos|images)", "", kind)


def spread(first: Any, second: Any, where: str = "", out: Dict[str, float] = None) -> Dict[str, float]:
    """The largest difference between two records per `field_kind`: relative for numbers (losses, gradient norms,
    metrics, scores of tracks), absolute for tensors (boxes in pixels, scores, embeddings), the fraction of a
    mask's pixels for masks. Where the records disagree on
    anything else (a shape, an integer, a count) the kind is reported as ``inf``."""
    out = {} if out is None else out
    kind = field_kind(where)

    def note(value: float) -> None:
        out[kind] = max(out.get(kind, 0.0), value)

    if where.endswith(".masks"):
        a, b = unpack_masks(first), unpack_masks(second)
        note(float((a != b).reshape(len(a), -1).mean(1).max()) if a.shape == b.shape and len(a) else
             0.0 if a.shape == b.shape else math.inf)
    elif isinstance(first, dict) and isinstance(second, dict) and first.keys() == second.keys():
        for key in first:
            spread(first[key], second[key], f"{where}.{key}".lstrip("."), out)
    elif isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)) and len(first) == len(second):
        for i, (a, b) in enumerate(zip(first, second)):
            spread(a, b, f"{where}[{i}]", out)
    elif isinstance(first, torch.Tensor) and first.is_floating_point() and first.shape == second.shape:
        note(float((first - second).abs().max()) if first.numel() else 0.0)
    elif isinstance(first, float) and isinstance(second, float):
        note(abs(first - second) if ".box[" in where else abs(first - second) / max(abs(first), 1e-6))
    elif isinstance(first, str) and where.endswith(".mot"):
        rows = [[float(v) for v in line.split(",")] for line in first.splitlines()]
        other = [[float(v) for v in line.split(",")] for line in second.splitlines()]
        same_ids = len(rows) == len(other) and all(r[:2] == o[:2] for r, o in zip(rows, other))
        note(max((abs(a - b) for r, o in zip(rows, other) for a, b in zip(r, o)), default=0.0) if same_ids else
             math.inf)
    elif not (isinstance(first, torch.Tensor) and torch.equal(first, second)) and not (
            not isinstance(first, torch.Tensor) and first == second):
        note(math.inf)
    return out


def main(argv=None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the record (a torch file)")
    parser.add_argument("--spread", nargs="+", metavar="RECORD",
                        help="print the largest difference per kind of number over every pair of these records "
                             "(the measurement behind tests/test_behaviour_unchanged.py's tolerances)")
    args = parser.parse_args(argv)
    if args.spread:
        records = [torch.load(path, weights_only=False) for path in args.spread]
        largest: Dict[str, float] = {}
        for i, first in enumerate(records):
            for second in records[i + 1:]:
                pair = spread({k: v for k, v in first.items() if k != "machine"},
                              {k: v for k, v in second.items() if k != "machine"})
                for kind, value in pair.items():
                    largest[kind] = max(largest.get(kind, 0.0), value)
        for kind in sorted(largest):
            print(f"{kind:48s} {largest[kind]:.3g}")
        return 0
    if not args.out:
        parser.error("--out or --spread is required")
    with tempfile.TemporaryDirectory() as work_dir:
        result = record(work_dir)
    torch.save(result, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
