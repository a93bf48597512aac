import os
import subprocess
import sys

import pytest

from vis.config import build, load_config
from vis.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(path, text):
    path.write_text(text)
    return str(path)


def test_base_inheritance_and_overrides(tmp_path):
    (tmp_path / "_base_").mkdir()
    write(tmp_path / "_base_" / "m.py", "model = dict(type='A', width=4, depth=2)\n_root = 'x/'\ndata = dict(train=dict(ann_file=_root + 'a.json'))\n")
    cfg_path = write(tmp_path / "c.py", "_base_ = ['./_base_/m.py']\nmodel = dict(width=8)\n")
    cfg = load_config(cfg_path, ["model.depth=5", "data.train.ann_file=y.json"])
    assert cfg.model.width == 8 and cfg.model.depth == 5 and cfg.model.type == "A"
    assert cfg.data.train.ann_file == "y.json"


def test_unknown_top_level_key_is_one_line_error(tmp_path):
    cfg_path = write(tmp_path / "c.py", "model = dict(type='A')\nmodle = dict()\n")
    with pytest.raises(ConfigError, match="unknown config key 'modle'"):
        load_config(cfg_path)


def test_override_with_unknown_section(tmp_path):
    cfg_path = write(tmp_path / "c.py", "model = dict(type='A')\n")
    with pytest.raises(ConfigError, match="mdoel"):
        load_config(cfg_path, ["mdoel.width=3"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(cfg_path, ["model.width"])


def test_missing_and_broken_config(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.py"))
    bad = write(tmp_path / "bad.py", "model = dict(type='A'\n")
    with pytest.raises(ConfigError, match="cannot load config"):
        load_config(bad)


def test_build_checks_keys_against_signature():
    class Widget:
        def __init__(self, width, depth=2):
            self.width, self.depth = width, depth

    table = {"Widget": Widget}
    w = build(table, dict(type="Widget", width=3), "model")
    assert (w.width, w.depth) == (3, 2)
    with pytest.raises(ConfigError, match="unknown config key 'widht' in model 'Widget'"):
        build(table, dict(type="Widget", widht=3), "model")
    with pytest.raises(ConfigError, match="unknown model type 'Gadget'"):
        build(table, dict(type="Gadget"), "model")
    with pytest.raises(ConfigError, match="no 'type'"):
        build(table, dict(width=3), "model")


def test_repo_configs_load():
    for rel in ["configs/queryinst/queryinst_r50_fpn_1x_coco.py", "configs/shapes/queryinst_tiny_shapes.py"]:
        cfg = load_config(os.path.join(REPO, rel))
        assert cfg.model.type == "QueryInst"
