"""tools/export_model.py: weights-only checkpoints in float16 / int8 that load back into the float32 model."""
import subprocess
import sys

import pytest
import torch

from inputs import TINY_VIDEO_SEGMENTER as VIDEO
from vis.engine.checkpoint import read_checkpoint, save_checkpoint
from vis.engine.export import quantize_int8
from vis.engine.loading import load_checkpoint
from vis.models import build_model


def test_int8_quantization_is_per_output_channel():
    weight = torch.tensor([[0.5, -1.0, 0.25], [100.0, 50.0, -25.0]])
    q, scale = quantize_int8(weight)
    assert q.dtype == torch.int8 and scale.shape == (2, 1)
    assert q.tolist() == [[64, -127, 32], [127, 64, -32]]  # each row uses the whole int8 range
    assert torch.allclose(q.float() * scale, weight, rtol=0, atol=float(scale.max()) / 2 + 1e-6)


@pytest.mark.parametrize("dtype,max_size_ratio,atol", [("float16", 0.55, 2e-2), ("int8", 0.35, 1e-1)])
def test_export_shrinks_and_loads_back(tmp_path, dtype, max_size_ratio, atol):
    torch.manual_seed(0)
    model = build_model(VIDEO)
    optimizer = torch.optim.AdamW(model.parameters())
    for p in model.parameters():  # one optimizer step, so the training checkpoint carries Adam's state
        p.grad = torch.randn_like(p) * 1e-3
    optimizer.step()
    src = save_checkpoint(str(tmp_path / "iter_1.pth"), model, optimizer, iteration=1)
    out = tmp_path / f"export_{dtype}.pth"
    proc = subprocess.run([sys.executable, "tools/export_model.py", src, str(out), "--dtype", dtype],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size < max_size_ratio * (tmp_path / "iter_1.pth").stat().st_size
    exported = read_checkpoint(str(out))
    assert exported["optimizer"] is None and exported["meta"]["weights_dtype"] == dtype
    assert exported["meta"]["class_names"] == read_checkpoint(src)["meta"]["class_names"]
    if dtype == "int8":  # only the ResNet trunk is int8; the heads' generated weights stay float16
        scaled = set(exported["quant_scales"])
        assert scaled and all(k.startswith("segmenter.backbone.") for k in scaled)
        heads = [k for k, v in exported["model"].items() if "roi_head" in k and v.dim() >= 2]
        assert heads and all(exported["model"][k].dtype == torch.float16 for k in heads)

    fresh = build_model(VIDEO)
    report = load_checkpoint(fresh, str(out), strict=True)
    assert not report.missing and not report.mismatched
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert a.dtype == b.dtype, name  # loaded back into the float32 model
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=0, atol=atol * max(1.0, float(a.abs().max()))), name
        else:
            assert torch.equal(a, b), name


def test_export_bad_input_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "tools/export_model.py", str(tmp_path / "missing.pth"),
                           str(tmp_path / "out.pth")], capture_output=True, text=True)
    assert proc.returncode == 2 and "checkpoint not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.pth").exists()


@pytest.mark.parametrize("source", ["video_queryinst", "solq"])
def test_backbone_only_export_starts_another_models_training(tmp_path, source):
    """--backbone-only -> a torchvision ResNet state dict that another segmenter's backbone.pretrained loads."""
    from inputs import TINY_SOLQ as SOLQ_TINY

    torch.manual_seed(0)
    src_cfg = VIDEO if source == "video_queryinst" else dict(type="SOLQ", **SOLQ_TINY)
    model = build_model(src_cfg)
    src = save_checkpoint(str(tmp_path / "iter_1.pth"), model, iteration=1)
    out = tmp_path / "r18.pth"
    proc = subprocess.run([sys.executable, "tools/export_model.py", src, str(out), "--backbone-only"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    trunk = torch.load(out, map_location="cpu", weights_only=True)["state_dict"]
    assert "conv1.weight" in trunk and "layer4.1.bn2.running_var" in trunk and not any("fpn" in k for k in trunk)

    # A plain image QueryInst takes it as its ImageNet file.
    target = build_model(dict(VIDEO["segmenter"], backbone=dict(depth=18, frozen_stages=1, pretrained=str(out))))
    target.init_weights()
    source_trunk = model.segmenter.backbone if source == "video_queryinst" else model.backbone[0].body
    for key, value in source_trunk.state_dict().items():
        assert torch.equal(target.backbone.state_dict()[key], value), key

    # A checkpoint without a ResNet trunk is a one-line error, exit 2, nothing written.
    torch.save({"model": {"head.weight": torch.zeros(2, 2)}}, tmp_path / "headless.pth")
    proc = subprocess.run([sys.executable, "tools/export_model.py", str(tmp_path / "headless.pth"),
                           str(tmp_path / "none.pth"), "--backbone-only"], capture_output=True, text=True)
    assert proc.returncode == 2 and "no ResNet backbone" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "none.pth").exists()
