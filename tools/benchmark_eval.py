#!/usr/bin/env python
"""Evaluation at the real validation sets' size, beside the official code (pipelines/benchmark_eval.py).

    python tools/benchmark_eval.py --official-ytvis ~/cocoapi/PythonAPI/pycocotools --json
    python tools/benchmark_eval.py --videos 302 --tracks-per-video 10 --images 0        # YouTube-VIS only
    python tools/benchmark_eval.py --videos 0 --images 5000 --dets-per-image 100       # COCO only

YouTube-VIS: tools/eval_ytvis.py against youtubevos/cocoapi's ytvoseval (a clone of that repository; its
PythonAPI/pycocotools folder). COCO: tools/eval_coco.py against pycocotools' COCOeval. Prints the median wall time
and peak memory of each, and whether the metrics agree.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import print_figure, print_note, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="YouTube-VIS and COCO evaluation time and memory at scale.")
    parser.add_argument("--videos", type=int, default=302, help="YouTube-VIS videos (default 302; 0: skip)")
    parser.add_argument("--tracks-per-video", type=int, default=10, help="result tracks per video (default 10)")
    parser.add_argument("--images", type=int, default=5000, help="COCO images (default 5000; 0: skip)")
    parser.add_argument("--dets-per-image", type=int, default=100, help="COCO detections per image (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating YouTube-VIS runs of each (default 3)")
    parser.add_argument("--coco-repeats", type=int, default=1, help="alternating COCO runs of each (default 1)")
    parser.add_argument("--official-ytvis", default=None, metavar="DIR",
                        help="youtubevos/cocoapi's PythonAPI/pycocotools folder (ytvos.py, ytvoseval.py)")
    parser.add_argument("--work-dir", default="work/benchmark_eval", help="where the generated files go")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)

    def job():
        from pipelines.benchmark_eval import EvalPlan, benchmark_eval

        plan = EvalPlan(args.videos, args.tracks_per_video, args.images, args.dets_per_image, args.repeats,
                        args.coco_repeats, args.official_ytvis, args.work_dir)
        report = benchmark_eval(plan, on_figure=print_figure, on_note=print_note)
        if args.json:
            print(json.dumps(report))
        return report

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
