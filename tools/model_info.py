"""Print a model's parameter count, total and per part.

    python tools/model_info.py CONFIG [--json] [--cfg-options k=v ...]

Counts every nn.Parameter (frozen ones and BN affine included), never buffers, shared tensors once:
the convention of the papers' and mmdetection's parameter counts. With --json, stdout is exactly one
line: {"params": total, "parts": {name: count, ...}}.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Count a model's parameters (total and per part).")
    parser.add_argument("config", help="model config file")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    args = parser.parse_args(argv)

    def job():
        from vis.utils.model_info import config_param_info, format_param_table

        model_type, info = config_param_info(args.config, args.cfg_options)
        print(json.dumps(info) if args.json else format_param_table(info, title=f"{model_type} ({args.config})"))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
