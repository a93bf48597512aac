"""The per-frame network in ONNX Runtime (issue 17): export of each segmenter with a dynamic image size, the
same outputs as PyTorch at float noise, the same detections through `RuntimeModel`, int8 for the trunk, the
file's check against the model, and the tools' options (tools/export_onnx.py, run_video --backend)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from assertions import assert_one_line_error
from vis.errors import CheckpointError
from vis.runtime.export import compare_with_pytorch, export_onnx
from vis.runtime.onnx_network import OnnxNetwork, RuntimeModel

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CONFIG = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.py")
DEMO_CKPT = os.path.join(REPO, "models", "demo", "queryinst_vis_tiny_shapes.pth")
DEMO_CLIP = os.path.join(REPO, "models", "demo", "demo.mp4")


def run_tool(name, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", name), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def exported(tiny_segmenter, tmp_path_factory):
    """Each tiny segmenter, in eval mode, and its network exported at 90x115 (padded as the model pads)."""
    model = tiny_segmenter.eval()
    path = str(tmp_path_factory.mktemp("onnx") / f"{type(model).__name__}.onnx")
    export_onnx(model, path, example_size=(90, 115))
    return model, OnnxNetwork(path, model, threads=1), path


def test_onnx_runtime_gives_pytorch_outputs_at_other_sizes(exported):
    model, network, _ = exported
    for row in compare_with_pytorch(model, network, [(128, 160), (64, 70), (200, 100)]):
        for name, diff in row["max_abs_diff"].items():
            assert diff < 2e-3 if name != "boxes" else diff < 0.2, (row["height"], row["width"], name, diff)


def test_runtime_model_returns_the_same_detections(exported):
    model, network, _ = exported
    generator = torch.Generator().manual_seed(7)
    images = [torch.rand(3, 100, 130, generator=generator) * 255, torch.rand(3, 70, 90, generator=generator) * 255]
    with torch.no_grad():
        expected = model.predict(images, orig_sizes=[(200, 260), (70, 90)])
        actual = RuntimeModel(model, network, "onnxruntime").predict(images, orig_sizes=[(200, 260), (70, 90)])
    # ONNX Runtime's kernels against torch's, measured on an AMD EPYC (AVX2; also with torch's scalar kernels and
    # oneDNN capped at SSE4.1): boxes differ by up to 0.044 px (QueryInst's seeded cascade), scores by 3.8e-6,
    # masks by 0.04% of their pixels; the tolerances are 3x and more (issue 33: one CPU's spread is not another's).
    for e, a in zip(expected, actual):
        assert torch.equal(e.labels, a.labels) and torch.equal(e.query_index, a.query_index)
        torch.testing.assert_close(a.scores, e.scores, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(a.boxes, e.boxes, rtol=0, atol=0.15)
        if len(e):
            assert (a.masks != e.masks).flatten(1).sum(1).max() <= 0.01 * e.masks[0].numel()


def test_a_file_of_another_model_or_no_onnx_file_is_a_one_line_error(exported, tmp_path):
    from behaviour_record import seeded_model

    model, _, path = exported
    other = seeded_model("solq_tiny_shapes" if type(model).__name__ != "SOLQ" else "queryinst_tiny_shapes")
    with pytest.raises(CheckpointError, match="does not fit the model: its model is"):
        OnnxNetwork(path, other)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    with pytest.raises(CheckpointError, match="cannot load ONNX file"):
        OnnxNetwork(str(broken), model)
    with pytest.raises(CheckpointError, match="not found"):
        OnnxNetwork(str(tmp_path / "missing.onnx"), model)


def test_trunk_convolutions_are_found_by_module_path(exported):
    import onnx

    from vis.runtime.quantize import module_conv_nodes

    model, _, path = exported
    graph = onnx.load(path)
    counts = {}
    for name in (model.backbone_prefix.rstrip("."), model.neck_module):
        expected = sum(isinstance(m, torch.nn.Conv2d) for m in model.get_submodule(name).modules())
        counts[name] = len(module_conv_nodes(graph, name))
        assert counts[name] == expected > 0, name
    all_convs = [n for n in graph.graph.node if n.op_type == "Conv"]
    assert sum(counts.values()) <= len(all_convs)  # neither takes the other's convolutions


@pytest.fixture(scope="module")
def demo_int8(tmp_path_factory):
    """The demo model exported by the tool with its trunk and its mask head in int8 (4 calibration frames)."""
    folder = tmp_path_factory.mktemp("int8")
    out = folder / "demo_int8.onnx"
    proc = run_tool("export_onnx.py", DEMO_CONFIG, DEMO_CKPT, out, "--int8", "--int8-mask-head", "--calibration",
                    DEMO_CLIP, "--calib-frames", "4", "--check-sizes", "96x128", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, json.loads(proc.stdout)


def test_export_tool_float_and_int8_then_run_video_on_the_file(tmp_path, demo_int8):
    out = tmp_path / "demo.onnx"
    proc = run_tool("export_onnx.py", DEMO_CONFIG, DEMO_CKPT, out, "--check-sizes", "96x128", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert out.is_file() and summary["model"] == "QueryInst" and summary["quantized_convs"] == 0
    diffs = summary["check"][0]["max_abs_diff"]
    assert set(diffs) == {"logits", "boxes", "embeds", "attn_feats", "p2", "p3", "p4", "p5"}
    assert max(v for k, v in diffs.items() if k != "boxes") < 1e-3 and diffs["boxes"] < 0.05

    int8, summary = demo_int8
    assert summary["quantized_convs"] == 20  # the ResNet-18 trunk's convolutions
    assert sorted(os.listdir(int8.parent)) == ["demo_int8.mask_head.onnx", "demo_int8.onnx"]  # no temporary file

    tracks = {}
    for backend, extra in (("pytorch", []), ("onnxruntime", ["--onnx", out])):
        folder = tmp_path / backend
        proc = run_tool("run_video.py", DEMO_CLIP, "--out-dir", folder, "--end", 12, "--outputs", "mot",
                        "--no-progress", "--threads", 1, "--backend", backend, *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = [line.split(",") for line in (folder / "demo.mot.txt").read_text().splitlines()]
        tracks[backend] = rows
    assert [r[:2] for r in tracks["pytorch"]] == [r[:2] for r in tracks["onnxruntime"]]  # frames and track ids
    for expected, actual in zip(tracks["pytorch"], tracks["onnxruntime"]):
        assert all(abs(float(e) - float(a)) <= 0.05 for e, a in zip(expected[2:7], actual[2:7]))


def test_int8_mask_head_file_runs_in_place_of_the_pytorch_head(demo_int8, tmp_path):
    """``--int8-mask-head``: a second file the network file names; the runtime swaps it in for the last mask head,
    and the masks stay close to float32 PyTorch's (int8 activations: a few boundary pixels move)."""
    import shutil

    from vis.config import load_config
    from vis.inference import load_model, predict_frames, runtime_model
    from vis.runtime.onnx_network import OnnxMaskHead

    int8, summary = demo_int8
    head_file = str(int8).replace(".onnx", ".mask_head.onnx")
    assert summary["mask_head"] == head_file and os.path.isfile(head_file)
    # The demo model's head: 2 convolutions, the upsampling and the logits (the dynamic convolution stays float).
    assert summary["mask_head_convs"] == 4
    check = summary["mask_head_check"]
    assert check["rois"] > 0 and 0 < check["max_abs_diff"] < 1.0

    cfg = load_config(DEMO_CONFIG)
    reference, _ = load_model(cfg, DEMO_CKPT)
    model = runtime_model(load_model(cfg, DEMO_CKPT)[0], "onnxruntime", str(int8), threads=1)
    segmenter = model.model.segmenter
    head = segmenter.get_submodule(segmenter.mask_head_module)
    assert isinstance(head, OnnxMaskHead)
    calls = []
    run = head.session.run
    head.session = type("Spy", (), {"run": lambda self, *a, **k: calls.append(1) or run(*a, **k)})()

    from vis.io.video import open_frame_source

    source = open_frame_source(DEMO_CLIP)
    frame = next(iter(source))[1]
    source.close()
    image = torch.from_numpy(frame).permute(2, 0, 1).float()
    expected = predict_frames(reference, [image], [frame.shape[:2]], score_thr=0.3)[0]
    actual = predict_frames(model, [image], [frame.shape[:2]], score_thr=0.3)[0]
    assert calls == [1] and len(expected) > 0
    assert actual.labels.tolist() == expected.labels.tolist()
    for e, a in zip(expected.masks, actual.masks):
        iou = (e & a).sum() / (e | a).sum().clamp(min=1)
        assert iou > 0.8, float(iou)

    alone = tmp_path / "alone.onnx"  # the network file without the mask head file it names
    shutil.copy(int8, alone)
    with pytest.raises(CheckpointError, match="mask head file"):
        runtime_model(load_model(cfg, DEMO_CKPT)[0], "onnxruntime", str(alone))


def test_int8_mask_head_of_a_model_without_one_is_a_one_line_error_before_any_file(tmp_path):
    from behaviour_record import seeded_model

    from vis.errors import VisError
    from pipelines.onnx_export import ExportPlan, export_network
    from vis.options import RunOptions

    checkpoint = tmp_path / "solq.pth"
    torch.save(seeded_model("solq_tiny_shapes").state_dict(), checkpoint)
    with pytest.raises(VisError, match="SOLQ has no convolutional mask head"):
        export_network(RunOptions(config=os.path.join(REPO, "configs/shapes/solq_tiny_shapes.py"),
                                  checkpoint=str(checkpoint)),
                       ExportPlan(str(tmp_path / "out.onnx"), int8=True, calibration=DEMO_CLIP, int8_mask_head=True))
    assert os.listdir(tmp_path) == ["solq.pth"]


@pytest.mark.parametrize("tool, args, needle", [
    ("export_onnx.py", [DEMO_CONFIG, DEMO_CKPT, "out.onnx", "--int8"], "--calibration"),
    ("export_onnx.py", [DEMO_CONFIG, DEMO_CKPT, "out.pth"], ".onnx"),
    ("export_onnx.py", [DEMO_CONFIG, DEMO_CKPT, "out.onnx", "--int8-neck"], "--int8-neck"),
    ("export_onnx.py", [DEMO_CONFIG, DEMO_CKPT, "out.onnx", "--int8-mask-head"], "--int8-mask-head"),
    ("export_onnx.py", ["configs/missing.py", DEMO_CKPT, "out.onnx"], "config file not found"),
    ("export_onnx.py", [DEMO_CONFIG, DEMO_CKPT, "out.onnx", "--int8", "--calibration", "missing.mp4"], "not found"),
    ("run_video.py", [DEMO_CLIP, "--onnx", "x.onnx"], "--onnx"),
    ("run_video.py", [DEMO_CLIP, "--backend", "openvino"], "unknown --backend"),
    ("run_video.py", [DEMO_CLIP, "--backend", "onnxruntime", "--onnx", "missing.onnx"], "ONNX file not found"),
    ("run_video.py", [DEMO_CLIP, "--backend", "onnxruntime", "--compile"], "--compile"),
])
def test_bad_runtime_options_are_one_line_errors(tool, args, needle, tmp_path):
    proc = run_tool(tool, *args)
    assert_one_line_error(proc, needle)
    assert not os.path.exists(os.path.join(REPO, "out.onnx"))


@pytest.mark.slow
def test_compiled_network_returns_the_same_detections():
    """``--compile``: torch.compile of the network (about a minute of compiling for the tiny model on 2 cores)."""
    from behaviour_record import seeded_model
    from vis.inference import runtime_model

    model = seeded_model("queryinst_tiny_shapes").eval()
    images = [torch.rand(3, 128, 160, generator=torch.Generator().manual_seed(4)) * 255]
    with torch.no_grad():
        expected = model.predict(images)
        (actual,) = runtime_model(model, compiled=True).predict(images)
    assert torch.equal(actual.labels, expected[0].labels)
    # Inductor's kernels against eager: the seeded cascade's float noise (up to 0.044 px between CPU kernels).
    torch.testing.assert_close(actual.boxes, expected[0].boxes, rtol=0, atol=0.15)
