#!/usr/bin/env python
"""SOLQ's deformable attention: the one-call embedding_bag sampling against the official per-level grid_sample
formulation, alternated in one process (pipelines/benchmark_deformable.py).

    python tools/benchmark_deformable.py configs/solq/solq_r50_coco.py --size 360x640 --threads 2 --rounds 5

Prints the median predict time of each, their ratio, and how far apart their detections are.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import parse_size, print_figure, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Deformable attention: embedding_bag against grid_sample.")
    parser.add_argument("config", nargs="?", default="configs/solq/solq_r50_coco.py", help="a SOLQ config")
    parser.add_argument("--size", type=parse_size, default=(360, 640), help="HxW of the image (default 360x640)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="timed predicts of each, alternated (default 5)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)

    def job():
        from pipelines.benchmark_deformable import benchmark_deformable

        report = benchmark_deformable(args.config, args.size, args.threads, args.rounds, on_figure=print_figure)
        if args.json:
            print(json.dumps(report))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
