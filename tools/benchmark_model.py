#!/usr/bin/env python
"""Per-image predict() latency of one or more models at given input sizes, per part of inference.

    python tools/benchmark_model.py configs/queryinst/queryinst_r50_fpn_1x_coco.py --sizes 360x640 800x1333
    python tools/benchmark_model.py CONFIG [CONFIG ...] [--runs 7] [--warmup 2] [--device cpu|cuda] [--threads N]
        [--score-thr T] [--no-fold] [--amp] [--compile] [--batch-size N] [--backend onnxruntime [--onnx FILE]]
        [--json]
    python tools/benchmark_model.py CONFIG --checkpoint CKPT --sizes 360x640     # trained weights, one config

For each (config, size): warm-up calls, then timed calls of ``model.predict`` on one seeded random image (or
``--batch-size`` of them: the row adds ``per_frame_ms``); the whole call and each part the model marks
(preprocess, backbone, neck, heads, masks, track_head, paste; "post" is the rest: top-k, selection, rescaling,
the Instances) as median, min and max in ms, the detections returned and predict / (backbone + neck). ``--json``: exactly one JSON line per (config, size) on stdout.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import add_model_option, add_runtime_options, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Per-image predict() latency of models at given sizes, per part.")
    parser.add_argument("configs", nargs="*", help="model config files (or --model NAME)")
    add_model_option(parser)
    parser.add_argument("--sizes", nargs="+", default=["360x640"], metavar="HxW",
                        help="input sizes, batch 1 (default 360x640)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="images per predict call (default 1); the row adds the time per frame")
    parser.add_argument("--runs", type=int, default=7,
                        help="timed runs per (config, size), default 7; the medians need at least 5")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before them (default 2)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--checkpoint", default=None,
                        help="time this checkpoint's model, a file or an http(s) URL (exactly one config; default: "
                             "seeded random weights)")
    parser.add_argument("--score-thr", type=float, default=None,
                        help="passed to predict: detections below it get no mask. With random weights the scores "
                             "mean nothing, so the default is no threshold: every top-k detection gets a mask, "
                             "the worst case")
    parser.add_argument("--no-fold", action="store_true",
                        help="keep the BatchNorms (default: folded into the convolutions, as vis.inference.load_model)")
    add_runtime_options(parser, compile_option=True)
    parser.add_argument("--json", action="store_true", help="one JSON line per (config, size), nothing else")
    args = parser.parse_args(argv)

    if not args.configs and not args.model:
        parser.error("give config files, or --model NAME")

    def job():
        from vis.model_zoo import resolve_model
        from vis.utils.benchmark import LatencyOptions, config_latencies, latency_header, latency_table, parse_sizes

        config, checkpoint = resolve_model(args.model, args.configs[0] if args.configs else None, args.checkpoint)
        configs = [config] if args.model else args.configs
        measure = LatencyOptions(runs=args.runs, warmup=args.warmup, score_thr=args.score_thr,
                                 batch_size=args.batch_size)
        rows = config_latencies(configs, parse_sizes(args.sizes), measure, device=args.device, threads=args.threads,
                                checkpoint=checkpoint, fold=not args.no_fold, backend=args.backend, amp=args.amp,
                                onnx=args.onnx, compiled=args.compile)
        for index, row in enumerate(rows):
            if args.json:
                print(json.dumps(row), flush=True)
                continue
            if index == 0:
                print(latency_header(row))
            print(latency_table(row), flush=True)

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
