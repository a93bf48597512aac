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

from vis.cli import (CHECKPOINT_HELP, add_frame_span_options, add_model_option, add_runtime_options,  # noqa: E402
                     frame_span, run_tool)

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
    add_frame_span_options(parser)
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
        from pipelines.batch import run_video_or_batch
        from vis.options import RunOptions

        return run_video_or_batch(args.input, RunOptions.from_args(args), args.out_dir, frame_span(args), outputs,
                                  progress=not args.no_progress, show_thr=args.show_thr)

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
