"""Every shipped config loads (``_base_`` chains, known keys) and builds its model; every recipe names real configs."""
import glob
import os

import pytest
import torch

from pipelines.recipe import _check_stage
from vis.config import load_config
from vis.models import build_model

CONFIGS = sorted(p for p in glob.glob("configs/**/*.py", recursive=True) if "/_base_/" not in p)


def test_configs_are_found():
    assert len(CONFIGS) >= 20 and "configs/shapes/queryinst_tiny_shapes.py" in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, "configs"))
def test_config_loads_and_builds(path):
    cfg = load_config(path)
    if cfg.get("recipe") is not None:
        for index, stage in enumerate(cfg.recipe["stages"]):
            _check_stage(stage, index, path)
        return
    with torch.device("meta"):  # shapes and names only: no memory, no init cost
        model = build_model(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert cfg.get("data") is not None and cfg.get("schedule") is not None
