#!/usr/bin/env python
"""Fetch official checkpoints by name into the cache ahead of a run, and list the releases.

    python tools/download.py --list                          # name, release, reported AP, cached or not
    python tools/download.py --list --markdown               # the README's model zoo table, generated
    python tools/download.py queryinst_r50_fpn_1x_coco solq_r50_coco    # prints each cached path
    VIS_MIRROR=http://mirror.local/vis python tools/download.py istr_r50_3x_coco   # from a mirror instead

The cache is ``$VIS_HOME/checkpoints`` (default ``~/.cache/vis``); an interrupted download resumes, a file whose
name carries a sha256 prefix is checked, and parallel callers download once (vis/model_zoo.py, vis/io/download.py).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download official checkpoints by name into the cache.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="model names (--list shows them)")
    parser.add_argument("--list", action="store_true", help="list the models and whether each is cached")
    parser.add_argument("--markdown", action="store_true",
                        help="with --list: the README's model zoo table (markdown) instead")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.names and not args.list:
        parser.error("give model names, or --list")

    def job():
        from vis import model_zoo

        models = [model_zoo.get_model(name) for name in args.names]  # every name checked before any download
        if args.list:
            print(model_zoo.zoo_table() if args.markdown else model_zoo.format_zoo_list())
        for model in models:
            print(model_zoo.fetch_model(model, quiet=args.quiet))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
