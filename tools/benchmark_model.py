#!/usr/bin/env python
"""Per-image inference latency of one or more models (random weights) at given input sizes.

    python tools/benchmark_model.py configs/queryinst/queryinst_r50_fpn_1x_coco.py --sizes 360x640 800x1333
    python tools/benchmark_model.py CONFIG [CONFIG ...] --runs 5 --device cuda --threads 2 [--json]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import parse_size, run_tool  # noqa: E402
from vis.errors import ConfigError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Per-image predict() latency of models at given sizes.")
    parser.add_argument("configs", nargs="+", help="model config files")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(360, 640)], help="HxW input sizes")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size (after 1 warm-up)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="one JSON line per (config, size)")
    args = parser.parse_args(argv)

    def job():
        import torch

        from vis.config import load_config
        from vis.models import build_model
        from vis.utils.benchmark import measure_latency

        if args.threads:
            torch.set_num_threads(args.threads)
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda but no CUDA device is available")
        for path in args.configs:
            cfg = load_config(path)
            torch.manual_seed(0)
            model = build_model(cfg.model)
            for row in measure_latency(model, args.sizes, runs=args.runs, device=args.device):
                row = {"config": path, "model": type(model).__name__, "device": args.device,
                       "threads": torch.get_num_threads(), **row}
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    print(f"{row['model']:10s} {row['height']}x{row['width']:<5d} {args.device} "
                          f"median {row['median_s'] * 1000:8.1f} ms  min {row['min_s'] * 1000:8.1f} ms  "
                          f"({args.runs} runs, {row['threads']} threads)  {path}", flush=True)

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
