"""Write the synthetic COCO / YouTube-VIS stand-in data (see vis/data/synthetic/ for the layout).

    python tools/make_synthetic_data.py --out data/synthetic [--seed 0] [--num-train 3000] [--num-val 200]
        [--num-test 500] [--num-train-videos 60] [--num-val-videos 20] [--num-test-videos 50] [--demo-frames 120]
        [--image-size 128 160] [--video-size 240 320] [--video-frames 12 24] [--splits train val test demo]

Choices are made on val / valid; figures are reported on test (docs/learning_runs.md). The same arguments
always produce the same files, and each split's content depends only on the seed and its own arguments.
Exits 2 with a one-line message on bad input.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402
from vis.errors import VisError  # noqa: E402

# Plain constants, so --help and bad arguments answer without importing numpy / cv2 / pycocotools.
NUM_TEST_IMAGES, NUM_TEST_VIDEOS = 500, 50
SPLIT_GROUPS = ("train", "val", "test", "demo")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate synthetic shapes data in COCO and YouTube-VIS 2019 formats.")
    parser.add_argument("--out", required=True, help="output root (coco/, ytvis/, demo/ are written under it)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--num-train", type=int, default=3000, help="COCO train images (default 3000)")
    parser.add_argument("--num-val", type=int, default=200, help="COCO val images (default 200)")
    parser.add_argument("--num-test", type=int, default=NUM_TEST_IMAGES,
                        help=f"COCO test images, for reported figures (default {NUM_TEST_IMAGES})")
    parser.add_argument("--num-train-videos", type=int, default=60, help="YouTube-VIS train videos (default 60)")
    parser.add_argument("--num-val-videos", type=int, default=20, help="YouTube-VIS valid videos (default 20)")
    parser.add_argument("--num-test-videos", type=int, default=NUM_TEST_VIDEOS,
                        help=f"YouTube-VIS test videos, for reported figures (default {NUM_TEST_VIDEOS})")
    parser.add_argument("--splits", nargs="+", choices=SPLIT_GROUPS, default=list(SPLIT_GROUPS),
                        help="which groups to write: train, val (COCO val + YouTube-VIS valid), test, demo (default all)")
    parser.add_argument("--demo-frames", type=int, default=120, help="frames of demo/demo.mp4, 0 to skip (default 120)")
    parser.add_argument("--image-size", type=int, nargs=2, default=(128, 160), metavar=("MIN", "MAX"),
                        help="range of COCO image height and width (default 128 160)")
    parser.add_argument("--video-size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"),
                        help="video frame size (default 240 320)")
    parser.add_argument("--video-frames", type=int, nargs=2, default=(12, 24), metavar=("MIN", "MAX"),
                        help="range of YouTube-VIS video lengths in frames (default 12 24)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    from vis.data.synthetic import SyntheticSpec, generate_all

    spec = SyntheticSpec(seed=args.seed, num_train_images=args.num_train, num_val_images=args.num_val,
                         num_test_images=args.num_test, num_train_videos=args.num_train_videos,
                         num_val_videos=args.num_val_videos, num_test_videos=args.num_test_videos,
                         demo_frames=args.demo_frames, image_size=tuple(args.image_size),
                         video_size=tuple(args.video_size), video_frames=tuple(args.video_frames),
                         splits=args.splits)

    def job():
        try:
            generate_all(args.out, spec, progress=not args.no_progress)
        except OSError as exc:  # e.g. an unwritable output folder
            raise VisError(f"cannot write synthetic data to {args.out}: {exc.strerror or exc}") from None

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
