"""Parameter counting (vis.utils.model_info) and the tools/model_info.py command line."""
import json
import os
import runpy
import subprocess
import sys

import pytest
import torch
from torch import nn

from vis.utils.model_info import count_parameters, format_param_table, model_param_info

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable


class Toy(nn.Module):
    """backbone: conv 3*4*3*3 = 108 (frozen) + BN affine 8 (running stats are buffers) = 116
    neck: 4*5 + 5 = 25; head: 5*6 + 6 = 36; tied: weight shared with head, own bias 6;
    extra: a top-level parameter of 7 -> "(other)"; matcher: no parameters, no row. Total 190."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4))
        self.backbone[0].weight.requires_grad_(False)
        self.neck = nn.Linear(4, 5)
        self.head = nn.Linear(5, 6)
        self.tied = nn.Linear(5, 6)
        self.tied.weight = self.head.weight
        self.matcher = nn.Identity()
        self.extra = nn.Parameter(torch.zeros(7))
        self.register_buffer("components", torch.zeros(60, 784))


TOY_PARTS = {"backbone": 116, "neck": 25, "head": 36, "tied": 6, "(other)": 7}


def test_counts_match_hand_computed_numbers():
    model = Toy()
    assert count_parameters(model) == 190
    assert count_parameters(model.backbone) == 116  # frozen conv and BN affine count, BN stats do not
    info = model_param_info(model)
    assert info == {"params": 190, "parts": TOY_PARTS}
    assert sum(info["parts"].values()) == info["params"]


class Detector(nn.Module):
    """A model that splits its roi_head into finer parts with ``param_parts``."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 3)  # 9
        self.roi_head = nn.Module()
        self.roi_head.bbox_head = nn.ModuleList([nn.Linear(3, 4), nn.Linear(3, 4)])  # 32
        self.roi_head.mask_head = nn.Linear(4, 1)  # 5
        self.roi_head.extractor = nn.Identity()  # no parameters
        self.roi_head.scale = nn.Parameter(torch.ones(2))  # claimed by no part -> "(other)"

    def param_parts(self):
        return {
            "backbone": [self.backbone],
            "roi_head.bbox_head": ["roi_head.bbox_head"],
            "roi_head.mask_head": "roi_head.mask_head",
            "roi_head.extractor": ["roi_head.extractor"],
        }


def test_param_parts_split_heads():
    info = model_param_info(Detector())
    assert info == {
        "params": 48,
        "parts": {"backbone": 9, "roi_head.bbox_head": 32, "roi_head.mask_head": 5, "roi_head.extractor": 0,
                  "(other)": 2},
    }
    table = format_param_table(info, title="Detector")
    assert "roi_head.bbox_head" in table and "48" in table and table.splitlines()[0] == "Detector"


def test_param_parts_with_unknown_prefix_is_an_error():
    model = Detector()
    model.param_parts = lambda: {"roi_head.box_head": ["roi_head.box_head"]}
    with pytest.raises(ValueError, match="roi_head.box_head"):
        model_param_info(model)


def test_meta_device_counts_like_cpu():
    with torch.device("meta"):
        model = Toy()
    assert model_param_info(model) == {"params": 190, "parts": TOY_PARTS}


def _run(args, cwd):
    return subprocess.run([PYTHON, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _tool_main():
    """tools/model_info.py's main(), loaded in-process (a subprocess per test costs seconds of imports)."""
    return runpy.run_path(os.path.join(REPO, "tools", "model_info.py"))["main"]


def test_tool_json_is_one_line(tmp_path, monkeypatch, capfd):
    """--json with a stand-in build_model that also prints to stdout while building."""
    import vis.models

    def build_model(cfg):
        print("building", cfg["type"])  # noise that must not reach stdout
        return Toy()

    monkeypatch.setattr(vis.models, "build_model", build_model, raising=False)
    config = tmp_path / "toy.py"
    config.write_text("model = dict(type='Toy')\n")
    main = _tool_main()
    assert main([str(config), "--json"]) == 0
    out, err = capfd.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert json.loads(lines[0]) == {"params": 190, "parts": TOY_PARTS}
    assert "building Toy" in err
    assert main([str(config)]) == 0
    table = capfd.readouterr().out
    assert "Toy" in table.splitlines()[0] and "190" in table and "(other)" in table


def test_tool_bad_config_exits_2_with_one_line(tmp_path, capfd):
    main = _tool_main()
    assert main([str(tmp_path / "missing.py"), "--json"]) == 2
    out, err = capfd.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [f"error: config file not found: {tmp_path / 'missing.py'}"]
    no_model = tmp_path / "no_model.py"
    no_model.write_text("work_dir = 'x'\n")
    assert main([str(no_model)]) == 2
    assert capfd.readouterr().err.strip() == f"error: config {no_model} has no 'model' section"


def test_tool_counts_queryinst_r50_like_the_reference(tmp_path):
    """mmdet QueryInst R-50, 100 proposals: 172,688,808 parameters (reference_models.md §1.12).

    Run as a real subprocess: stdout must hold exactly the one JSON line.
    """
    try:
        from vis.models import build_model  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"vis.models.build_model is not available yet ({exc})")
    config = os.path.join(REPO, "configs", "_base_", "models", "queryinst_r50_fpn.py")
    proc = _run([os.path.join(REPO, "tools", "model_info.py"), config, "--json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    info = json.loads(lines[0])
    assert info["params"] == 172_688_808
    parts = info["parts"]
    assert sum(parts.values()) == info["params"]
    assert parts["backbone"] == 23_508_032  # ResNet-50 without fc, BN affine included
    # reference per stage: bbox_head 13,235,412, mask_head 11,066,320 (6 stages), when the model splits them
    if "roi_head.bbox_head" in parts:
        assert parts["roi_head.bbox_head"] == 6 * 13_235_412
        assert parts["roi_head.mask_head"] == 6 * 11_066_320
