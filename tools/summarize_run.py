#!/usr/bin/env python
"""Learning curve of a training run as a markdown table (from <work_dir>/metrics.jsonl).

    python tools/summarize_run.py work/tiny_shapes
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Print the evaluation curve of a training work dir.")
    parser.add_argument("work_dir")
    parser.add_argument("--keys", nargs="+", default=["bbox_mAP", "segm_mAP", "segm_mAP_50", "segm_mAP_75"])
    args = parser.parse_args(argv)

    def job():
        from vis.engine.logger import learning_curve_table, read_metrics

        print(learning_curve_table(read_metrics(args.work_dir), keys=args.keys))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
