#!/usr/bin/env python
"""Streaming video inference figures: decode fps, model fps, tracker ms/frame, end-to-end fps, RSS over a long video.

    python tools/benchmark_video.py                                   # bundled demo model, 360x640 synthetic video
    python tools/benchmark_video.py --config configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py --long-frames 0
    python tools/benchmark_video.py --device cuda --amp               # on a GPU, float16 autocast
    python tools/benchmark_video.py --config CONFIG --device cuda --amp --batch-size 8 --compile --long-frames 0
    python tools/benchmark_video.py --config CONFIG --checkpoint CKPT --backend onnxruntime --onnx net_int8.onnx
    python tools/benchmark_video.py --json                            # one JSON line at the end

Without --checkpoint a --config runs with random weights (speed only). The synthetic video (default 5,000
frames) is written once under --work-dir and reused. What each figure means: pipelines/benchmark_video.py.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import add_model_option, add_runtime_options, parse_size, print_figure, print_note, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Speed and memory of streaming video inference.")
    parser.add_argument("--config", default=None, help="model config, video or image (default: the bundled demo model)")
    parser.add_argument("--tracker", default=None, metavar="NAME", help="OnlineTracker or QueryTracker (as run_video)")
    parser.add_argument("--checkpoint", default=None,
                        help="its checkpoint, a file or an http(s) URL (default with --config: random weights)")
    add_model_option(parser)
    parser.add_argument("--video", default=None, help="video to use (default: a synthetic one under --work-dir)")
    parser.add_argument("--size", type=parse_size, default=(360, 640), help="HxW of the synthetic video (360x640)")
    parser.add_argument("--frames", type=int, default=200, help="frames for the speed figures (default 200)")
    parser.add_argument("--long-frames", type=int, default=5000,
                        help="frames of the memory run (default 5000; 0 skips it)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    add_runtime_options(parser, compile_option=True)
    parser.add_argument("--batch-size", type=int, default=1,
                        help="frames per predict call, model-only and end to end (default 1; as run_video)")
    parser.add_argument("--score-thr", type=float, default=None, help="as tools/run_video.py")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for both model-only and end-to-end runs (default: run_video's, the "
                             "free cores less one unless OMP_NUM_THREADS is set)")
    parser.add_argument("--many-videos", type=int, default=0, metavar="N",
                        help="also run N short synthetic clips as one batch (memory after the 5th and the last video; "
                             "videos/s against one run_video process per clip); default 0: skip")
    parser.add_argument("--many-frames", type=int, default=20, help="frames per short clip (default 20)")
    parser.add_argument("--live-frames", type=int, default=0, metavar="N",
                        help="also track N frames of a live MPEG-TS stream served on 127.0.0.1 (memory at frame 100 "
                             "and at the end); default 0: skip")
    parser.add_argument("--repeats", type=int, default=3, help="model-only / end-to-end runs, alternated (default 3)")
    parser.add_argument("--work-dir", default="work/benchmark_video", help="synthetic video and outputs go here")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--json", action="store_true", help="also print every figure as one JSON line")
    args = parser.parse_args(argv)

    def job():
        from pipelines.benchmark_video import BenchmarkPlan, benchmark_video
        from vis.io.video import check_input
        from vis.options import RunOptions

        options = RunOptions.from_args(args).check(config_alone=True)
        plan = BenchmarkPlan(args.video, args.frames, args.long_frames, args.size, args.repeats, args.work_dir,
                             many_videos=args.many_videos, many_frames=args.many_frames,
                             live_frames=args.live_frames).check()
        if args.video is not None:
            check_input(args.video)
        report = benchmark_video(options, plan, on_figure=print_figure, on_note=print_note)
        if args.json:
            print(json.dumps(report))
        return report

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
