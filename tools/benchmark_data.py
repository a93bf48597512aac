#!/usr/bin/env python
"""Training data at the real datasets' size: build time, the dataset's memory, the memory of a loader's workers as
they draw batches, and samples/s per worker (pipelines/benchmark_data.py).

    python tools/benchmark_data.py --dataset coco --workers 4 --batches 10 1000        # COCO train2017's size
    python tools/benchmark_data.py --dataset ytvis2021 --json                           # or ytvis2019, ovis
    python tools/benchmark_data.py --dataset coco --scale 0.05 --batches 10 200         # a quick look

The annotation files are generated once under --work-dir (annotations only; every image a link to one JPEG).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import print_figure, print_note, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Dataset memory and loader speed at the real datasets' size.")
    parser.add_argument("--dataset", default="coco", help="coco, ytvis2019, ytvis2021 or ovis (default coco)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real size (default 1)")
    parser.add_argument("--workers", type=int, default=4, help="loader worker processes (default 4)")
    parser.add_argument("--batches", type=int, nargs=2, default=(10, 1000), metavar=("A", "B"),
                        help="memory compared between these two batches (default 10 1000)")
    parser.add_argument("--batch-size", type=int, default=2, help="samples per batch (default 2)")
    parser.add_argument("--work-dir", default="work/benchmark_data", help="annotation files and image links")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)

    def job():
        from pipelines.benchmark_data import DataPlan, benchmark_data

        plan = DataPlan(args.dataset, args.scale, args.workers, tuple(args.batches), args.batch_size,
                        args.work_dir).check()
        report = benchmark_data(plan, on_figure=print_figure, on_note=print_note)
        if args.json:
            print(json.dumps(report))
        return report

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
