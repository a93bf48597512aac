#!/usr/bin/env python
"""Run a training recipe (e.g. COCO pretrain -> pseudo-video -> YouTube-VIS finetune -> evaluation).

    python tools/train_recipe.py configs/recipes/shapes_queryinst.py [--work-dir DIR] [--no-eval]
Running it again continues where it stopped.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train the stages of a recipe in order.")
    parser.add_argument("recipe", help="recipe config (with a `recipe = dict(stages=[...])` section)")
    parser.add_argument("--work-dir", default=None, help="default: the recipe's work_dir")
    parser.add_argument("--no-eval", action="store_true", help="skip the final video evaluation")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override recipe keys")
    args = parser.parse_args(argv)
    from pipelines.recipe import run_recipe

    return run_tool(lambda: run_recipe(args.recipe, work_dir=args.work_dir, cfg_options=args.cfg_options,
                                       evaluate=False if args.no_eval else None))


if __name__ == "__main__":
    sys.exit(main())
