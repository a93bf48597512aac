"""What every command-line tool shares: the repo on ``sys.path`` and one way to report bad input.

Tools parse their arguments and call one function; `run_tool` turns the known failures into the
contract of docs/design.md: a one-line ``error: ...`` and exit code 2 for bad input, 130 for Ctrl-C,
143 for SIGTERM (handled like Ctrl-C: the job's cleanup runs, e.g. run_video keeps ``*.partial.*`` outputs),
never a traceback from deep inside.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING, Callable, Tuple

from .errors import VisError

if TYPE_CHECKING:
    from .io.video import FrameSpan


class Terminated(BaseException):
    """SIGTERM (``kill``, a scheduler's stop) raised in the main thread, so ``finally`` blocks run as for Ctrl-C."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def run_tool(job: Callable[[], object]) -> int:
    """Run ``job()``; map VisError -> exit 2, KeyboardInterrupt -> exit 130, SIGTERM -> exit 143, success -> 0."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        job()
    except VisError as exc:
        message = str(exc).strip().splitlines()
        print(f"error: {message[0] if message else type(exc).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        dist = sys.modules.get("vis.engine.dist")
        if dist is not None:
            dist.cleanup()
    return 0


def print_figure(key: str, value: object, unit: str = "") -> None:
    """One figure of a benchmark tool, as it is taken: ``key: value unit``, floats with 3 decimals."""
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{key:>28}: {text} {unit}".rstrip(), flush=True)


def print_note(text: str) -> None:
    """What a tool is preparing (writing a synthetic file, ...): stderr, so stdout stays the figures."""
    print(text, file=sys.stderr, flush=True)


def parse_size(text: str) -> Tuple[int, int]:
    """argparse type for ``HxW`` sizes such as 360x640."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 360x640, got '{text}'") from None
    return height, width


AMP_HELP = ("autocast the model: float16 on CUDA, bfloat16 on a CPU that runs it natively (AVX512-BF16 or AMX; an "
            "error elsewhere)")


def add_runtime_options(parser: argparse.ArgumentParser, compile_option: bool = False) -> None:
    """``--backend``, ``--onnx`` and ``--amp`` (and ``--compile`` with ``compile_option``): how a tool runs the
    model, the same in every tool that runs one (checked by `vis.options.RunOptions.check` before
    torch is imported)."""
    parser.add_argument("--backend", default="pytorch",
                        help="runtime of the per-frame network: pytorch (default) or onnxruntime (CPU, the '.[onnx]' "
                             "extra)")
    parser.add_argument("--onnx", default=None, metavar="FILE",
                        help="with --backend onnxruntime: the network exported by tools/export_onnx.py from the same "
                             "config and checkpoint (float or int8); default: exported now")
    parser.add_argument("--amp", action="store_true", help=AMP_HELP)
    if compile_option:
        parser.add_argument("--compile", action="store_true",
                            help="torch.compile the per-frame network (pytorch backend; compiling takes a minute or "
                                 "more before the first frame)")


MODEL_HELP = ("an official release by name (tools/download.py --list), downloaded once into $VIS_HOME/checkpoints; it "
              "sets the config and the checkpoint")
CHECKPOINT_HELP = "its checkpoint: a file (this project's, or the official file) or an http(s) URL (cached)"


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model NAME``, the same in every tool that runs a model (resolved by `vis.model_zoo.resolve_model`)."""
    parser.add_argument("--model", default=None, metavar="NAME", help=MODEL_HELP)


def add_frame_span_options(parser: argparse.ArgumentParser) -> None:
    """``--start``, ``--end``, ``--fps``, ``--vid-stride``, ``--timeout`` and ``--reconnect``: which frames of a
    source a tool reads and how long it waits for a live one (`frame_span` turns them into a
    `vis.io.video.FrameSpan`)."""
    from .io.video import DEFAULT_RECONNECT, DEFAULT_TIMEOUT

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


def frame_span(args: argparse.Namespace) -> FrameSpan:
    """The (unchecked) `vis.io.video.FrameSpan` of the options `add_frame_span_options` added."""
    from .io.video import FrameSpan

    return FrameSpan(args.start, args.end, args.fps, args.vid_stride, args.timeout, args.reconnect)
