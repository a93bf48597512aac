"""Parameter counts the way the reference papers and mmdetection report them.

Counted: every ``nn.Parameter`` (trainable or frozen, BN affine weights included), each shared
(tied) tensor once. Not counted: buffers (BN running statistics, ``num_batches_tracked``, fixed
PCA components registered as buffers). For mmdet's QueryInst R-50 this gives 172,688,808.

Parts are the model's top-level children (backbone, neck, rpn_head, roi_head, ...) unless the model
defines ``param_parts() -> {name: [module or "dotted.prefix", ...]}`` to split finer, e.g.
``{"roi_head.bbox_head": ["roi_head.bbox_head"], "roi_head.mask_head": ["roi_head.mask_head"]}``.
Every parameter lands in exactly one part (the first that claims it; leftovers go to "(other)"),
so the parts always add up to the total.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Tuple, Union

from torch import nn

OTHER = "(other)"


def count_parameters(module: nn.Module) -> int:
    """Number of scalars in the module's parameters; shared tensors counted once, buffers never."""
    seen = set()
    total = 0
    for param in module.parameters():  # parameters() already skips duplicates; the set makes it explicit
        if id(param) not in seen:
            seen.add(id(param))
            total += param.numel()
    return total


def _named_unique_parameters(model: nn.Module) -> List[Tuple[str, nn.Parameter]]:
    """(first name, parameter) for each distinct parameter, in registration order."""
    return list(model.named_parameters(remove_duplicate=True))


def _part_specs(model: nn.Module) -> Dict[str, List[Union[nn.Module, str]]]:
    custom = getattr(model, "param_parts", None)
    if callable(custom):
        specs = custom()
        return {str(name): list(v) if isinstance(v, (list, tuple)) else [v] for name, v in specs.items()}
    # top-level children without parameters (matchers, RoI extractors) would only add empty rows
    return {name: [child] for name, child in model.named_children() if count_parameters(child) > 0}


def _claims(spec: Union[nn.Module, str], model: nn.Module) -> Iterable[nn.Parameter]:
    """Parameters a part spec refers to: a module's own parameters, or those under a dotted prefix."""
    if isinstance(spec, nn.Module):
        return list(spec.parameters())
    prefix = str(spec).rstrip(".")
    named = model.named_parameters(remove_duplicate=False)
    found = [p for name, p in named if name == prefix or name.startswith(prefix + ".")]
    if not found:
        try:
            model.get_submodule(prefix)  # an existing module without parameters is a legitimate empty part
        except AttributeError:
            raise ValueError(f"param_parts names '{prefix}', which is neither a parameter nor a submodule") from None
    return found


def model_param_info(model: nn.Module) -> Dict[str, object]:
    """``{"params": total, "parts": {name: count, ...}}``; the parts sum to the total."""
    specs = _part_specs(model)
    owner: Dict[int, str] = {}
    for part_name, items in specs.items():
        for spec in items:
            for param in _claims(spec, model):
                owner.setdefault(id(param), part_name)
    parts: Dict[str, int] = {name: 0 for name in specs}
    total = 0
    for _, param in _named_unique_parameters(model):
        total += param.numel()
        part = owner.get(id(param), OTHER)
        parts[part] = parts.get(part, 0) + param.numel()
    if parts.get(OTHER) == 0:
        del parts[OTHER]
    return {"params": total, "parts": parts}


def format_param_table(info: Dict[str, object], title: str = "") -> str:
    """A readable table: one row per part with its count and share, then the total."""
    parts: Dict[str, int] = dict(info["parts"])  # type: ignore[arg-type]
    total = int(info["params"])  # type: ignore[arg-type]
    rows = [(name, count) for name, count in parts.items()] + [("total", total)]
    name_width = max(len("part"), *(len(name) for name, _ in rows))
    count_width = max(len("params"), *(len(f"{count:,}") for _, count in rows))
    lines = [title] if title else []
    lines.append(f"{'part'.ljust(name_width)}  {'params'.rjust(count_width)}  {'share':>6}  {'M':>8}")
    lines.append("-" * (name_width + count_width + 20))
    for name, count in rows:
        if name == "total":
            lines.append("-" * (name_width + count_width + 20))
        share = 100.0 * count / total if total else 0.0
        lines.append(f"{name.ljust(name_width)}  {count:>{count_width},}  {share:5.1f}%  {count / 1e6:8.2f}")
    return "\n".join(lines)


def build_for_counting(model_cfg) -> nn.Module:
    """Build the model on the meta device (no memory, no init cost); fall back to CPU if it cannot."""
    import torch

    from ..errors import VisError
    from ..models import build_model

    try:
        with torch.device("meta"):
            return build_model(model_cfg)
    except VisError:
        raise
    except Exception:  # model code that needs real values at build time (e.g. .item()): build on CPU
        return build_model(model_cfg)


def config_param_info(config: str, cfg_options=None) -> Tuple[str, Dict]:
    """A config file's model -> (its class name, `model_param_info`); the build's own prints go to stderr so that
    stdout keeps the result only."""
    import contextlib
    import sys

    from ..config import load_config
    from ..errors import VisError

    cfg = load_config(config, cfg_options)
    if cfg.get("model") is None:
        raise VisError(f"config {config} has no 'model' section")
    with contextlib.redirect_stdout(sys.stderr):
        model = build_for_counting(cfg.model)
    return type(model).__name__, model_param_info(model)
