"""This project's state dicts written back in the official releases' layouts, for loading tests.

No trained weights can be downloaded here, so the official files are rebuilt from generated weights: the same key
names, container dicts and pickled objects as the releases (reference_models.md §1.12, §3.1, §4.5), so loading them
takes the code path a real release takes.
"""
import argparse

import torch

from vis.coco_classes import COCO_CLASSES, COCO_THING_IDS, NUM_COCO_ID_SLOTS


def to_mmdet_queryinst(state):
    """torchvision FPN names -> mmdet's ``neck.lateral_convs.{i}.conv.*`` / ``neck.fpn_convs.{i}.conv.*``."""
    out = {}
    for key, value in state.items():
        if key.startswith("neck."):
            block = "lateral_convs" if ".inner_blocks." in key else "fpn_convs"
            index, kind = key.split(".")[2], key.split(".")[-1]
            key = f"neck.{block}.{index}.conv.{kind}"
        out[key] = value
    return out


def to_detectron2_istr(state):
    """torchvision ResNet / FPN names -> detectron2's ``backbone.bottom_up.*`` / ``backbone.fpn_*``; ISTR v1's
    DynamicConv names (norm1, norm2, out_layer, norm3). FrozenBN has no ``num_batches_tracked``."""
    out = {}
    for key, value in state.items():
        if key.endswith(".num_batches_tracked"):
            continue
        name = key
        if key.startswith("neck."):
            block, level, _, tail = key.split(".")[1:]
            name = f"backbone.fpn_{'lateral' if block == 'inner_blocks' else 'output'}{int(level) + 2}.{tail}"
        elif key.startswith("backbone."):
            parts = key.split(".")
            if parts[1] in ("conv1", "bn1"):
                name = "backbone.bottom_up.stem.conv1." + ("weight" if parts[1] == "conv1" else "norm." + parts[2])
            else:
                stage, block, layer = int(parts[1][-1]) + 1, parts[2], parts[3]
                if layer == "downsample":
                    layer, tail = "shortcut", ("weight" if parts[4] == "0" else "norm." + parts[5])
                else:
                    tail = "weight" if layer.startswith("conv") else "norm." + parts[4]
                    layer = "conv" + layer[-1]
                name = f"backbone.bottom_up.res{stage}.{block}.{layer}.{tail}"
        else:
            for ours, theirs in (("norm_in", "norm1"), ("norm_out", "norm2"), ("fc_layer", "out_layer"),
                                 ("fc_norm", "norm3")):
                name = name.replace(f"inst_interact.{ours}.", f"inst_interact.{theirs}.")
        out[name] = value.clone()
    return out


def to_solq_release(state, seed=0):
    """80 contiguous class rows -> the release's 91 category-id slots (unused slots: random rows, as training
    leaves them)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if key.startswith("class_embed.") and value.shape[0] == len(COCO_THING_IDS):
            wide = torch.randn((NUM_COCO_ID_SLOTS,) + tuple(value.shape[1:]), generator=gen) - 5.0
            wide[list(COCO_THING_IDS)] = value
            value = wide
        out[key] = value
    return out


def mmdet2_file(state):
    """An mmdet 2.x checkpoint: state dict, meta with CLASSES and the config text, optimizer."""
    return {"state_dict": to_mmdet_queryinst(state), "optimizer": {"state": {}, "param_groups": []},
            "meta": {"mmdet_version": "2.18.0", "CLASSES": tuple(COCO_CLASSES), "epoch": 12, "iter": 87960,
                     "config": "model = dict(type='QueryInst')", "env_info": "sys.platform: linux"}}


def mmdet3_file(state):
    """An mmdet 3.x / mmengine checkpoint: dataset_meta in meta, a message hub holding mmengine HistoryBuffer
    objects and numpy scalars (non-tensor objects: only a full unpickle reads them), scheduler states."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    losses = HistoryBuffer()
    for value in (2.5, 2.1, 1.9):
        losses.update(value)
    return {"meta": {"dataset_meta": {"classes": tuple(COCO_CLASSES), "palette": [(220, 20, 60)] * 80},
                     "mmengine_version": "0.10.4", "epoch": 12, "iter": 87960, "seed": np.int64(2021),
                     "experiment_name": "queryinst_r50_fpn_1x_coco"},
            "state_dict": to_mmdet_queryinst(state),
            "message_hub": {"log_scalars": {"train/loss": losses}, "runtime_info": {"epoch": 12, "iter": 87960},
                            "resumed_keys": {"epoch": True}},
            "optimizer": {"state": {}, "param_groups": []}, "param_schedulers": [{"last_epoch": 12}]}


def detectron2_file(state):
    """A detectron2 ISTR checkpoint: ``{'model', 'trainer', 'iteration'}``."""
    return {"model": to_detectron2_istr(state), "trainer": {"hooks": {}}, "iteration": 269999}


def solq_file(state):
    """A SOLQ release: ``{'model', 'optimizer', 'lr_scheduler', 'epoch', 'args': argparse.Namespace}``."""
    args = argparse.Namespace(meta_arch="solq", backbone="resnet50", with_vector=True, with_box_refine=True,
                              masks=True, n_keep=256, gt_mask_len=128, vector_hidden_dim=1024, num_queries=300,
                              hidden_dim=384, lr=2e-4, epochs=50, lr_drop=40)
    return {"model": to_solq_release(state), "optimizer": {"state": {}, "param_groups": []},
            "lr_scheduler": {"last_epoch": 49}, "epoch": 49, "args": args}
