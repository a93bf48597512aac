#!/usr/bin/env python
"""Track the instances of videos and write an annotated mp4, YouTube-VIS results, per-frame JSONL and MOT text.

    python tools/run_video.py clip.mp4                  # demo model -> out/clip.{vis.mp4,ytvis.json,frames.jsonl,mot.txt}
    python tools/run_video.py frames/ --fps 25          # a folder of image frames, sorted by name
    python tools/run_video.py rtsp://cam.local/live --reconnect 10   # a stream (or 0: a webcam); Ctrl-C ends it
    python tools/run_video.py 'clips/*.mp4' --out-dir out            # many videos: out/<stem>/..., out/runs.jsonl
    torchrun --nproc_per_node 4 tools/run_video.py videos.txt        # the same, shared by 4 processes / GPUs
    python tools/run_video.py clip.mp4 --config C --checkpoint K --start 100 --end 400 --score-thr 0.3 --no-video
    python tools/run_video.py clip.mp4 --model queryinst_r50_fpn_1x_coco   # an official COCO model by name (downloaded once)
    python tools/run_video.py clip.mp4 --config configs/queryinst/queryinst_r50_fpn_1x_coco.py \
        --checkpoint queryinst_r50_fpn_1x_coco_20210907_084916-5a8f1998.pth      # the same from a file you have

Output formats: vis/io/sinks.py. Ctrl-C (exit 130) and SIGTERM (exit 143) keep what was done as ``*.partial.*``
files; temp files of a run that was killed outright are removed by the next run into the same folder.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import CHECKPOINT_HELP, add_model_option, add_runtime_options, run_tool  # noqa: E402
from vis.io.video import DEFAULT_RECONNECT, DEFAULT_TIMEOUT  # noqa: E402

OUTPUTS = ("vis", "ytvis", "frames", "mot")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Video instance segmentation and tracking of one video.")
    parser.add_argument("input", help="a video file, a folder of image frames, a webcam (0 or /dev/video0), a stream "
                                      "URL (rtsp, rtmp, http(s), tcp, udp, srt); or many videos: a quoted glob, a "
                                      "folder of video files, a .txt list of paths or URLs")
    add_model_option(parser)
    parser.add_argument("--config", default=None,
                        help="model config: a video model, or an image model such as an official COCO release "
                             "(README, model zoo); default: the bundled demo model")
    parser.add_argument("--checkpoint", default=None, help=CHECKPOINT_HELP)
    parser.add_argument("--tracker", default=None, metavar="NAME",
                        help="OnlineTracker (a video model's track head) or QueryTracker (query embeddings, no video "
                             "training); default: the config's tracker, else the track head if the model has one")
    parser.add_argument("--out-dir", default="out",
                        help="output folder (default: out/); many videos: one <stem>/ folder each, and runs.jsonl")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    parser.add_argument("--score-thr", type=float, default=None,
                        help="drop detections below this score before tracking; every other one may start a track "
                             "(sets the tracker's score_thr and init_score_thr; default: the config's tracker)")
    parser.add_argument("--show-thr", type=float, default=None,
                        help="the annotated video draws detections scoring at least this (default 0.25); the JSON, "
                             "JSONL and MOT outputs keep every track (AP needs the low-scoring ones)")
    parser.add_argument("--start", type=int, default=0, help="first frame to process (0-based)")
    parser.add_argument("--end", type=int, default=None, help="stop before this frame (exclusive; default: the end)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of a folder of frames (default 10), or override a video's")
    parser.add_argument("--vid-stride", type=int, default=1, metavar="N",
                        help="process every N-th frame (the outputs' frame rate is divided by N)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"a camera or stream: the longest wait to open it and for each frame (default "
                             f"{DEFAULT_TIMEOUT:g})")
    parser.add_argument("--reconnect", type=int, default=DEFAULT_RECONNECT, metavar="N",
                        help=f"a stream that drops is re-opened up to N times, waiting 0.5, 1, 2, 4, 8 s ... "
                             f"(default {DEFAULT_RECONNECT}; 0: end the run at the first drop)")
    parser.add_argument("--outputs", nargs="+", choices=OUTPUTS, default=list(OUTPUTS),
                        help="files to write (default: all)")
    parser.add_argument("--no-video", action="store_true", help="skip the rendered video (the slowest output)")
    parser.add_argument("--batch-size", type=int, default=1, help="frames per model call")
    add_runtime_options(parser, compile_option=True)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for the model (default: OMP_NUM_THREADS if set, else the free cores "
                             "(available minus the load average) less one, left to decoding and writing)")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    outputs = [o for o in args.outputs if not (args.no_video and o == "vis")]

    def job():
        from vis.errors import VisError
        from vis.io.sources import check_source, is_batch
        from vis.io.video import FrameSpan
        from vis.options import RunOptions

        options = RunOptions.from_args(args).check()  # before torch is imported: a wrong option fails at once
        span = FrameSpan(args.start, args.end, args.fps, args.vid_stride, args.timeout, args.reconnect).check()
        if args.show_thr is not None and not 0.0 <= args.show_thr <= 1.0:
            raise VisError(f"--show-thr must be in [0, 1] (detection scores are probabilities), got {args.show_thr}")
        if is_batch(args.input) or int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: one process writes it
            return run_batch(args, options, span, outputs)
        check_source(args.input)

        from pipelines.video import SHOW_THR, run_video

        summary = run_video(args.input, options, out_dir=args.out_dir, span=span, outputs=outputs,
                            progress=not args.no_progress,
                            show_thr=SHOW_THR if args.show_thr is None else args.show_thr)
        print(f"{args.input}: {summary['frames']} frames, {summary['tracks']} tracks, {summary['fps']:.1f} frames/s"
              f" -> {', '.join(summary['outputs'].values())}")
        return summary

    return run_tool(job)


def run_batch(args, options, span, outputs):
    """Many videos: one line for the batch; exit 2 (a VisError) when a video failed."""
    from pipelines.batch import run_videos
    from vis.errors import VisError

    result = run_videos(args.input, options, out_dir=args.out_dir, span=span, outputs=outputs,
                        progress=not args.no_progress, show_thr=args.show_thr)
    line = (f"{args.input}: {result['videos']} videos, {result['ok']} ok, {result['failed']} failed, "
            f"{result['skipped']} skipped as complete -> {os.path.join(args.out_dir, 'runs.jsonl')}")
    if result["failed"]:
        raise VisError(line)
    if result["runs"] is not None:
        print(line)
    return result


if __name__ == "__main__":
    sys.exit(main())
