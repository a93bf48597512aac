"""COCO bbox / segm evaluation of a results file, as pycocotools' COCOeval computes it (mmdetection's metric names).

    python tools/eval_coco.py --ann instances_val2017.json --results results.json [--types bbox segm] [--json]

The results are the official COCO format (what ``tools/test.py`` writes): one entry per detection with image_id,
category_id, score, bbox (xywh) and, for segm, a compressed RLE ``segmentation``. Prints the COCO summary, or with
--json one JSON line of the metrics as fractions. Reads JSON only: torch is not imported.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="COCO bbox / segm AP of a results file.")
    parser.add_argument("--ann", required=True, help="COCO ground-truth JSON (instances_*.json)")
    parser.add_argument("--results", required=True, help="results JSON: a list of detections")
    parser.add_argument("--types", nargs="+", choices=["bbox", "segm"], default=["bbox", "segm"],
                        help="metrics to compute (default: bbox segm)")
    parser.add_argument("--json", action="store_true", help="print one JSON line of fractions instead of the table")
    args = parser.parse_args(argv)
    from vis.evaluation.coco_eval import evaluate_coco, format_table, read_coco_results

    def job():
        metrics = evaluate_coco(args.ann, read_coco_results(args.results), iou_types=args.types)
        print(json.dumps(dict(metrics)) if args.json else metrics.summary + format_table(metrics))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
