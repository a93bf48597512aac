#!/usr/bin/env python
"""Export a segmenter's per-frame network to ONNX and check it against PyTorch.

    python tools/export_onnx.py CONFIG CHECKPOINT out.onnx
    python tools/export_onnx.py CONFIG CHECKPOINT out_int8.onnx --int8 --calibration clip.mp4 [--calib-frames 32]
        [--int8-neck] [--int8-mask-head]
    python tools/run_video.py clip.mp4 --config CONFIG --checkpoint CHECKPOINT --backend onnxruntime --onnx out.onnx

The file holds backbone, neck and query heads for one image of any size (inputs ``image`` [1, 3, H, W], normalised
and padded, and ``image_size`` [1, 2]); selection, the masks of the kept detections, pasting and a track head
stay in PyTorch, so ``--backend onnxruntime`` needs the same config and checkpoint beside the file. The check runs
both on random images of other sizes than the traced one and prints each output's largest difference. ``--int8``
quantizes the ResNet trunk (the heads stay float32) with activation ranges from ``--calibration`` frames;
``--int8-neck`` adds the neck, ``--int8-mask-head`` QueryInst's mask head (a second file, NAME.mask_head.onnx,
which the first names and the runtime loads with it).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import add_model_option, parse_size, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Export a segmenter's per-frame network to ONNX.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="CONFIG CHECKPOINT OUT, or OUT with --model: the model config, its checkpoint (a file or "
                             "an http(s) URL) and the .onnx file to write")
    add_model_option(parser)
    parser.add_argument("--int8", action="store_true", help="int8 ResNet trunk (ONNX Runtime static quantization)")
    parser.add_argument("--int8-neck", action="store_true",
                        help="with --int8: the neck's convolutions (FPN; SOLQ's input projections) in int8 too "
                             "(docs/performance.md: faster, measure the AP)")
    parser.add_argument("--int8-mask-head", action="store_true",
                        help="with --int8: QueryInst's mask head (its convolutions) in int8 too, calibrated on the "
                             "RoIs kept on the calibration frames, written beside OUT as NAME.mask_head.onnx (keep "
                             "the two files together; docs/performance.md: faster, measure the AP)")
    parser.add_argument("--calibration", default=None, metavar="VIDEO_OR_DIR",
                        help="with --int8: frames to calibrate the activation ranges on (a video or a folder)")
    parser.add_argument("--calib-frames", type=int, default=32, help="calibration frames, spread over the input")
    parser.add_argument("--trace-size", type=parse_size, default=(320, 480), metavar="HxW",
                        help="the traced image's size (the graph takes any size; default 320x480)")
    parser.add_argument("--check-sizes", type=parse_size, nargs="+", default=[(360, 640), (480, 352)],
                        metavar="HxW", help="sizes of the random images the check runs (default 360x640 480x352)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads for the check")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--json", action="store_true", help="one JSON line: the file and the check")
    args = parser.parse_args(argv)
    if len(args.files) != (1 if args.model else 3):
        parser.error("give CONFIG CHECKPOINT OUT, or --model NAME OUT")
    config, checkpoint, args.out = [None, None, args.files[0]] if args.model else args.files

    def job():
        from vis.options import RunOptions

        options = RunOptions(model=args.model, config=config, checkpoint=checkpoint, cfg_options=args.cfg_options,
                             threads=args.threads).check()  # before torch is imported
        from pipelines.onnx_export import ExportPlan, run_export

        plan = ExportPlan(args.out, args.trace_size, args.int8, args.calibration, args.calib_frames,
                          args.check_sizes, args.int8_neck, args.int8_mask_head).check()
        return run_export(options.resolve(required=True), plan, as_json=args.json)

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
