"""Print a model's parameter count, total and per part.

    python tools/model_info.py CONFIG [--json] [--cfg-options k=v ...]

Counts every nn.Parameter (frozen ones and BN affine included), never buffers, shared tensors once:
the convention of the papers' and mmdetection's parameter counts. With --json, stdout is exactly one
line: {"params": total, "parts": {name: count, ...}}.
"""
import argparse
import contextlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402
from vis.errors import VisError  # noqa: E402


def build_for_counting(model_cfg):
    """Build the model on the meta device (no memory, no init cost); fall back to CPU if it cannot."""
    import torch

    from vis.models import build_model

    try:
        with torch.device("meta"):
            return build_model(model_cfg)
    except VisError:
        raise
    except Exception:  # model code that needs real values at build time (e.g. .item()): build on CPU
        return build_model(model_cfg)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Count a model's parameters (total and per part).")
    parser.add_argument("config", help="model config file")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    args = parser.parse_args(argv)

    def job():
        from vis.config import load_config
        from vis.utils.model_info import format_param_table, model_param_info

        cfg = load_config(args.config, args.cfg_options)
        if cfg.get("model") is None:
            raise VisError(f"config {args.config} has no 'model' section")
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the result only
            model = build_for_counting(cfg.model)
        info = model_param_info(model)
        if args.json:
            print(json.dumps(info))
        else:
            print(format_param_table(info, title=f"{type(model).__name__} ({args.config})"))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
