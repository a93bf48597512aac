#!/usr/bin/env python
"""Video instance segmentation on a YouTube-VIS (2019 / 2021 / 2022) or OVIS split: results.json + submission.zip,
and AP/AR with ground truth.

    python tools/test_vis.py CONFIG CKPT --ann data/ytvis_2019/valid.json --images data/ytvis_2019/valid/JPEGImages --out-dir out/
    python tools/test_vis.py CONFIG CKPT [--split val]     # the config's data.test (default) or data.val
    python tools/test_vis.py configs/queryinst_vis/queryinst_r50_fpn_ovis.py CKPT    # OVIS valid (same zip layout)
    torchrun --nproc_per_node=N tools/test_vis.py ...      # videos sharded across processes, same results
    python tools/test_vis.py configs/queryinst/queryinst_r50_fpn_1x_coco.py queryinst_r50_fpn_1x_coco_20210907_084916-5a8f1998.pth \
        --ann data/ytvis_2019/valid.json --out-dir out/      # zero-shot: a COCO model, the COCO -> YouTube-VIS class table

An image model (an official COCO checkpoint) tracks with QueryTracker on its query embeddings; its labels become
the annotation file's categories by the class table (COCO -> YouTube-VIS 2019 / 2021 / 2022, OVIS) or by name.

Figures are reported on data.test; tracker settings and other choices are made on data.val.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import CHECKPOINT_HELP, add_model_option, add_runtime_options, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="YouTube-VIS / OVIS inference, submission and evaluation.")
    parser.add_argument("config", nargs="?",
                        help="model config: a video model, or an image model (tracked by query embeddings)")
    parser.add_argument("checkpoint", nargs="?", help=CHECKPOINT_HELP)
    add_model_option(parser)
    parser.add_argument("--tracker", default=None, metavar="NAME",
                        help="OnlineTracker (track head) or QueryTracker (query embeddings); default: the config's, "
                             "QueryTracker for an image model")
    parser.add_argument("--split", choices=["test", "val"], default="test",
                        help="data.test (default; data.val when the config has none) or data.val")
    parser.add_argument("--ann", default=None, help="YouTube-VIS / OVIS JSON (default: the split's)")
    parser.add_argument("--images", default=None,
                        help="frame folder (default: from --ann's layout: JPEGImages next to it, OVIS's <split>/)")
    parser.add_argument("--out-dir", default="out", help="where results.json, submission.zip, metrics.json go")
    parser.add_argument("--top-k", type=int, default=None, help="keep the best K tracks per video")
    parser.add_argument("--score-thr", type=float, default=None,
                        help="detection score threshold of the tracker (replaces its score_thr and init_score_thr)")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    add_runtime_options(parser)
    args = parser.parse_args(argv)

    def job():
        from vis.options import RunOptions

        options = RunOptions.from_args(args).check()  # before torch is imported
        from pipelines.submission import test_vis_from_config

        return test_vis_from_config(options.resolve(required=True), ann_file=args.ann, img_dir=args.images,
                                    split=args.split, out_dir=args.out_dir, top_k=args.top_k)

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
