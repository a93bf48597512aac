"""Train a segmenter from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--load-from CKPT] [--cfg-options k=v ...] [--amp]
    torchrun --nproc_per_node=N tools/train.py CONFIG ...

--resume without a path continues from the newest checkpoint in the work dir (or starts fresh if
there is none). Exit codes: 0 done, 2 bad input (one-line 'error: ...'), 130 interrupted.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a segmenter (iteration-based; torchrun for several GPUs).")
    parser.add_argument("config", help="config file")
    parser.add_argument("--work-dir", default=None, help="output folder (default: cfg.work_dir or work_dirs/<config name>)")
    parser.add_argument(
        "--resume", nargs="?", const=True, default=False, metavar="CKPT",
        help="resume training; without a path, from the newest checkpoint in the work dir",
    )
    parser.add_argument("--load-from", default=None, metavar="CKPT",
                        help="initial weights (fine-tuning): a file, an http(s) URL or a model name "
                             "(tools/download.py --list), fetched once into the cache")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    # torch.distributed.launch (deprecated) passes --local-rank; torchrun uses the LOCAL_RANK env var.
    parser.add_argument("--local-rank", "--local_rank", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    from pipelines.train import train_from_config

    return run_tool(lambda: train_from_config(
        args.config,
        work_dir=args.work_dir,
        resume=args.resume,
        load_from=args.load_from,
        cfg_options=args.cfg_options,
        amp=args.amp,
    ))


if __name__ == "__main__":
    sys.exit(main())
