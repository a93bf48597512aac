"""Evaluate a checkpoint on a config's test (or val) set, or write its COCO results.

    python tools/test.py CONFIG CHECKPOINT [--split test|val] [--ann JSON --images DIR] [--out results.json]
                         [--format-only] [--cfg-options k=v ...] [--device cpu|cuda]
    torchrun --nproc_per_node=N tools/test.py CONFIG CHECKPOINT ...

Runs the config's data.test (the split figures are reported on; --split val: data.val, where choices are
made). Prints pycocotools' summary and a bbox/segm AP table. --format-only skips evaluation and only writes
--out (for splits without public annotations).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="COCO bbox/segm evaluation of a checkpoint.")
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--split", choices=["test", "val"], default="test",
                        help="data.test (default; data.val when the config has none) or data.val")
    parser.add_argument("--ann", default=None, help="COCO annotation JSON instead of the split's (needs --images)")
    parser.add_argument("--images", default=None, help="image folder for --ann")
    parser.add_argument("--out", default=None, help="write the COCO results (JSON list) to this file")
    parser.add_argument("--format-only", action="store_true", help="only write --out, do not evaluate")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    args = parser.parse_args(argv)
    from pipelines.evaluate import test_from_config

    return run_tool(lambda: test_from_config(
        args.config,
        args.checkpoint,
        cfg_options=args.cfg_options,
        format_only=args.format_only,
        out=args.out,
        device=args.device,
        split=args.split,
        ann_file=args.ann,
        img_dir=args.images,
    ))


if __name__ == "__main__":
    sys.exit(main())
