"""Training engine: sampler, optimizer / LR schedule, checkpoints, trainer, exact resume, DDP, tools/train.py.

Uses a tiny stand-in segmenter and dataset (defined here) so the engine is tested without the real
models: the model has a ``backbone.`` submodule, BatchNorm, dropout (model randomness) and a
classifier; the dataset draws its augmentation from a per-(seed, epoch, index) generator, as the
contract asks of real datasets.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from vis.errors import CheckpointError, VisError  # noqa: E402
from vis.structures import ImageBatch  # noqa: E402
from vis.data.samplers import InferenceSampler, TrainBatchSampler, TrainSampler  # noqa: E402
from vis.engine import checkpoint as ckpt  # noqa: E402
from vis.engine import loading  # noqa: E402
from vis.engine.optim import build_optimizer, build_scheduler, resolve_schedule  # noqa: E402
from vis.engine.builder import build_trainer  # noqa: E402
from vis.engine.trainer import NonFiniteLossError  # noqa: E402

torch.set_num_threads(1)



# --------------------------------------------------------------------------------------------------
# stand-ins
# --------------------------------------------------------------------------------------------------
class TinySegmenter(nn.Module):
    """Classifies the dominant colour of an image and regresses its box (FrameSegmenter-like API)."""

    def __init__(self, num_classes: int = 3, hidden: int = 8, nan_at_forward: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.class_names = [f"class{i}" for i in range(num_classes)]
        self.backbone = nn.Sequential(nn.Conv2d(3, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU())
        self.neck = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.2)
        self.cls_head = nn.Linear(hidden, num_classes)
        self.box_head = nn.Linear(hidden, 4)
        self.nan_at_forward = nan_at_forward
        self.forwards = 0

    def classifier_param_names(self):
        return ["cls_head.weight", "cls_head.bias"]

    def forward(self, images: ImageBatch, targets):
        self.forwards += 1
        valid = images.valid_mask()[:, None].float()
        feat = self.backbone(images.tensor / 255.0)
        pooled = (feat * valid).sum((2, 3)) / valid.sum((2, 3))
        h = self.dropout(torch.relu(self.neck(pooled)))
        labels = torch.stack([t["labels"][0] for t in targets])
        boxes = torch.stack([t["boxes"][0] for t in targets]) / 32.0
        loss_cls = F.cross_entropy(self.cls_head(h), labels)
        if self.nan_at_forward is not None and self.forwards >= self.nan_at_forward:
            loss_cls = loss_cls * float("nan")
        return {"s0.loss_cls": loss_cls, "s0.loss_bbox": 0.5 * F.l1_loss(self.box_head(h), boxes)}


class OtherNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.decoder = nn.Linear(4, 2)


class TinyDataset(torch.utils.data.Dataset):
    """Deterministic per (seed, epoch, index), with random size and flip augmentation."""

    def __init__(self, n: int = 10, num_classes: int = 3, seed: int = 0):
        self.n, self.num_classes, self.seed, self.epoch = n, num_classes, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 10_007 + index)
        label = index % self.num_classes
        h, w = 12 + int(torch.randint(0, 6, (1,), generator=g)), 12 + int(torch.randint(0, 6, (1,), generator=g))
        image = torch.full((3, h, w), 40.0) + 20.0 * torch.rand(3, h, w, generator=g)
        image[label] += 150.0
        box = torch.tensor([[2.0, 2.0, w - 3.0, h - 2.0]])
        if torch.rand(1, generator=g).item() < 0.5:  # horizontal flip
            image = image.flip(-1)
            box = torch.tensor([[w - box[0, 2], box[0, 1], w - box[0, 0], box[0, 3]]])
        target = {"boxes": box, "labels": torch.tensor([label]), "image_id": index, "image_size": (h, w),
                  "epoch": self.epoch}
        return {"image": image, "target": target}


def tiny_collate(batch):
    images = ImageBatch.from_tensors([s["image"] for s in batch], size_divisibility=8)
    return {"images": images, "targets": [s["target"] for s in batch]}


def make_cfg(max_iters=12, workers=0, lr=1e-2, **runtime):
    run = dict(seed=0, log_interval=4, checkpoint_interval=6, eval_interval=0, max_keep_ckpts=0,
               progress_bar=False, tensorboard=False)
    run.update(runtime)
    return dict(
        data=dict(samples_per_gpu=2, workers_per_gpu=workers),
        optimizer=dict(type="AdamW", lr=lr, weight_decay=1e-4, backbone_lr_mult=0.1, clip_grad_norm=1.0),
        schedule=dict(max_iters=max_iters, warmup_iters=3, warmup_factor=0.1, milestones=[9], gamma=0.1),
        runtime=run,
    )


def make_trainer(cfg, work_dir, model=None, dataset=None, **kwargs):
    return build_trainer(cfg, str(work_dir), model=model or TinySegmenter(), train_dataset=dataset or TinyDataset(),
                         collate_fn=tiny_collate, **kwargs)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


# --------------------------------------------------------------------------------------------------
# samplers
# --------------------------------------------------------------------------------------------------
def test_train_sampler_shards_pads_and_reshuffles():
    samplers = [TrainSampler(7, seed=3, rank=r, world_size=2, batch_size=2) for r in range(2)]
    assert samplers[0].iters_per_epoch == 2  # ceil(7 / (2 * 2))
    epoch0 = [s.epoch_indices(0) for s in samplers]
    assert all(len(e) == 4 for e in epoch0)
    assert set(epoch0[0]) | set(epoch0[1]) == set(range(7))  # every sample, one padded repeat
    assert samplers[0].epoch_indices(0) != samplers[0].epoch_indices(1)  # reshuffled per epoch
    assert samplers[0].epoch_indices(5) == TrainSampler(7, seed=3, rank=0, world_size=2, batch_size=2).epoch_indices(5)
    # tiny dataset: padding cycles the permutation
    assert len(TrainSampler(1, rank=1, world_size=2, batch_size=3).epoch_indices(0)) == 3


def test_train_sampler_start_iter_is_exact():
    sampler = TrainSampler(10, seed=1, rank=0, world_size=1, batch_size=3)  # 4 iterations per epoch
    stream = sampler.batches(0)
    full = [next(stream) for _ in range(11)]
    resumed = sampler.batches(6)
    assert [next(resumed) for _ in range(5)] == full[6:]
    assert sampler.epoch_of(3) == 0 and sampler.epoch_of(4) == 1
    batches = list(TrainBatchSampler(sampler, start_iter=6, max_iters=9))
    assert len(batches) == 3 == len(TrainBatchSampler(sampler, 6, 9))
    assert batches[0] == [(1, i) for i in full[6]] and batches[2][0][0] == 2


def test_inference_sampler_contiguous_shards():
    shards = [list(InferenceSampler(10, rank=r, world_size=3)) for r in range(3)]
    assert shards == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert list(InferenceSampler(2, rank=2, world_size=3)) == []


# --------------------------------------------------------------------------------------------------
# optimizer and schedule
# --------------------------------------------------------------------------------------------------
def test_optimizer_groups_backbone_mult_frozen_and_substring_mults():
    model = TinySegmenter()
    model.backbone[1].weight.requires_grad_(False)  # frozen: left out
    opt = build_optimizer(model, dict(type="AdamW", lr=1e-4, weight_decay=1e-4, backbone_lr_mult=0.1,
                                      lr_mults={"box_head": 0.5, "bias": 2.0}))
    lr_of = {}
    for group in opt.param_groups:
        for p in group["params"]:
            lr_of[id(p)] = group["lr"]
    named = dict(model.named_parameters())
    assert id(named["backbone.1.weight"]) not in lr_of
    assert lr_of[id(named["backbone.0.weight"])] == pytest.approx(1e-5)
    assert lr_of[id(named["backbone.0.bias"])] == pytest.approx(2e-5)  # 0.1 x 2.0
    assert lr_of[id(named["neck.weight"])] == pytest.approx(1e-4)
    assert lr_of[id(named["box_head.weight"])] == pytest.approx(5e-5)
    assert lr_of[id(named["box_head.bias"])] == pytest.approx(1e-4)  # 0.5 x 2.0
    assert all(g["weight_decay"] == 1e-4 and g["betas"] == (0.9, 0.999) for g in opt.param_groups)
    with pytest.raises(VisError, match="unknown config key 'lr_mult'"):
        build_optimizer(model, dict(type="AdamW", lr=1e-4, lr_mult=0.1))


def test_backbone_mult_reaches_the_backbone_inside_a_video_model():
    from vis.engine.optim import param_lr_mult

    assert param_lr_mult("segmenter.backbone.0.body.conv1.weight", 0.1, {}) == pytest.approx(0.1)
    assert param_lr_mult("backbone.layer1.0.conv1.weight", 0.1, {}) == pytest.approx(0.1)
    assert param_lr_mult("segmenter.neck.fpn.weight", 0.1, {}) == 1.0
    assert param_lr_mult("track_head.fcs.0.weight", 0.1, {}) == 1.0


def test_warmup_step_schedule_values_and_state():
    model = TinySegmenter()
    opt = build_optimizer(model, dict(type="AdamW", lr=1.0, backbone_lr_mult=0.1))
    sched = build_scheduler(opt, dict(max_iters=100, warmup_iters=10, warmup_factor=0.001,
                                      milestones=[60, 80], gamma=0.1), iters_per_epoch=7)
    lrs = {}
    for it in range(100):
        lrs[it] = max(g["lr"] for g in opt.param_groups)
        if it == 5:
            backbone_lr = min(g["lr"] for g in opt.param_groups)
        sched.step()
    assert lrs[0] == pytest.approx(0.001)
    assert lrs[5] == pytest.approx(0.001 + 0.999 * 0.5)
    assert backbone_lr == pytest.approx(0.1 * lrs[5])
    assert lrs[10] == pytest.approx(1.0) and lrs[59] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.1) and lrs[79] == pytest.approx(0.1)
    assert lrs[80] == pytest.approx(0.01) and lrs[99] == pytest.approx(0.01)
    # resume: a fresh schedule restored from the state continues at the same lr
    opt2 = build_optimizer(model, dict(type="AdamW", lr=1.0))
    sched2 = build_scheduler(opt2, dict(max_iters=100, warmup_iters=10, milestones=[60, 80]), 7)
    sched2.load_state_dict({"iteration": 65})
    assert max(g["lr"] for g in opt2.param_groups) == pytest.approx(0.1)
    # epochs -> iterations
    resolved = resolve_schedule(dict(max_epochs=12, milestones=[8, 11], warmup_iters=500), iters_per_epoch=100)
    assert resolved["max_iters"] == 1200 and resolved["milestones"] == [800, 1100]
    with pytest.raises(VisError, match="exactly one"):
        resolve_schedule(dict(max_epochs=12, max_iters=10), 100)


# --------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------
def test_checkpoints_atomic_pointer_and_pruning(tmp_path):
    trainer = make_trainer(make_cfg(max_iters=12, checkpoint_interval=3, max_keep_ckpts=2), tmp_path)
    result = trainer.train()
    names = sorted(os.listdir(tmp_path))
    assert [n for n in names if n.endswith(".pth")] == ["iter_12.pth", "iter_9.pth"]
    assert not [n for n in names if ".tmp" in n or n.startswith(".write_test")]
    assert result["checkpoint"] == str(tmp_path / "iter_12.pth")
    assert (tmp_path / "last_checkpoint").read_text().strip() == "iter_12.pth"
    assert ckpt.find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "iter_12.pth")
    data = torch.load(tmp_path / "iter_12.pth", weights_only=True)  # loads without full unpickling
    assert data["format"] == "vis-checkpoint" and data["iteration"] == 12 and data["epoch"] == 2
    assert data["meta"]["num_classes"] == 3 and data["meta"]["class_names"][0] == "class0"
    assert data["meta"]["model_type"] == "TinySegmenter"
    assert data["config"]["schedule"]["max_iters"] == 12 and len(data["rng"]) == 1
    assert any(n.endswith(".log") for n in names) and "metrics.jsonl" in names


def _save_state(path, state):
    torch.save(state, path)
    return str(path)


def test_load_report_missing_unexpected_and_classifier_reinit(tmp_path):
    source = TinySegmenter(num_classes=5)
    state = source.state_dict()
    del state["box_head.bias"]  # missing
    state["extra_head.weight"] = torch.zeros(2)  # unexpected
    path = _save_state(tmp_path / "foreign.pth", {"state_dict": {f"module.{k}": v for k, v in state.items()}})
    model = TinySegmenter(num_classes=3)
    fresh_cls = model.cls_head.weight.detach().clone()
    messages = []
    logger = logging.getLogger("test_engine.load")
    logger.setLevel(logging.INFO)
    logger.addHandler(_ListHandler(messages))
    report = loading.load_checkpoint(model, path, logger=logger)
    assert report.missing == ["box_head.bias"] and report.unexpected == ["extra_head.weight"]
    assert {m[0] for m in report.mismatched} == {"cls_head.weight", "cls_head.bias"}
    assert report.classifier_reinitialised
    assert torch.equal(model.cls_head.weight, fresh_cls)  # classifier kept its fresh init
    assert torch.equal(model.neck.weight, source.neck.weight)  # the rest is loaded
    assert len(messages) == 1  # one summary line
    assert "1 missing (box_head.bias)" in messages[0] and "1 unexpected (extra_head.weight)" in messages[0]
    assert "classifier re-initialised: checkpoint has 5 classes, model has 3" in messages[0]
    with pytest.raises(CheckpointError, match="strict"):
        loading.load_checkpoint(TinySegmenter(num_classes=3), path, strict=True, logger=logger)


class _ListHandler(logging.Handler):
    def __init__(self, sink):
        super().__init__()
        self.sink = sink

    def emit(self, record):
        self.sink.append(record.getMessage())


def test_load_checkpoint_rejects_what_does_not_fit(tmp_path):
    other = _save_state(tmp_path / "other.pth", {"model": OtherNet().state_dict()})  # detectron2/DETR layout
    with pytest.raises(CheckpointError) as info:
        loading.load_checkpoint(TinySegmenter(), other)
    message = str(info.value)
    assert "does not fit model TinySegmenter" in message and "13 of 13 keys missing" in message
    assert "another architecture" in message and "\n" not in message

    wide = TinySegmenter(hidden=16).state_dict()  # shapes differ outside the classifier
    with pytest.raises(CheckpointError, match="differ in shape outside the classifier"):
        loading.load_checkpoint(TinySegmenter(), _save_state(tmp_path / "wide.pth", wide))

    corrupt = tmp_path / "corrupt.pth"
    good = tmp_path / "good.pth"
    torch.save(TinySegmenter().state_dict(), good)
    corrupt.write_bytes(good.read_bytes()[:200])  # truncated download
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*corrupt"):
        loading.load_checkpoint(TinySegmenter(), str(corrupt))
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        loading.load_checkpoint(TinySegmenter(), str(tmp_path / "garbage.pth"))
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        loading.load_checkpoint(TinySegmenter(), str(tmp_path / "missing.pth"))
    bare = loading.load_checkpoint(TinySegmenter(), str(good))  # bare state dict
    assert not bare.missing and not bare.unexpected and not bare.mismatched


# --------------------------------------------------------------------------------------------------
# trainer
# --------------------------------------------------------------------------------------------------
def test_training_reduces_loss_and_writes_logs(tmp_path):
    cfg = make_cfg(max_iters=40, lr=2e-2, log_interval=5, checkpoint_interval=0, tensorboard=True)
    cfg["schedule"]["milestones"] = [35]
    make_trainer(cfg, tmp_path).train()
    records = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["event"] == "train"]
    assert [r["iter"] for r in records] == list(range(5, 41, 5))
    assert records[-1]["loss"] < 0.6 * records[0]["loss"]
    assert {"s0.loss_cls", "s0.loss_bbox", "lr", "grad_norm", "time"} <= set(records[0])
    assert os.listdir(tmp_path / "tf_logs")
    assert os.path.isfile(tmp_path / "iter_40.pth")  # the final iteration is always saved


def _counting_evaluator(calls):
    def evaluate(model):
        assert not model.training
        calls.append(torch.rand(1).item())  # consumes RNG: the trainer must shield the loop from it
        return {"acc": float(len(calls))}

    return evaluate


def test_resume_is_bit_identical(tmp_path):
    """12 iterations straight == 6 iterations, stop, new Trainer resuming from the checkpoint, 6 more.

    Crosses epoch boundaries (5 iterations per epoch), uses a DataLoader worker (epoch set in the
    worker), dropout (model RNG) and an evaluator that draws random numbers.
    """
    straight_calls, resumed_calls = [], []
    cfg = make_cfg(max_iters=12, workers=1, checkpoint_interval=6, eval_interval=3)
    straight = make_trainer(cfg, tmp_path / "a", evaluator=_counting_evaluator(straight_calls))
    straight.train()

    os.makedirs(tmp_path / "b")
    os.link(tmp_path / "a" / "iter_6.pth", tmp_path / "b" / "iter_6.pth")
    # A different seed for model construction proves the weights really come from the checkpoint.
    torch.manual_seed(123)
    resumed = make_trainer(cfg, tmp_path / "b", model=TinySegmenter(), resume=True,
                           evaluator=_counting_evaluator(resumed_calls))
    assert resumed.start_iter == 6
    resumed.train()

    a, b = straight.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for pa, pb in zip(straight.optimizer.state.values(), resumed.optimizer.state.values()):
        assert torch.equal(pa["exp_avg"], pb["exp_avg"])
    evals = [r["iter"] for r in read_jsonl(tmp_path / "b" / "metrics.jsonl") if r["event"] == "eval"]
    assert evals == [9, 12] and len(straight_calls) == 4


def test_dataset_epoch_is_set_inside_loader_workers(tmp_path):
    trainer = make_trainer(make_cfg(max_iters=12, workers=1), tmp_path)  # 5 iterations per epoch
    trainer.start_iter = 3
    epochs = [[t["epoch"] for t in batch["targets"]] for batch in trainer._build_loader()]
    assert epochs == [[it // 5] * 2 for it in range(3, 12)]


def test_train_from_config_end_to_end(tmp_path, monkeypatch):
    """pipelines.train: config file + overrides, epoch schedule, config copy, periodic evaluation, resume."""
    import pipelines.evaluate
    import vis.engine.builder as builder
    from pipelines.train import train_from_config

    # The builder's table entries, replaced for this test only (the builder looks them up where it imported them).
    monkeypatch.setattr(builder, "build_model", lambda cfg: TinySegmenter())
    monkeypatch.setattr(builder, "build_dataset", lambda cfg: TinyDataset())
    monkeypatch.setattr(builder, "collate", tiny_collate)
    calls = []
    monkeypatch.setattr(pipelines.evaluate, "make_evaluator", lambda cfg: _counting_evaluator(calls))
    config = tmp_path / "tiny_config.py"
    config.write_text(
        "model = dict(type='Tiny')\n"
        "data = dict(samples_per_gpu=2, workers_per_gpu=0, train=dict(type='Tiny'), val=dict(type='Tiny'))\n"
        "optimizer = dict(type='AdamW', lr=1e-3)\n"
        "schedule = dict(max_epochs=2)\n"
        "runtime = dict(log_interval=2, checkpoint_interval=0, eval_interval=4, progress_bar=False, tensorboard=False)\n"
    )
    work_dir = tmp_path / "wd"
    result = train_from_config(str(config), work_dir=str(work_dir), cfg_options=["runtime.seed=3"])
    assert result["iteration"] == 10 and result["metrics"] == {"acc": 3.0}  # evals at 4, 8, 10
    assert result["checkpoint"] == str(work_dir / "iter_10.pth")
    assert "seed=3" in (work_dir / "tiny_config.py").read_text().replace(" ", "")
    again = train_from_config(str(config), work_dir=str(work_dir), resume=True)  # already finished
    assert again["iteration"] == 10 and len(calls) == 3


def test_nan_loss_stops_with_clear_error(tmp_path):
    trainer = make_trainer(make_cfg(max_iters=10), tmp_path, model=TinySegmenter(nan_at_forward=3))
    with pytest.raises(NonFiniteLossError) as info:
        trainer.train()
    message = str(info.value)
    assert "loss is nan at iteration 3" in message and "s0.loss_cls=nan" in message and "\n" not in message


def test_unwritable_work_dir_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VisError, match="cannot create work dir"):
        make_trainer(make_cfg(), blocker / "run")


def test_unknown_runtime_key_is_config_error(tmp_path):
    with pytest.raises(VisError, match="unknown config key 'chekpoint_interval' in runtime"):
        make_trainer(make_cfg(chekpoint_interval=3), tmp_path)


def test_resume_missing_path_is_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        make_trainer(make_cfg(), tmp_path, resume=str(tmp_path / "nope.pth"))


# --------------------------------------------------------------------------------------------------
# multi-process (gloo DDP) and the command-line tool
# --------------------------------------------------------------------------------------------------
DDP_SCRIPT = """
import os, sys
sys.path[:0] = [{repo!r}, {tests!r}]
import torch
torch.set_num_threads(1)
from test_engine import TinySegmenter, TinyDataset, tiny_collate, make_cfg
from vis.engine import dist
from vis.engine.builder import build_trainer
trainer = build_trainer(make_cfg(max_iters=6, checkpoint_interval=3), {work_dir!r}, model=TinySegmenter(),
                        train_dataset=TinyDataset(n=9), collate_fn=tiny_collate)
assert trainer.world_size == 2 and isinstance(trainer.model, torch.nn.parallel.DistributedDataParallel)
trainer.train()
params = {{k: v.detach().clone() for k, v in trainer.unwrapped_model.named_parameters()}}
torch.save(params, os.path.join({work_dir!r}, "params_rank%d.pt" % dist.get_rank()))
dist.cleanup()
"""


def _env():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    return env


def test_two_process_ddp_ranks_end_identical(tmp_path):
    work_dir = tmp_path / "ddp"
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(repo=REPO, tests=os.path.join(REPO, "tests", "engine"), work_dir=str(work_dir)))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True, text=True, timeout=120, env=_env(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0 = torch.load(work_dir / "params_rank0.pt")
    rank1 = torch.load(work_dir / "params_rank1.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    saved = torch.load(work_dir / "iter_6.pth", weights_only=True)
    assert len(saved["rng"]) == 2 and saved["meta"]["world_size"] == 2
    assert all(torch.equal(saved["model"][k], rank0[k]) for k in rank0)
    # 9 images, 2 per process, 2 processes -> 3 iterations per epoch
    assert saved["meta"]["iters_per_epoch"] == 3 and saved["epoch"] == 2


def _run_tool(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "train.py"), *args],
                          capture_output=True, text=True, timeout=120, env=_env(), cwd=REPO)


def test_tool_exit_code_2_on_bad_config(tmp_path):
    missing = _run_tool(str(tmp_path / "nope.py"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"error: config file not found: {tmp_path / 'nope.py'}"]
    bad = tmp_path / "bad.py"
    bad.write_text("modle = dict(type='QueryInst')\n")
    typo = _run_tool(str(bad), "--work-dir", str(tmp_path / "wd"))
    assert typo.returncode == 2
    lines = typo.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown config key 'modle'")


def test_latest_pth_and_work_dir_resolve_to_the_newest_checkpoint(tmp_path):
    """mmdet users pass <work dir>/latest.pth (or the dir): it means the file named in last_checkpoint."""
    work = tmp_path / "run"
    model = nn.Linear(2, 2)
    ckpt.save_checkpoint(str(work / "iter_10.pth"), model, iteration=10)
    ckpt.save_checkpoint(str(work / "iter_20.pth"), model, iteration=20)
    assert ckpt.read_checkpoint(str(work / "latest.pth"))["iteration"] == 20
    assert ckpt.read_checkpoint(str(work))["iteration"] == 20
    assert ckpt.resolve_checkpoint(str(work / "iter_10.pth")) == str(work / "iter_10.pth")
    with pytest.raises(CheckpointError, match="checkpoint not found: .*other.pth$"):
        ckpt.resolve_checkpoint(str(work / "other.pth"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no iter_<N>.pth in"):
        ckpt.read_checkpoint(str(tmp_path / "empty" / "latest.pth"))
