#!/usr/bin/env python
"""Per-frame cost of OnlineTracker.update on a synthetic video (default: 10 live tracks x 10 detections).

    python tools/benchmark_tracker.py [--frames 1000] [--objects 10] [--dim 1024] [--mask-size 360x640] [--threads 1]

Every frame shows the same objects (moving boxes, noisy per-object embeddings, shuffled order), so the
memory holds ``--objects`` tracks and each frame brings as many detections: the association, the assignment
and the memory update are timed, plus indexing the masks into the output when ``--mask-size`` is given.
Each frame is timed on its own; the median is the figure to quote on a busy machine, the mean includes stalls.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import parse_size, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="ms/frame of OnlineTracker.update on a synthetic video.")
    parser.add_argument("--frames", type=int, default=1000, help="timed frames (after 20 warm-up frames)")
    parser.add_argument("--objects", type=int, default=10, help="objects per frame = live tracks = detections")
    parser.add_argument("--dim", type=int, default=1024, help="embedding size (MaskTrack track head: 1024)")
    parser.add_argument("--mask-size", type=parse_size, default=None, help="HxW bool masks carried through")
    parser.add_argument("--assignment", default="optimal", choices=["optimal", "greedy"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)

    def job():
        from vis.utils.benchmark import tracker_benchmark

        r = tracker_benchmark(args.frames, args.objects, args.dim, args.mask_size, args.assignment, args.threads)
        masks = "masks {}x{}".format(*args.mask_size) if args.mask_size else "no masks"
        print(f"OnlineTracker({args.assignment}) {r['tracks']} tracks x {r['detections']} detections, "
              f"dim {args.dim}, {masks}, {args.threads} thread(s): "
              f"mean {r['mean_ms']:.3f} ms/frame, median {r['median_ms']:.3f} ms/frame over {args.frames} frames "
              f"(ids used: {r['ids_used']})", flush=True)
        return r

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
