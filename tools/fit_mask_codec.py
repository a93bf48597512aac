"""Fit the PCA mask codec that ISTR decodes its mask vectors with (vis/models/pca_codec.py).

    python tools/fit_mask_codec.py ANN_FILE --out CODEC.pth [--dim 60] [--mask-size 28] [--seed 0]
        [--max-instances N] [--no-progress]

Reads a COCO-format annotation file (only the annotations: images are not needed), cuts every instance the
dataset keeps as a training target (not crowd, a valid mask, a box of >= 1 px inside the image) to its box at MASK_SIZE x MASK_SIZE, and writes the whitened PCA basis atomically to CODEC.pth,
the file an ISTR config names with ``mask_codec=...``. Example (the tiny synthetic config):

    python tools/fit_mask_codec.py data/shapes/coco/annotations/instances_train.json --out work/codecs/shapes_pca60.pth

The same arguments always give the same file. Exits 2 with a one-line message on bad input.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fit ISTR's PCA mask codec on a COCO-format annotation file.")
    parser.add_argument("ann_file", help="COCO-format instances JSON (e.g. instances_train2017.json)")
    parser.add_argument("--out", required=True, help="codec file to write (.pth)")
    parser.add_argument("--dim", type=int, default=60, help="number of components (default 60, ISTR-v1)")
    parser.add_argument("--mask-size", type=int, default=28, help="side of the box-relative masks (default 28)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the logit noise (default 0)")
    parser.add_argument("--max-instances", type=int, default=None,
                        help="use only the first N instances (the reference script keeps 100000; default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    def job():
        from pipelines.mask_codec import fit_codec_file

        fitted = fit_codec_file(args.ann_file, args.out, dim=args.dim, mask_size=args.mask_size, seed=args.seed,
                                max_instances=args.max_instances, progress=not args.no_progress)
        kept = float(fitted["explained_variance_ratio"].sum())
        print(f"wrote {args.out}: {args.dim} components of {args.mask_size}x{args.mask_size} masks from "
              f"{fitted['num_instances']} instances ({100 * kept:.1f}% of the logit variance)")

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
