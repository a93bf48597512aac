#!/usr/bin/env python
"""Strip a training checkpoint to what inference needs (weights, config, class names), optionally in float16.

    python tools/export_model.py work/run/iter_1000.pth models/mine.pth [--dtype float16|int8]
    python tools/export_model.py work/run/iter_1000.pth work/r18_shapes.pth --backbone-only

Optimizer, scheduler and RNG states are dropped; --dtype float16 halves the weights, int8 stores the ResNet
trunk's conv weights as int8 with per-channel scales (a quarter of float32) and the heads as float16, since
their generated (dynamic) weights amplify int8 rounding. Both load back into the float32
model (vis.engine.export.export_checkpoint). The bundled demo model (models/demo/) was made this way.
--backbone-only writes the ResNet trunk as a torchvision state dict, the file a config's backbone.pretrained
takes (vis.engine.export.export_backbone).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Export a checkpoint for inference.")
    parser.add_argument("checkpoint", help="training checkpoint (iter_N.pth)")
    parser.add_argument("out", help="where to write the exported checkpoint")
    parser.add_argument("--dtype", choices=["float32", "float16", "int8"], default="float32",
                        help="storage type of the weights (default float32)")
    parser.add_argument("--backbone-only", action="store_true",
                        help="write only the ResNet trunk, as a torchvision state dict (for backbone.pretrained)")
    args = parser.parse_args(argv)

    def job():
        from vis.engine.export import export_backbone, export_checkpoint

        if args.backbone_only:
            if args.dtype != "float32":
                parser.error("--backbone-only writes float32 weights; leave out --dtype")
            info = export_backbone(args.checkpoint, args.out)
            print(f"wrote {info['path']}: ResNet trunk, {info['tensors']} tensors (keys '{info['prefix']}*'), "
                  f"{info['bytes'] / 1e6:.1f} MB")
            return info

        info = export_checkpoint(args.checkpoint, args.out, dtype=args.dtype)
        print(f"wrote {info['path']}: {info['tensors']} tensors ({info['int8_tensors']} int8), "
              f"{info['bytes'] / 1e6:.1f} MB")
        return info

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
