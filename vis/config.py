"""One way to load configs and build components from them.

Configs are mmengine-style python files (``_base_`` inheritance, ``--cfg-options k=v`` overrides).
Components are named by string in small explicit tables (one dict per kind, e.g.
``vis.models.SEGMENTERS``), never by import magic. `build` checks every key of a config dict against
the constructor's signature, so a typo is a one-line `ConfigError` naming the key, not a TypeError
from deep inside.
"""
from __future__ import annotations

import copy
import inspect
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from .errors import ConfigError

# Top-level sections a config may have. Anything else is a typo and is rejected.
TOP_LEVEL_KEYS = {
    "model",  # dict(type=..., ...) -> vis.models.build_model
    "data",  # dict(train=..., val=..., test=..., samples_per_gpu, workers_per_gpu)
    "optimizer",  # dict(type='AdamW', lr, weight_decay, backbone_lr_mult, clip_grad_norm)
    "schedule",  # dict(max_iters | max_epochs, warmup_iters, warmup_factor, milestones, gamma)
    "runtime",  # dict(seed, log_interval, checkpoint_interval, eval_interval, max_keep_ckpts, amp)
    "evaluation",  # dict(metrics=..., ...)
    "tracker",  # dict(type=..., ...) for video inference
    "recipe",  # list of stages for pipelines/recipe.py
    "work_dir",
    "load_from",
    "class_names",
}


def load_config(path: str, overrides: Optional[Iterable[str] | Mapping[str, Any]] = None):
    """Load a python config (with ``_base_``), apply ``k=v`` overrides, validate top-level keys.

    Returns an ``mmengine.Config`` (attribute and item access, ``.to_dict()``, ``.pretty_text``).
    """
    from mmengine.config import Config, DictAction

    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        cfg = Config.fromfile(path)
    except Exception as exc:  # syntax errors, missing _base_ files, ...
        raise ConfigError(f"cannot load config {path}: {_one_line(exc)}") from None
    if overrides:
        if not isinstance(overrides, Mapping):
            parsed: Dict[str, Any] = {}
            for item in overrides:
                if "=" not in item:
                    raise ConfigError(f"--cfg-options expects key=value, got '{item}'")
                key, value = item.split("=", 1)
                parsed[key] = DictAction._parse_iterable(value)
            overrides = parsed
        for key in overrides:
            _check_override_path(cfg, key)
        cfg.merge_from_dict(dict(overrides))
    # Names starting with '_' are helper variables of the config file itself (e.g. `_data_root`).
    unknown = sorted(k for k in set(cfg.keys()) - TOP_LEVEL_KEYS if not k.startswith("_"))
    if unknown:
        raise ConfigError(
            f"unknown config key '{unknown[0]}' in {path} (allowed top-level keys: {', '.join(sorted(TOP_LEVEL_KEYS))})"
        )
    return cfg


def _check_override_path(cfg, dotted: str) -> None:
    """An override may add a leaf key but its parent sections must exist (catches typos early)."""
    parts = dotted.split(".")
    if parts[0] not in TOP_LEVEL_KEYS:
        raise ConfigError(f"unknown config key '{parts[0]}' in --cfg-options {dotted}")
    node = cfg
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, (list, tuple)) and part.isdigit():
            node = node[int(part)]
            continue
        if not hasattr(node, "keys") or part not in node:
            raise ConfigError(f"unknown config key '{'.'.join(parts[: depth + 1])}' in --cfg-options {dotted}")
        node = node[part]


def to_plain(obj: Any) -> Any:
    """ConfigDict/tuple-heavy structures -> plain python dicts and lists (for checkpoints and JSON)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def check_kwargs(fn: Callable, kwargs: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError naming the first key that ``fn`` does not accept."""
    sig = inspect.signature(fn)
    params = sig.parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"]
    for key in kwargs:
        if key not in accepted:
            raise ConfigError(f"unknown config key '{key}' in {where} (accepted: {', '.join(accepted)})")


def build(table: Mapping[str, Callable], cfg: Mapping[str, Any], kind: str, **extra: Any) -> Any:
    """Build ``table[cfg['type']](**rest_of_cfg, **extra)`` with key checking.

    ``kind`` names the section in error messages ("model", "transform", "dataset", ...).
    """
    if cfg is None:
        raise ConfigError(f"missing {kind} config")
    cfg = dict(to_plain(cfg))
    if "type" not in cfg:
        raise ConfigError(f"{kind} config has no 'type' (known: {', '.join(sorted(table))})")
    type_name = cfg.pop("type")
    if type_name not in table:
        raise ConfigError(f"unknown {kind} type '{type_name}' (known: {', '.join(sorted(table))})")
    factory = table[type_name]
    kwargs = {**cfg, **extra}
    check_kwargs(factory, kwargs, f"{kind} '{type_name}'")
    return factory(**kwargs)


def build_list(table: Mapping[str, Callable], cfgs: Optional[List[Mapping[str, Any]]], kind: str) -> List[Any]:
    return [build(table, c, kind) for c in (cfgs or [])]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".strip()


def deepcopy_cfg(cfg: Any) -> Any:
    return copy.deepcopy(to_plain(cfg))
