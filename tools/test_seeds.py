#!/usr/bin/env python
"""Evaluate one checkpoint on the held-out synthetic test splits of several generator seeds.

    python tools/test_seeds.py CONFIG CHECKPOINT [--seeds 0 1 2] [--data-root data/heldout] [--split test|val]
                               [--task images|videos] [--num N] [--cfg-options k=v ...] [--out report.json] [--json]

Videos (a VideoSegmenter config): YouTube-VIS AP/AR and identity switches per seed; images: COCO segm and
bbox AP. Prints one row per seed, the mean and the min–max range. Test splits that are missing under
<data-root>/seed<S> are generated first (about 5 s per seed). This is the number to report; choices are
made on val / valid (docs/learning_runs.md): --split val runs the same on the seeds' tuning splits, to compare
settings (e.g. --cfg-options tracker.init_score_thr=0.1) before the one run on test. Exits 2 with a one-line
message on bad input.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import add_model_option, add_runtime_options, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="One checkpoint on the test splits of several synthetic seeds.")
    parser.add_argument("config", nargs="?", help="config file")
    parser.add_argument("checkpoint", nargs="?",
                        help="checkpoint file (or a work dir / <work dir>/latest.pth, or an http(s) URL)")
    add_model_option(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="generator seeds (default 0 1 2)")
    parser.add_argument("--data-root", default="data/heldout", help="where seed<S>/ test splits live (default data/heldout)")
    parser.add_argument("--split", choices=["test", "val"], default="test",
                        help="test (default: where figures are reported) or val (the tuning splits)")
    parser.add_argument("--task", choices=["images", "videos"], default=None,
                        help="default: videos for a VideoSegmenter config, else images (an image model tracks "
                             "videos with QueryTracker)")
    parser.add_argument("--tracker", default=None, metavar="NAME",
                        help="videos: OnlineTracker (track head) or QueryTracker (query embeddings); default: the "
                             "config's, QueryTracker for an image model")
    parser.add_argument("--num", type=int, default=None,
                        help="images / videos per seed (default: the generator's size, test 500 / 50, val 200 / 20)")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    add_runtime_options(parser)
    parser.add_argument("--out", default=None, help="also write the report (per seed and summary) as JSON here")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line instead of a table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    def job():
        import json

        from pipelines.heldout import evaluate_seeds, format_report
        from vis.io.files import atomic_write_json, check_can_write

        from vis.options import RunOptions

        options = RunOptions.from_args(args).check()
        if args.out:
            check_can_write(args.out)
        report = evaluate_seeds(options.resolve(quiet=args.no_progress, required=True), seeds=args.seeds,
                                data_root=args.data_root, task=args.task, num_items=args.num, split=args.split,
                                progress=not args.no_progress)
        if args.out:
            atomic_write_json(args.out, report, indent=2)
        print(json.dumps(report) if args.json else format_report(report))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
