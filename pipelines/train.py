"""Training entry point used by ``tools/train.py``: config -> work dir -> `build_trainer` (+ periodic evaluation)."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Union

log = logging.getLogger("vis.train")


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config file name without .py>`` (mmdet's convention)."""
    return os.path.join("work_dirs", os.path.splitext(os.path.basename(config_path))[0])


def _save_config_copy(cfg: Any, config_path: str, work_dir: str) -> None:
    """Keep the fully merged config next to the checkpoints, so a run can be reproduced or tested."""
    from vis.io.files import atomic_open

    target = os.path.join(work_dir, os.path.basename(config_path))
    try:
        text = cfg.pretty_text
    except Exception as exc:  # formatting (yapf) problems must not stop training
        log.warning(f"could not write a copy of the config to {target}: {exc}")
        return
    with atomic_open(target, "w") as f:
        f.write(text)


def train_from_config(
    config_path: str,
    work_dir: Optional[str] = None,
    resume: Union[bool, str] = False,
    load_from: Optional[str] = None,
    cfg_options: Optional[Union[Sequence[str], Mapping[str, Any]]] = None,
    amp: bool = False,
) -> Dict[str, Any]:
    """Load the config, pick the work dir (argument > ``cfg.work_dir`` > ``work_dirs/<config name>``) and train.

    ``load_from`` (argument > ``cfg.load_from``; a file, an http(s) URL or a model name of `vis.model_zoo`)
    initialises the weights; ``resume`` (True = newest
    checkpoint in the work dir, or a path) continues a run exactly. With ``data.val`` and
    ``runtime.eval_interval > 0`` the model is evaluated periodically. Returns ``Trainer.train()``'s result.
    """
    from vis.config import load_config

    cfg = load_config(config_path, cfg_options)
    work_dir = work_dir or cfg.get("work_dir") or default_work_dir(config_path)
    load_from = load_from or cfg.get("load_from")
    if load_from is not None:
        from vis.model_zoo import resolve_weights

        load_from = resolve_weights(load_from)  # a URL or a zoo name: fetched once (one download for all ranks)

    # Imported after the config is validated, so config mistakes are reported without loading torch.
    from vis.engine import dist
    from vis.engine.builder import build_trainer
    from vis.engine.trainer import preserved_rng

    from .evaluate import make_evaluator

    trainer = build_trainer(cfg, work_dir, resume=resume, load_from=load_from, amp=amp)
    if trainer.is_main:
        _save_config_copy(cfg, config_path, work_dir)
    data = cfg.get("data") or {}
    if data.get("val") and int(trainer.runtime["eval_interval"]) > 0:
        # Building the val set must not disturb the RNG state a resume has just restored.
        with preserved_rng():
            trainer.evaluator = make_evaluator(cfg)
    dist.barrier()
    return trainer.train()
