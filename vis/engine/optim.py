"""Optimizer and learning-rate schedule built from the ``optimizer`` and ``schedule`` config sections.

Follows the mmdet QueryInst recipe (reference_models.md §1.1): AdamW, backbone lr x 0.1, weight
decay on every parameter, L2 gradient clipping (applied by the trainer), linear warm-up from
``warmup_factor`` and step decay by ``gamma`` at milestones, all counted in iterations.
"""
from __future__ import annotations

import bisect
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn

from ..config import to_plain
from ..errors import ConfigError

OPTIMIZER_KEYS = {"type", "lr", "weight_decay", "betas", "eps", "backbone_lr_mult", "lr_mults", "clip_grad_norm"}
SCHEDULE_KEYS = {"max_iters", "max_epochs", "warmup_iters", "warmup_factor", "milestones", "gamma"}


def _check_keys(cfg: Mapping[str, Any], allowed: set, section: str) -> Dict[str, Any]:
    cfg = dict(to_plain(cfg or {}))
    for key in cfg:
        if key not in allowed:
            raise ConfigError(f"unknown config key '{key}' in {section} (accepted: {', '.join(sorted(allowed))})")
    return cfg


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel / DataParallel wrapper (or the model itself)."""
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model


def param_lr_mult(name: str, backbone_lr_mult: float, lr_mults: Mapping[str, float]) -> float:
    """lr multiplier of one parameter: the backbone mult for parameters of a ``backbone`` module (``backbone.*``,
    or ``segmenter.backbone.*`` inside a VideoSegmenter) times every matching substring mult."""
    mult = float(backbone_lr_mult) if "backbone" in name.split(".")[:-1] else 1.0
    for substring, value in lr_mults.items():
        if substring in name:
            mult *= float(value)
    return mult


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters, one param group per distinct lr multiplier.

    ``cfg``: ``type='AdamW'``, ``lr``, ``weight_decay`` (0.0001), ``betas`` ((0.9, 0.999)), ``eps`` (1e-8),
    ``backbone_lr_mult`` (1.0; applies to parameters of any module named ``backbone``), ``lr_mults``
    (``{'substring': mult}``, multiplied together when several match, e.g. SOLQ's
    ``{'reference_points': 0.1, 'sampling_offsets': 0.1}``), ``clip_grad_norm`` (read by the trainer).
    Frozen parameters (``requires_grad=False``) are left out. Each group records its ``lr_mult``.
    """
    cfg = _check_keys(cfg, OPTIMIZER_KEYS, "optimizer")
    opt_type = cfg.get("type", "AdamW")
    if opt_type != "AdamW":
        raise ConfigError(f"unknown optimizer type '{opt_type}' (known: AdamW)")
    if "lr" not in cfg:
        raise ConfigError("optimizer config needs 'lr'")
    lr = float(cfg["lr"])
    weight_decay = float(cfg.get("weight_decay", 1e-4))
    betas = tuple(float(b) for b in cfg.get("betas", (0.9, 0.999)))
    eps = float(cfg.get("eps", 1e-8))
    backbone_lr_mult = float(cfg.get("backbone_lr_mult", 1.0))
    lr_mults = dict(cfg.get("lr_mults") or {})

    groups: Dict[float, List[nn.Parameter]] = {}
    for name, param in unwrap_model(model).named_parameters():
        if not param.requires_grad:
            continue
        mult = param_lr_mult(name, backbone_lr_mult, lr_mults)
        groups.setdefault(mult, []).append(param)
    if not groups:
        raise ConfigError("the model has no trainable parameters (all frozen?)")
    param_groups = [
        {"params": params, "lr": lr * mult, "lr_mult": mult}
        for mult, params in sorted(groups.items(), key=lambda kv: -kv[0])
    ]
    return torch.optim.AdamW(param_groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def resolve_schedule(cfg: Mapping[str, Any], iters_per_epoch: int) -> Dict[str, Any]:
    """Schedule config -> iteration-based ``max_iters``, ``milestones``, ``warmup_iters``, ``warmup_factor``, ``gamma``.

    With ``max_epochs`` the milestones are epochs and are multiplied by ``iters_per_epoch``;
    with ``max_iters`` they are iterations. ``warmup_iters`` is always in iterations (as in mmdet).
    """
    cfg = _check_keys(cfg, SCHEDULE_KEYS, "schedule")
    has_iters, has_epochs = cfg.get("max_iters") is not None, cfg.get("max_epochs") is not None
    if has_iters == has_epochs:
        raise ConfigError("schedule needs exactly one of 'max_iters' or 'max_epochs'")
    milestones = [int(m) for m in (cfg.get("milestones") or [])]
    if has_epochs:
        max_iters = int(cfg["max_epochs"]) * int(iters_per_epoch)
        milestones = [m * int(iters_per_epoch) for m in milestones]
    else:
        max_iters = int(cfg["max_iters"])
    if max_iters <= 0:
        raise ConfigError(f"schedule has no iterations (max_iters={max_iters})")
    if milestones != sorted(milestones):
        raise ConfigError(f"schedule milestones must be increasing, got {cfg.get('milestones')}")
    warmup_factor = float(cfg.get("warmup_factor", 0.001))
    if not 0.0 < warmup_factor <= 1.0:
        raise ConfigError(f"schedule warmup_factor must be in (0, 1], got {warmup_factor}")
    return {
        "max_iters": max_iters,
        "milestones": milestones,
        "warmup_iters": int(cfg.get("warmup_iters", 0)),
        "warmup_factor": warmup_factor,
        "gamma": float(cfg.get("gamma", 0.1)),
    }


class WarmupStepSchedule:
    """Per-iteration lr: ``base_lr * lr_mult * warmup(i) * gamma ** (#milestones <= i)``.

    ``i`` is the 0-based index of the iteration about to run. Warm-up is linear from
    ``warmup_factor`` at ``i = 0`` to 1 at ``i = warmup_iters`` (mmengine ``LinearLR``). Call `step`
    after each optimizer step. The state is just the iteration counter, so resume is exact.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        milestones: Sequence[int] = (),
        gamma: float = 0.1,
        warmup_iters: int = 0,
        warmup_factor: float = 0.001,
        max_iters: Optional[int] = None,
    ):
        self.optimizer = optimizer
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = float(warmup_factor)
        self.max_iters = max_iters
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.iteration = 0
        self._apply()

    def factor(self, iteration: int) -> float:
        """Multiplier of the initial lr at 0-based ``iteration``."""
        factor = self.gamma ** bisect.bisect_right(self.milestones, iteration)
        if iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            factor *= self.warmup_factor + (1.0 - self.warmup_factor) * alpha
        return factor

    def _apply(self) -> None:
        factor = self.factor(self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def step(self) -> None:
        self.iteration += 1
        self._apply()

    def get_last_lr(self) -> List[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        return {"iteration": self.iteration}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self._apply()


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], iters_per_epoch: int) -> WarmupStepSchedule:
    """`WarmupStepSchedule` from the ``schedule`` config (see `resolve_schedule`); ``.max_iters`` is set."""
    resolved = resolve_schedule(cfg, iters_per_epoch)
    return WarmupStepSchedule(
        optimizer,
        milestones=resolved["milestones"],
        gamma=resolved["gamma"],
        warmup_iters=resolved["warmup_iters"],
        warmup_factor=resolved["warmup_factor"],
        max_iters=resolved["max_iters"],
    )


def clip_grad_norm(parameters, max_norm: Optional[float]) -> Optional[float]:
    """L2-clip the gradients to ``max_norm``; returns the total norm before clipping (None if disabled)."""
    if not max_norm or max_norm <= 0:
        return None
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm=float(max_norm), norm_type=2.0)
    return float(norm)


__all__ = [
    "build_optimizer",
    "build_scheduler",
    "resolve_schedule",
    "WarmupStepSchedule",
    "clip_grad_norm",
    "param_lr_mult",
    "unwrap_model",
]
