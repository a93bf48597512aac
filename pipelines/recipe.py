"""Training recipes: run stages in order, each starting from the previous stage's final checkpoint.

The field's recipe for video instance segmentation is COCO pretraining (image mode), optionally a
pseudo-video stage (pairs of augmented views of still images train the track head), then YouTube-VIS
finetuning of segmenter + track head, then inference on the validation videos. A recipe config names
the stages::

    recipe = dict(
        stages=[dict(name='coco', config='configs/...py', cfg_options=dict(...)), ...],
        load_from=None,              # weights for the first stage (optional)
        evaluate=True,               # run tools/test_vis on the last stage's data.test afterwards
    )
    work_dir = 'work/recipes/<name>'   # stage i trains in <work_dir>/<i>_<name>

Running the recipe again continues where it stopped: a stage whose work dir holds checkpoints resumes
(and is skipped when already finished).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from vis.config import check_kwargs, load_config, to_plain
from vis.errors import ConfigError

STAGE_KEYS = ("name", "config", "cfg_options")


def _check_stage(stage: Mapping[str, Any], index: int, recipe_path: str) -> Dict[str, Any]:
    stage = dict(to_plain(stage))
    unknown = [k for k in stage if k not in STAGE_KEYS]
    if unknown:
        raise ConfigError(f"unknown config key '{unknown[0]}' in recipe stage {index} of {recipe_path} "
                          f"(accepted: {', '.join(STAGE_KEYS)})")
    for key in ("name", "config"):
        if not stage.get(key):
            raise ConfigError(f"recipe stage {index} of {recipe_path} has no '{key}'")
    if not os.path.isfile(stage["config"]):
        raise ConfigError(f"recipe stage '{stage['name']}': config file not found: {stage['config']}")
    return stage


def _recipe_settings(stages: Sequence[Mapping[str, Any]], load_from: Optional[str] = None,
                     evaluate: bool = True) -> Dict[str, Any]:
    """The accepted keys of ``recipe = dict(...)`` (checked with the signature, like every config section)."""
    return {"stages": list(stages), "load_from": load_from, "evaluate": evaluate}


def run_recipe(recipe_path: str, work_dir: Optional[str] = None, cfg_options: Optional[Sequence[str]] = None,
               evaluate: Optional[bool] = None) -> Dict[str, Any]:
    """Train every stage of the recipe in order; returns {'checkpoints': {name: path}, 'metrics': {...}}."""
    from pipelines.train import train_from_config

    cfg = load_config(recipe_path, cfg_options)
    if cfg.get("recipe") is None:
        raise ConfigError(f"{recipe_path} has no 'recipe' section (is it a training config? use tools/train.py)")
    section = dict(to_plain(cfg.recipe))
    check_kwargs(_recipe_settings, section, "recipe")
    settings = _recipe_settings(**section)
    stages: List[Dict[str, Any]] = [_check_stage(s, i, recipe_path) for i, s in enumerate(settings["stages"])]
    if not stages:
        raise ConfigError(f"recipe {recipe_path} has no stages")
    work_dir = work_dir or cfg.get("work_dir") or os.path.join(
        "work_dirs", os.path.splitext(os.path.basename(recipe_path))[0])

    checkpoint = settings["load_from"]
    checkpoints: Dict[str, str] = {}
    for index, stage in enumerate(stages):
        stage_dir = os.path.join(work_dir, f"{index}_{stage['name']}")
        result = train_from_config(stage["config"], work_dir=stage_dir, resume=True, load_from=checkpoint,
                                   cfg_options=stage.get("cfg_options"))
        checkpoint = result["checkpoint"]
        checkpoints[stage["name"]] = checkpoint

    metrics: Dict[str, Any] = {}
    if settings["evaluate"] if evaluate is None else evaluate:
        from pipelines.submission import test_vis_from_config
        from vis.options import RunOptions

        last = stages[-1]
        options = RunOptions(config=last["config"], checkpoint=checkpoint, cfg_options=last.get("cfg_options"))
        metrics = test_vis_from_config(options, out_dir=os.path.join(work_dir, "eval"))
    return {"checkpoints": checkpoints, "metrics": metrics}
