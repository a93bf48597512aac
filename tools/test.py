"""Evaluate a checkpoint on a config's test (or val) set, or write its COCO results.

    python tools/test.py CONFIG CHECKPOINT [--split test|val] [--ann JSON --images DIR] [--out results.json]
    python tools/test.py --model queryinst_r50_fpn_1x_coco --split val   # an official release by name
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

from vis.cli import add_model_option, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="COCO bbox/segm evaluation of a checkpoint.")
    parser.add_argument("config", nargs="?", help="config file")
    parser.add_argument("checkpoint", nargs="?",
                        help="checkpoint: a file, a work dir (its newest checkpoint) or an http(s) URL (cached)")
    add_model_option(parser)
    parser.add_argument("--split", choices=["test", "val"], default="test",
                        help="data.test (default; data.val when the config has none) or data.val")
    parser.add_argument("--ann", default=None, help="COCO annotation JSON instead of the split's (needs --images)")
    parser.add_argument("--images", default=None, help="image folder for --ann")
    parser.add_argument("--out", default=None, help="write the COCO results (JSON list) to this file")
    parser.add_argument("--format-only", action="store_true", help="only write --out, do not evaluate")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    args = parser.parse_args(argv)

    def job():
        from vis.options import RunOptions

        options = RunOptions.from_args(args).check()  # before torch is imported
        from pipelines.evaluate import test_from_config

        return test_from_config(options.resolve(required=True), split=args.split, ann_file=args.ann,
                                img_dir=args.images, format_only=args.format_only, out=args.out)

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
