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
        from vis.utils.benchmark import config_latencies

        for row in config_latencies(args.configs, args.sizes, runs=args.runs, device=args.device,
                                    threads=args.threads):
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"{row['model']:10s} {row['height']}x{row['width']:<5d} {args.device} "
                      f"median {row['median_s'] * 1000:8.1f} ms  min {row['min_s'] * 1000:8.1f} ms  "
                      f"({args.runs} runs, {row['threads']} threads)  {row['config']}", flush=True)

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
