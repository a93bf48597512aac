"""Official release files load unchanged and predict what the project's own file of the same weights predicts.

Each release layout is rebuilt from generated weights (tests/official_layouts.py): mmdet 2.x and 3.x QueryInst
files (meta with class names; the 3.x message hub holds mmengine objects), a detectron2 ISTR file, a SOLQ release
with an ``argparse.Namespace`` and the 91-slot head. They go through `vis.inference.load_video_model`, the loader
of run_video / test_vis, with tiny configs of the official key layout.
"""
import os

import numpy as np
import pytest
import torch

from official_layouts import detectron2_file, mmdet2_file, mmdet3_file, solq_file
from vis.coco_classes import COCO_CLASSES, COCO_THING_IDS, UNUSED_COCO_ID_SLOTS
from vis.engine.checkpoint import save_checkpoint
from vis.engine.loading import load_checkpoint

TINY_MODELS = {
    "QueryInst": "dict(type='QueryInst', num_classes=80, num_proposals=10, num_stages=2, hidden_dim=32, num_heads=4, "
                 "feedforward_channels=64, dynamic_channels=8, num_reg_fcs=1, mask_num_convs=1, max_per_img=15, "
                 "backbone=dict(depth=18, frozen_stages=1, norm_eval=True))",
    "ISTR": "dict(type='ISTR', num_classes=80, num_proposals=10, num_stages=2, hidden_dim=32, num_heads=4, "
            "feedforward_channels=64, dynamic_channels=8, num_cls_fcs=1, num_reg_fcs=1, num_mask_fcs=1, "
            "max_per_img=15, backbone=dict(depth=18, frozen_stages=1, norm='frozen_bn'), mask_codec='{codec}')",
    "SOLQ": "dict(type='SOLQ', num_classes=80, num_queries=12, hidden_dim=64, num_heads=4, enc_layers=1, dec_layers=2, "
            "dim_feedforward=64, dropout=0.0, vector_hidden_dim=64, max_per_img=15, "
            "backbone=dict(depth=18, frozen_stages=1, norm='frozen_bn'))",
}
SOLQ_91 = TINY_MODELS["SOLQ"].replace("num_classes=80,", "num_classes=91, "
                                      "unused_labels=[0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83],")


def write_config(path, model, extra=""):
    path.write_text(f"model = {model}\n{extra}"
                    "data = dict(test=dict(type='CocoDataset', ann_file='unused.json', img_dir='unused/', "
                    "test_mode=True, transforms=[dict(type='Resize', scale=(160, 96), keep_ratio=True)]))\n")
    return str(path)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    from inputs import rectangle_masks
    from vis.models.pca_codec import fit_pca_codec, save_codec

    path = str(tmp_path_factory.mktemp("codec") / "pca60.pth")
    save_codec(path, fit_pca_codec([rectangle_masks(num=200)], dim=60, seed=0))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory, codec):
    """kind -> (config path, own checkpoint path, state dict) of a randomly initialised tiny 80-class model."""
    from vis.config import load_config
    from vis.models import build_model

    root = tmp_path_factory.mktemp("official")
    out = {}
    for kind, model_text in TINY_MODELS.items():
        config = write_config(root / f"{kind.lower()}.py", model_text.format(codec=codec), "class_names = 'coco'\n")
        torch.manual_seed(0)
        model = build_model(load_config(config).model)
        model.init_weights()  # ISTR: the PCA codec into its buffers (the release carries them too)
        with torch.no_grad():  # non-trivial BN statistics and class biases, so a wrong row or key shows
            for name, buffer in model.named_buffers():
                if name.endswith("running_var"):
                    buffer.uniform_(0.5, 2.0)
                elif name.endswith("running_mean"):
                    buffer.normal_(0.0, 0.1)
        out[kind] = (config, save_checkpoint(str(root / f"{kind.lower()}_own.pth"), model), model.state_dict())
    return out


def image():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, size=(90, 120, 3), dtype=np.uint8)
    frame[20:60, 30:90] = (220, 40, 40)
    return frame


def predict(config, checkpoint, **kwargs):
    from vis.inference import build_preprocess, load_video_model
    from vis.options import RunOptions

    loaded = load_video_model(RunOptions(config=config, checkpoint=checkpoint, **kwargs))
    frame = image()
    with torch.no_grad():
        (instances,) = loaded.model.predict([build_preprocess(loaded.cfg)(frame)], orig_sizes=[frame.shape[:2]])
    return instances, loaded


def assert_same(a, b, labels_b=None):
    assert len(a) == len(b) > 0
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.scores, b.scores)
    assert torch.equal(a.masks, b.masks) and torch.equal(a.embeds, b.embeds)
    assert torch.equal(a.labels if labels_b is None else labels_b(a.labels), b.labels)


@pytest.mark.parametrize("layout", ["mmdet2", "mmdet3"])
def test_mmdet_queryinst_files_load_cleanly_and_predict_the_same(models, tmp_path, layout):
    config, own, state = models["QueryInst"]
    path = str(tmp_path / f"queryinst_{layout}.pth")
    torch.save((mmdet2_file if layout == "mmdet2" else mmdet3_file)(state), path)
    from vis.models import build_model
    from vis.config import load_config

    report = load_checkpoint(build_model(load_config(config).model), path)
    assert not report.missing and not report.unexpected and not report.mismatched
    assert report.class_names == list(COCO_CLASSES)  # meta CLASSES (2.x) / dataset_meta.classes (3.x)
    ours, _ = predict(config, own)
    theirs, loaded = predict(config, path)
    assert_same(ours, theirs)
    assert loaded.class_names == list(COCO_CLASSES) and loaded.tracker_cfg["type"] == "QueryTracker"


def test_detectron2_istr_file_loads_cleanly_and_predicts_the_same(models, tmp_path):
    config, own, state = models["ISTR"]
    path = str(tmp_path / "model_final.pth")
    release = detectron2_file(state)
    assert any(k.startswith("backbone.bottom_up.res2.") for k in release["model"])
    torch.save(release, path)
    from vis.models import build_model
    from vis.config import load_config

    report = load_checkpoint(build_model(load_config(config).model), path)
    assert not report.missing and not report.unexpected and not report.mismatched
    ours, _ = predict(config, own)
    theirs, loaded = predict(config, path)
    assert_same(ours, theirs)
    assert loaded.class_names == list(COCO_CLASSES)  # no names in the file: the config's 'coco' table


def test_solq_release_loads_into_80_and_91_slot_configs(models, tmp_path):
    """The release ({'model', ..., 'args': Namespace}, 91 slots): into the 80-class config the used rows are taken
    and the report says so; the 91-slot config loads it unchanged, emits COCO category ids, never an unused slot."""
    config, own, state = models["SOLQ"]
    path = str(tmp_path / "solq_r50_final.pth")
    torch.save(solq_file(state), path)
    from vis.models import build_model
    from vis.config import load_config

    report = load_checkpoint(build_model(load_config(config).model), path)
    assert not report.missing and not report.unexpected and not report.mismatched
    assert "rows of the 80 COCO categories taken from the checkpoint's 91 category-id slots" in report.summary()
    ours, _ = predict(config, own)
    theirs, loaded_80 = predict(config, path)
    assert_same(ours, theirs)
    assert loaded_80.notes == ["solq_r50_final.pth: class head: the rows of the 80 COCO categories taken from the "
                               "checkpoint's 91 category-id slots"]  # printed by run_video / test_vis

    config_91 = write_config(tmp_path / "solq_91.py", SOLQ_91, "class_names = 'coco_id_slots'\n")
    report_91 = load_checkpoint(build_model(load_config(config_91).model), path)
    assert not report_91.missing and not report_91.mismatched and not report_91.notes
    slots, loaded = predict(config_91, path)
    assert loaded.notes == []
    ids = torch.tensor(COCO_THING_IDS)
    assert_same(ours, slots, labels_b=lambda labels: ids[labels])  # label 80-way i == slot COCO_THING_IDS[i]
    assert not set(slots.labels.tolist()) & set(UNUSED_COCO_ID_SLOTS)
    assert loaded.class_names[1] == "person" and loaded.class_names[90] == "toothbrush"
    assert loaded.class_names[12] == "N/A"


def test_official_solq_file_tracks_a_video_with_coco_names(models, tmp_path):
    """run_video on the release file with the 91-slot config: every name written is a COCO class name."""
    import json

    from pipelines.video import run_video
    from vis import RunOptions
    from vis.data.synthetic import write_demo_video

    config, _, state = models["SOLQ"]
    path = str(tmp_path / "solq_r50_final.pth")
    torch.save(solq_file(state), path)
    config_91 = write_config(tmp_path / "solq_91.py", SOLQ_91, "class_names = 'coco_id_slots'\n")
    clip = str(tmp_path / "clip.mp4")
    write_demo_video(clip, num_frames=6, height=64, width=80, seed=1)
    summary = run_video(clip, RunOptions(config=config_91, checkpoint=path, device="cpu", score_thr=0.0),
                        out_dir=str(tmp_path / "out"), progress=False, outputs=["frames", "ytvis"])
    assert summary["tracker"] == "QueryTracker" and summary["frames"] == 6 and summary["tracks"] > 0
    with open(tmp_path / "out" / "clip.frames.jsonl") as f:
        names = {inst["class_name"] for line in f for inst in json.loads(line)["instances"]}
    assert names and names <= set(COCO_CLASSES)


def test_official_configs_name_coco_classes_and_the_query_tracker():
    """The COCO configs of the model zoo (README) run on videos as they are: COCO names, QueryTracker."""
    from vis.inference import class_names_for
    from vis.config import load_config
    from vis.models import build_model

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for name, slots in (("queryinst/queryinst_r50_fpn_1x_coco.py", 80), ("istr/istr_r50_fpn_3x_coco.py", 80),
                        ("solq/solq_r50_coco.py", 80), ("solq/solq_r50_91slots_coco.py", 91)):
        cfg = load_config(os.path.join(repo, "configs", name))
        assert cfg.tracker["type"] == "QueryTracker", name
        with torch.device("meta"):
            model = build_model(cfg.model)
        names = class_names_for(model, cfg, None)
        assert len(names) == slots and "class 23" not in names and names.count("person") == 1, name


def test_a_file_of_another_segmenter_is_named_in_the_error(models, tmp_path):
    """A SOLQ release given with a QueryInst config (and the reverse): one line naming both architectures."""
    from vis.errors import CheckpointError
    from vis.inference import load_video_model
    from vis.options import RunOptions

    solq = str(tmp_path / "solq_r50_final.pth")
    torch.save(solq_file(models["SOLQ"][2]), solq)
    with pytest.raises(CheckpointError, match=r"does not fit model QueryInst: it holds a SOLQ model, the config "
                                              r"builds QueryInst \(\d+ of \d+ keys missing\)"):
        load_video_model(RunOptions(config=models["QueryInst"][0], checkpoint=solq))
    mmdet = str(tmp_path / "queryinst.pth")
    torch.save(mmdet2_file(models["QueryInst"][2]), mmdet)
    with pytest.raises(CheckpointError, match="it holds a QueryInst model, the config builds ISTR"):
        load_video_model(RunOptions(config=models["ISTR"][0], checkpoint=mmdet))
