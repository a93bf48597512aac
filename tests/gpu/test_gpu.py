"""What must hold on CUDA before a GPU run is trusted (issue 31): training steps in float32 and under AMP reach every
head, ``predict`` and ``tools/run_video.py`` give the CPU's results, DDP trains over NCCL, a resumed run continues
exactly, and a model that lived on the GPU exports to ONNX.

Every check uses the tiny shapes configs (configs/shapes/), the bundled demo model and generated data, so the
whole file should take one to two minutes on one GPU (under two on 2 CPU cores with ``VIS_GPU_TESTS_ON_CPU=1``).
``pytest -m gpu`` selects it (the default run leaves it out); without CUDA each check is skipped, and
``VIS_GPU_TESTS_ON_CPU=1`` runs them all on the CPU (conftest.py) to debug them without a GPU.
"""
import contextlib
import copy
import importlib
import json
import math
import os
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

from behaviour_record import seeded_model
from vis.config import load_config
from vis.engine.builder import build_trainer

pytestmark = pytest.mark.gpu

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPES = os.path.join(REPO, "configs", "shapes")
DEMO_CLIP = os.path.join(REPO, "models", "demo", "demo.mp4")
DEMO_CONFIG = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.py")
DEMO_CKPT = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.pth")

# The three segmenters and a VideoSegmenter (QueryInst + the MaskTrack-style track head), as users train them.
MODELS = {"queryinst": "queryinst_tiny_shapes", "istr": "istr_tiny_shapes", "solq": "solq_tiny_shapes",
          "video": "queryinst_vis_tiny_shapes"}

# GradScaler starts at 2**16 and halves after each step whose gradients overflow (that step is skipped); a model
# that needs more halvings than this before its first real step does not train under AMP as it is.
MAX_AMP_STEPS = 24

# CUDA against the CPU, float32 kernels on both (TF32 off: `float32_kernels`). Measured here (tiny models, shapes
# images): float64 against float32 on the CPU, float32's own rounding, moves scores by up to 3e-6 and boxes by up
# to 0.003 px (the trained QueryInst: 1e-4 px); a 1e-5 relative perturbation of every weight (~100x float32's
# epsilon: room for cuDNN's other summation orders, Winograd and FFT) moves scores by up to 3e-4, boxes by 0.18 px,
# embeddings by 0.3% and masks by 3 pixels. The tolerances sit above that, far below what a real fault does:
SCORE_ATOL = 1e-3  # detection scores (probabilities)
BOX_ATOL = 0.5  # pixels, on ~250-px outputs
EMBED_RTOL = 1e-2  # query / track embeddings, relative to their largest magnitude
MASK_PIXELS = 0.01  # at most 1% of an image's pixels may flip in a mask (near-0.5 probabilities)

# `--amp` inference (weights cast once, `runtime_model(amp=True)`, then autocast) against float32, on the trained demo
# model. Measured here, float16 emulated on the CPU: scores move by up to 0.0015, boxes 0.18 px, embeddings 4%,
# masks 12 pixels; bfloat16 (the CPU's autocast, VIS_GPU_TESTS_ON_CPU) 0.03, 1.4 px, 13%, 240 pixels, and 3 of 30
# detections cross the top-k cut. The tolerances are 3-7x those:
AMP_TOLERANCES = {
    torch.float16: dict(score=0.01, box=1.0, embed=0.15, mask=0.01, paired=0.9),
    torch.bfloat16: dict(score=0.1, box=4.0, embed=0.5, mask=0.03, paired=0.8),
}

# run_video on the demo clip (320x240, 120 frames), CUDA in float32 against the CPU. The tracker's choices on
# ambiguous detections follow float noise: measured here, a 1e-5 relative perturbation of the demo model's weights
# leaves the ids of the detections scoring >= 0.25 (those the annotated video draws) the same on 118 of 120 frames,
# while low-score (~0.1) ones are re-identified differently on 7; a 5e-4 one (TF32's rounding) changes the drawn
# ones' ids on 34 frames. So the device run has TF32 off (NVIDIA_TF32_OVERRIDE=0), ids are compared on the drawn
# detections, and every detection is still counted per frame.
SHOW_THR = 0.25
SAME_FRAMES = 0.95  # fraction of frames with the same drawn track ids, and with as many detections
TRACK_BOX_ATOL = 2.0  # pixels, drawn detections of the same track
TRACK_SCORE_ATOL = 0.02


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def train_options(name, data, **extra):
    """`--cfg-options` of a tiny config on the generated data: no pretrained file, no evaluation, no logs to a
    terminal; ``extra`` overrides."""
    video = name.endswith("_vis_tiny_shapes")
    model = "model.segmenter." if video else "model."
    options = {
        "data.workers_per_gpu": 0, "data.samples_per_gpu": 2, "data.val": None,
        "runtime.log_interval": 1, "runtime.eval_interval": 0, "runtime.checkpoint_interval": 0,
        "runtime.progress_bar": False, "runtime.tensorboard": False,
        "schedule.max_iters": MAX_AMP_STEPS + 6, "schedule.warmup_iters": 2,
        model + "backbone.pretrained": None,
    }
    if video:
        options["data.train.ann_file"] = os.path.join(data["ytvis"], "train.json")
        options["data.train.img_dir"] = os.path.join(data["ytvis"], "train", "JPEGImages")
    else:
        options["data.train.ann_file"] = os.path.join(data["coco"], "annotations", "instances_train.json")
        options["data.train.img_dir"] = os.path.join(data["coco"], "train")
    if name.startswith("istr"):
        options[model + "mask_codec"] = data["codec"]
    options.update(extra)
    return options


def make_trainer(name, data, work_dir, amp=False):
    cfg = load_config(os.path.join(SHAPES, name + ".py"), train_options(name, data))
    return build_trainer(cfg, str(work_dir), amp=amp)


def first_batch(trainer):
    return next(iter(trainer.data.loader(0, 1)))


def head_groups(model):
    """Trainable parameter names by head: the model's top-level parts (a video model's segmenter parts and its
    track head), the backbone counted as one more."""
    groups = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            parts = name.split(".")
            key = ".".join(parts[:2]) if parts[0] == "segmenter" else parts[0]
            groups.setdefault(key, []).append(name)
    return groups


def assert_gradients_reach_every_head(model):
    """Every trainable parameter has a finite gradient, and each head has a non-zero one somewhere."""
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and p.grad is None]
    assert not missing, f"{len(missing)} trainable parameters got no gradient, e.g. {missing[:5]}"
    bad = [n for n, p in params.items() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{len(bad)} gradients are not finite, e.g. {bad[:5]}"
    groups = head_groups(model)
    assert len(groups) >= 3, sorted(groups)
    silent = [group for group, names in groups.items() if not any(params[n].grad.abs().sum() > 0 for n in names)]
    assert not silent, f"heads whose gradients are all zero: {silent}"


@contextlib.contextmanager
def float32_kernels():
    """TF32 off for the block. cuDNN convolutions default to TF32 on Ampere and later (10-bit mantissas, ~1e-3
    relative), which would swamp the float32 comparison with the CPU; run_video's check keeps the defaults."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@contextlib.contextmanager
def deterministic_algorithms():
    """CUDA's deterministic kernels for the block; yields the names of the ops that have none (they run and warn:
    RoIAlign's and bilinear upsampling's backward add with atomics, in any order)."""
    alerts = []
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield alerts
        alerts.extend(sorted({str(w.message).split(" does not have")[0] for w in caught
                              if "does not have a deterministic implementation" in str(w.message)}))
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


def shapes_images(count=2, seed=21):
    """Generated shapes images of different sizes as model inputs ([3, h, w] float 0..255)."""
    from vis.data import synthetic

    images = []
    for index in range(count):
        image, _ = synthetic.render_coco_image(seed, "gpu", index, min_size=96, max_size=128)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float().contiguous())
    return images


def assert_same_detections(expected, actual, what, score=SCORE_ATOL, box=BOX_ATOL, embed=EMBED_RTOL, mask=MASK_PIXELS,
                           paired=0.9):
    """``actual`` (from the device, on the CPU now) has ``expected``'s detections within the tolerances (the
    module's float32 ones by default).

    Detections are paired by (query, class). Scores within ``score`` of the lowest kept one may fall on either
    side of the top-k cut, so only the others must be in both; at least ``paired`` of them pair up."""
    assert len(expected) > 0, f"{what}: no detection to compare"
    e_keys = list(zip(expected.query_index.tolist(), expected.labels.tolist()))
    a_keys = list(zip(actual.query_index.tolist(), actual.labels.tolist()))
    for keys, other_keys, scores, other, side in ((e_keys, a_keys, expected.scores, actual, "device"),
                                                  (a_keys, e_keys, actual.scores, expected, "CPU")):
        floor = float(other.scores.min()) + score if len(other) else -1.0
        lost = [k for k, s in zip(keys, scores.tolist()) if k not in other_keys and s > floor]
        assert not lost, f"{what}: detections (query, class) {lost[:5]} missing on the {side}"
    pairs = [(i, a_keys.index(k)) for i, k in enumerate(e_keys) if k in a_keys]
    assert len(pairs) >= paired * len(expected), f"{what}: {len(pairs)} of {len(expected)} detections paired"
    e_idx = torch.tensor([i for i, _ in pairs])
    a_idx = torch.tensor([j for _, j in pairs])
    torch.testing.assert_close(actual.scores[a_idx], expected.scores[e_idx], rtol=0, atol=score,
                               msg=lambda m: f"{what}: scores: {m}")
    torch.testing.assert_close(actual.boxes[a_idx], expected.boxes[e_idx], rtol=0, atol=box,
                               msg=lambda m: f"{what}: boxes: {m}")
    for field in ("embeds", "track_embeds"):
        if expected.has(field):
            e, a = expected.get(field)[e_idx], actual.get(field)[a_idx]
            atol = embed * max(1.0, float(e.abs().max()))
            torch.testing.assert_close(a, e, rtol=0, atol=atol, msg=lambda m: f"{what}: {field}: {m}")
    flipped = (actual.masks[a_idx] != expected.masks[e_idx]).flatten(1).sum(1)
    assert int(flipped.max()) <= mask * expected.masks[0].numel(), f"{what}: mask pixels differ: {flipped}"


# --------------------------------------------------------------------------------------------------
# training steps
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS.values()), ids=list(MODELS))
def test_float32_training_step_reaches_every_head(name, device, shapes_data, tmp_path):
    trainer = make_trainer(name, shapes_data, tmp_path)
    model = trainer.unwrapped_model
    assert trainer.device.type == device.type and not trainer.amp
    assert all(p.device.type == device.type for p in model.parameters())
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    values, _ = trainer.run_step(first_batch(trainer), 0)
    assert all(math.isfinite(v) for v in values.values()), values
    assert_gradients_reach_every_head(model)
    # The optimizer stepped (in the first warm-up iteration some updates are below float32's resolution).
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)


@pytest.mark.parametrize("name", list(MODELS.values()), ids=list(MODELS))
def test_amp_training_step_reaches_every_head(name, device, amp_dtype, shapes_data, tmp_path):
    """The trainer's own AMP (`Trainer.run_step`: float16 autocast + GradScaler), up to the first step the scaler
    does not skip; that step's gradients are checked."""
    trainer = make_trainer(name, shapes_data, tmp_path, amp=True)
    if device.type == "cuda":
        assert trainer.amp and trainer.scaler.is_enabled()
    else:
        trainer.amp = True  # build_trainer turns AMP off on the CPU; bfloat16 needs no scaler (amp_dtype)
    model = trainer.unwrapped_model
    dtypes = set()
    hooks = [m.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
             for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    batch = first_batch(trainer)
    skipped = []
    try:
        for iteration in range(MAX_AMP_STEPS):
            scale = trainer.scaler.get_scale() if trainer.scaler.is_enabled() else None
            values, _ = trainer.run_step(batch, iteration)  # a non-finite loss raises NonFiniteLossError
            if scale is None or trainer.scaler.get_scale() >= scale:
                break
            skipped.append(scale)
        else:
            pytest.fail(f"every one of {MAX_AMP_STEPS} AMP steps overflowed (scales {skipped})")
    finally:
        for hook in hooks:
            hook.remove()
    assert amp_dtype in dtypes, f"no layer ran in {amp_dtype} (output dtypes {dtypes})"
    assert all(math.isfinite(v) for v in values.values()), values
    assert_gradients_reach_every_head(model)


# --------------------------------------------------------------------------------------------------
# inference
# --------------------------------------------------------------------------------------------------
def inference_model(kind):
    """The weights `predict` is compared on, loaded as the inference tools load them (eval mode, BatchNorms
    folded): the bundled demo model (a trained QueryInst-VIS) and its segmenter for the video model and QueryInst,
    the seeded tiny configs for ISTR and SOLQ. A trained cascade refines its boxes stably; the seeded QueryInst's
    move by 0.2 px under a 1e-6 relative weight perturbation, which would test float noise, not CUDA."""
    from vis.inference import load_model
    from vis.models.fusion import fold_batchnorms

    if kind in ("queryinst", "video"):
        model, _ = load_model(load_config(DEMO_CONFIG), DEMO_CKPT)
        return model.segmenter if kind == "queryinst" else model
    model = seeded_model(MODELS[kind]).eval()
    fold_batchnorms(model)
    return model


@pytest.mark.parametrize("kind", list(MODELS))
def test_predict_on_device_matches_cpu(kind, device):
    model = inference_model(kind)
    images = shapes_images()
    sizes = [(int(im.shape[1]) * 2, int(im.shape[2]) * 3 // 2) for im in images]  # rescaled outputs, as tools do
    with torch.no_grad():
        expected = model.predict(images, orig_sizes=sizes)
    on_device = copy.deepcopy(model).to(device)
    with torch.no_grad(), float32_kernels():
        actual = on_device.predict([im.to(device) for im in images], orig_sizes=sizes)
    assert len(actual) == len(expected)
    for index, (e, a) in enumerate(zip(expected, actual)):
        assert a.boxes.device.type == device.type and a.image_size == e.image_size
        assert_same_detections(e, a.to("cpu"), f"{kind} image {index}")


def test_amp_predict_on_device_is_close_to_float32(device):
    """`--amp` inference as run_video and the benchmarks run it: float16 on CUDA (bfloat16 on the CPU)."""
    from vis.inference import amp_dtype, predict_frames, runtime_model

    model = inference_model("video").to(device)
    images = [im.to(device) for im in shapes_images()]
    sizes = [(int(im.shape[1]) * 2, int(im.shape[2]) * 3 // 2) for im in images]
    with float32_kernels():
        expected = predict_frames(model, images, sizes)
    dtype = amp_dtype(device)
    amp_model = runtime_model(copy.deepcopy(model), amp=True)
    assert amp_model.autocast_weights_dtype == dtype
    actual = predict_frames(amp_model, images, sizes, amp=True)
    for index, (e, a) in enumerate(zip(expected, actual)):
        assert a.scores.dtype == a.boxes.dtype == torch.float32 and a.boxes.device.type == device.type
        assert_same_detections(e.to("cpu"), a.to("cpu"), f"amp image {index}", **AMP_TOLERANCES[dtype])


def read_frames_jsonl(path):
    with open(path) as f:
        return [line for line in map(json.loads, f) if "frame" in line]


def test_run_video_on_device_gives_the_cpu_tracks(device, tmp_path):
    """tools/run_video.py --device cuda on the bundled demo clip and model: the CPU's tracks, frame by frame."""
    runs = {}
    for label, run_device in (("cpu", "cpu"), ("device", device.type)):
        out = tmp_path / label
        env = dict(os.environ, NVIDIA_TF32_OVERRIDE="0")  # cuDNN and cuBLAS in float32 (see SHOW_THR)
        proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "run_video.py"), DEMO_CLIP, "--device",
                               run_device, "--out-dir", str(out), "--outputs", "frames", "--no-progress"],
                              cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[label] = read_frames_jsonl(out / "demo.frames.jsonl")
    cpu, dev = runs["cpu"], runs["device"]
    assert [f["frame"] for f in dev] == [f["frame"] for f in cpu] == list(range(120))
    counted = sum(len(c["instances"]) == len(d["instances"]) for c, d in zip(cpu, dev))
    assert counted >= SAME_FRAMES * len(cpu), f"as many detections on {counted} of {len(cpu)} frames"
    same, boxes, scores = 0, [], []
    for c, d in zip(cpu, dev):
        c_tracks = {i["track_id"]: i for i in c["instances"] if i["score"] >= SHOW_THR}
        d_tracks = {i["track_id"]: i for i in d["instances"] if i["score"] >= SHOW_THR}
        if c_tracks.keys() != d_tracks.keys():
            continue
        same += 1
        for track_id, ci in c_tracks.items():
            di = d_tracks[track_id]
            assert di["label"] == ci["label"], (c["frame"], track_id)
            boxes.append(max(abs(a - b) for a, b in zip(ci["box"], di["box"])))
            scores.append(abs(ci["score"] - di["score"]))
    assert same >= SAME_FRAMES * len(cpu), f"the drawn track ids agree on {same} of {len(cpu)} frames"
    assert boxes and max(boxes) <= TRACK_BOX_ATOL, f"boxes differ by up to {max(boxes)} px"
    assert max(scores) <= TRACK_SCORE_ATOL, f"scores differ by up to {max(scores)}"
    cpu_ids = {i["track_id"] for f in cpu for i in f["instances"]}
    dev_ids = {i["track_id"] for f in dev for i in f["instances"]}
    assert abs(len(cpu_ids) - len(dev_ids)) <= 1, f"{len(cpu_ids)} tracks on the CPU, {len(dev_ids)} on the device"


# --------------------------------------------------------------------------------------------------
# distributed training, exact resume
# --------------------------------------------------------------------------------------------------
DDP_SCRIPT = """
import json, os, sys
sys.path.insert(0, {repo!r})
import torch
import torch.distributed as torch_dist
from torch.nn.parallel import DistributedDataParallel
from vis.config import load_config
from vis.engine.builder import build_trainer

world_size, local_rank = int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
cuda = torch.cuda.is_available()
if world_size == 1:
    # build_trainer joins a process group only for WORLD_SIZE > 1 (one process trains without DDP). With one GPU
    # the group is started here with the backend it would pick, and the model wrapped as the trainer wraps it.
    if cuda:
        torch.cuda.set_device(local_rank)
    torch_dist.init_process_group("nccl" if cuda else "gloo", init_method="env://")
trainer = build_trainer(load_config({config!r}, {options!r}), {work_dir!r})
if world_size == 1:
    trainer.model = DistributedDataParallel(trainer.model, device_ids=[local_rank] if cuda else None,
                                            find_unused_parameters=bool(trainer.runtime["find_unused_parameters"]))
assert isinstance(trainer.model, DistributedDataParallel)
result = trainer.train()
total = torch.ones(1, device=trainer.device)
torch_dist.all_reduce(total)  # a collective of the group itself (vis.engine.dist skips one-process groups)
params = {{k: v.detach().cpu() for k, v in trainer.unwrapped_model.named_parameters()}}
torch.save(params, os.path.join({work_dir!r}, "params_rank%d.pt" % torch_dist.get_rank()))
if torch_dist.get_rank() == 0:
    print(json.dumps({{"backend": torch_dist.get_backend(), "world_size": torch_dist.get_world_size(),
                      "device": trainer.device.type, "all_reduce": total.item(), "iteration": result["iteration"]}}))
torch_dist.destroy_process_group()
"""


def test_ddp_trains_over_nccl(device, shapes_data, tmp_path):
    """The video model for 3 iterations under torchrun, one process per GPU (gloo and one process on the CPU)."""
    name = MODELS["video"]
    nproc = torch.cuda.device_count() if device.type == "cuda" else 1
    work_dir = tmp_path / "ddp"
    options = train_options(name, shapes_data, **{"schedule.max_iters": 3, "data.workers_per_gpu": 1})
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(repo=REPO, config=os.path.join(SHAPES, name + ".py"), options=options,
                                        work_dir=str(work_dir)))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={nproc}", str(script)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary == {"backend": "nccl" if device.type == "cuda" else "gloo", "world_size": nproc,
                       "device": device.type, "all_reduce": float(nproc), "iteration": 3}
    with open(work_dir / "metrics.jsonl") as f:
        losses = [e["loss"] for e in map(json.loads, f) if e.get("event") == "train"]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    ranks = [torch.load(work_dir / f"params_rank{r}.pt") for r in range(nproc)]
    assert all(torch.equal(ranks[0][k], other[k]) for other in ranks[1:] for k in ranks[0])
    saved = torch.load(work_dir / "iter_3.pth", map_location="cpu", weights_only=True)
    assert all(torch.equal(saved["model"][k], ranks[0][k]) for k in ranks[0])


def engine_tests():
    """tests/engine/test_engine.py: its stand-in segmenter, dataset and config, as its DDP check imports them."""
    folder = os.path.join(REPO, "tests", "engine")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    threads = torch.get_num_threads()
    module = importlib.import_module("test_engine")
    torch.set_num_threads(threads)  # it sets one thread for its own tests
    return module


def test_stand_in_resume_is_bit_identical_on_device(device, tmp_path):
    """tests/engine's exact-resume check on the device: 12 iterations straight == 6, a new trainer resuming from
    the checkpoint, 6 more. Its dropout draws from the CUDA generator, so the CUDA RNG state must come back too;
    on CUDA it runs under AMP, so the GradScaler's state must as well. Deterministic kernels make it exact."""
    engine = engine_tests()
    amp = device.type == "cuda"
    cfg = engine.make_cfg(max_iters=12, workers=1, checkpoint_interval=6, eval_interval=3)
    straight_calls, resumed_calls = [], []
    with deterministic_algorithms() as alerts:
        straight = engine.make_trainer(cfg, tmp_path / "a", evaluator=engine._counting_evaluator(straight_calls),
                                       amp=amp)
        straight.train()
        os.makedirs(tmp_path / "b")
        os.link(tmp_path / "a" / "iter_6.pth", tmp_path / "b" / "iter_6.pth")
        torch.manual_seed(123)  # other initial weights: they must come from the checkpoint
        resumed = engine.make_trainer(cfg, tmp_path / "b", model=engine.TinySegmenter(), resume=True,
                                      evaluator=engine._counting_evaluator(resumed_calls), amp=amp)
        assert resumed.start_iter == 6 and resumed.device.type == device.type and resumed.amp == amp
        resumed.train()
    a, b = straight.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict()
    assert a.keys() == b.keys()
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, f"{different} differ (ops without a deterministic kernel: {alerts})"
    for pa, pb in zip(straight.optimizer.state.values(), resumed.optimizer.state.values()):
        assert torch.equal(pa["exp_avg"], pb["exp_avg"]) and torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    assert straight.scaler.state_dict() == resumed.scaler.state_dict()
    assert len(straight_calls) == 4 and len(resumed_calls) == 2


def test_real_model_resume_on_device(device, shapes_data, tmp_path):
    """The tiny QueryInst through pipelines.train: 6 iterations straight == 3, stop, resume, 3 more.

    Exact where every op has a deterministic kernel (the CPU). On CUDA, RoIAlign's and upsampling's backward add
    with atomics in no fixed order, so two straight runs already differ in the last bits; then the resumed run
    must be as close to the straight one as a second straight run is (3x its summed difference), and far closer
    than the last 3 iterations moved the weights (1%)."""
    from pipelines.train import train_from_config

    name = MODELS["queryinst"]
    common = train_options(name, shapes_data, **{"schedule.milestones": [4], "runtime.checkpoint_interval": 3})
    config = os.path.join(SHAPES, name + ".py")

    def run(work, max_iters, resume=False):
        train_from_config(config, work_dir=str(tmp_path / work), resume=resume,
                          cfg_options={**common, "schedule.max_iters": max_iters})
        path = tmp_path / work / f"iter_{max_iters}.pth"
        return torch.load(path, map_location="cpu", weights_only=True)["model"]

    with deterministic_algorithms() as alerts:
        straight = run("straight", 6)
        half = run("split", 3)
        resumed = run("split", 6, resume=True)
    keys = [k for k, v in straight.items() if v.is_floating_point()]
    assert straight.keys() == resumed.keys()
    moved = sum(float((straight[k] - half[k]).abs().sum()) for k in keys)
    assert moved > 0, "the last iterations changed nothing: the comparison would be vacuous"
    if not alerts:
        different = [k for k in straight if not torch.equal(straight[k], resumed[k])]
        assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
        return
    with deterministic_algorithms():
        again = run("straight_again", 6)
    noise = sum(float((straight[k] - again[k]).abs().sum()) for k in keys)
    resume_diff = sum(float((straight[k] - resumed[k]).abs().sum()) for k in keys)
    assert resume_diff <= 3 * noise + 1e-6, (resume_diff, noise, alerts)
    assert resume_diff < 0.01 * moved, (resume_diff, moved, alerts)


# --------------------------------------------------------------------------------------------------
# ONNX export
# --------------------------------------------------------------------------------------------------
def test_onnx_export_of_a_model_on_the_device(device, tmp_path):
    """`vis.runtime.export.export_onnx` of a model on the device traces a CPU copy of it, leaving the model where it
    is; the file gives PyTorch's outputs and runs beside the model on the device (ONNX Runtime's network,
    post-processing on CUDA)."""
    from vis.runtime.export import compare_with_pytorch, export_onnx
    from vis.runtime.onnx_network import OnnxNetwork, RuntimeModel

    model = inference_model("queryinst")
    on_device = copy.deepcopy(model).to(device)
    path = export_onnx(on_device, str(tmp_path / "net.onnx"), example_size=(90, 115))
    assert next(on_device.parameters()).device.type == device.type  # still on the device, still usable
    assert sorted(os.listdir(tmp_path)) == ["net.onnx"]  # no temporary left behind
    back = copy.deepcopy(on_device).cpu()
    network = OnnxNetwork(path, back)
    # ONNX Runtime against PyTorch, as tests/runtime/test_onnx_runtime.py measures them on the CPU.
    for row in compare_with_pytorch(model, network, [(128, 160), (64, 70)]):
        for output, diff in row["max_abs_diff"].items():
            assert diff < (0.2 if output == "boxes" else 2e-3), (row["height"], row["width"], output, diff)
    images = shapes_images(seed=22)
    with torch.no_grad(), float32_kernels():
        expected = on_device.predict([im.to(device) for im in images])
        actual = RuntimeModel(on_device, network, "onnxruntime").predict([im.to(device) for im in images])
    for index, (e, a) in enumerate(zip(expected, actual)):
        assert a.boxes.device.type == device.type
        assert_same_detections(e.to("cpu"), a.to("cpu"), f"onnx image {index}")
