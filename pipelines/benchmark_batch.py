"""Many videos and live streams: memory and speed, the part of ``tools/benchmark_video.py`` behind ``--many-videos``
and ``--live-frames``.

1. many videos, memory -- `pipelines.batch.run_videos` over ``videos`` short synthetic clips in a fresh process:
                          resident memory after the ``rss_video``-th video and after the last (the target is
                          < 50 MB between them: nothing is kept per video);
2. many videos, speed  -- the same clips: videos per second in that one process (the model loaded once) against
                          one ``tools/run_video.py`` process per clip, as a shell loop would run them;
3. live stream, memory -- `run_video` on a live H.264 MPEG-TS stream served on 127.0.0.1
                          (`vis.io.stream.serve_mpegts`, as fast as it is read) for ``live_frames`` frames, in a
                          fresh process: RSS at frame 100 and at the end, to set beside the file's figure of the
                          memory run (``--long-frames``).
"""
from __future__ import annotations

import glob
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

from vis.errors import VisError
from vis.options import RunOptions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class ManyVideosPlan:
    """``videos`` clips of ``frames`` frames at ``size`` (0 videos: skip parts 1-2), a live stream of
    ``live_frames`` frames (0: skip part 3), the video after which memory is probed first, and where files go."""

    videos: int = 50
    frames: int = 20
    live_frames: int = 5000
    size: Tuple[int, int] = (360, 640)
    rss_video: int = 5
    work_dir: str = "work/benchmark_video"

    def check(self) -> "ManyVideosPlan":
        if self.videos and self.videos <= self.rss_video:
            raise VisError(f"--many-videos must be larger than {self.rss_video} (or 0 to skip)")
        if self.frames < 1:
            raise VisError(f"--many-frames must be >= 1, got {self.frames}")
        if self.live_frames and self.live_frames <= 100:
            raise VisError("--live-frames must be larger than 100 (or 0 to skip)")
        return self


def short_clips(plan: ManyVideosPlan, on_note: Callable[[str], None]) -> List[str]:
    """``work_dir/many_<h>x<w>_<frames>/clip_NNN.mp4``, written once (a different synthetic scene each)."""
    from vis.data.synthetic import write_long_video

    height, width = plan.size
    folder = os.path.join(plan.work_dir, f"many_{height}x{width}_{plan.frames}")
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, f"clip_{i:03d}.mp4") for i in range(plan.videos)]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        on_note(f"writing {len(missing)} synthetic clips of {plan.frames} frames under {folder} ...")
    for path in missing:
        write_long_video(path, plan.frames, height, width, seed=paths.index(path), progress=False)
    return paths


def _in_fresh_process(target: Callable[..., None], *args: Any) -> Dict[str, Any]:
    """``target(queue, *args)`` in a spawned process (its memory is the measured run's alone) -> what it put."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=target, args=(queue, *args))
    worker.start()
    outcome = queue.get()
    worker.join()
    if "error" in outcome:
        raise VisError(f"the measured run failed: {outcome['error']}")
    return outcome


def _batch_run(queue: Any, pattern: str, options: RunOptions, out_dir: str, rss_video: int) -> None:
    """Body of the batch process: `run_videos` with memory probes after video ``rss_video`` and at the end."""
    import torch

    from vis.utils.benchmark import MemoryProbe, memory_mb

    from .batch import run_videos

    torch.set_num_threads(options.threads)
    probe = MemoryProbe(at=rss_video)
    try:
        began = time.perf_counter()
        result = run_videos(pattern, options, out_dir=out_dir, progress=False, on_video=probe)
        queue.put({"seconds": time.perf_counter() - began, "ok": result["ok"], "early": probe.reading,
                   "end": memory_mb()})
    except BaseException as exc:  # the parent turns it into a one-line error
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _separate_runs(clips: List[str], options: RunOptions, out_dir: str) -> float:
    """Seconds for one ``tools/run_video.py`` process per clip, one after the other (interpreter, imports and
    model load included, as in a shell loop)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(options.threads))
    began = time.perf_counter()
    for clip in clips:
        args = [sys.executable, os.path.join(REPO, "tools", "run_video.py"), clip, "--out-dir", out_dir,
                "--no-progress", "--threads", str(options.threads), "--config", options.config,
                "--checkpoint", options.checkpoint]
        if options.tracker:
            args += ["--tracker", options.tracker]
        result = subprocess.run(args, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise VisError(f"run_video failed on {clip}: {result.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - began


def _wait_for_listener(port: int, server: Any, seconds: float = 60.0) -> None:
    """Until the server process listens on ``port`` (read from /proc/net/tcp where there is one; else a fixed
    wait): probing with a connection would take the one client FFmpeg's listen accepts."""
    deadline = time.monotonic() + seconds
    wanted = f":{port:04X} "
    while time.monotonic() < deadline and server.is_alive():
        try:
            with open("/proc/net/tcp") as f:
                if any(wanted in line and line.split()[3] == "0A" for line in f):  # 0A: LISTEN
                    return
        except OSError:
            time.sleep(3.0)
            return
        time.sleep(0.1)
    if not server.is_alive():
        raise VisError("the stream server for the live run stopped before it listened")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, video: str, frames: int) -> None:
    """The stream server's process (a process, not a thread: PyAV's blocking listen holds the GIL)."""
    from vis.io.stream import serve_mpegts
    from vis.io.video import open_frame_source

    source = open_frame_source(video, 0, frames)
    try:
        serve_mpegts(port, (image for _, image in source), fps=25, paced=False)
    except Exception:  # the reader hung up at its --end: nothing to report
        pass
    finally:
        source.close()


def benchmark_many_videos(options: RunOptions, plan: ManyVideosPlan, long_video: str,
                          show: Callable[..., None], on_note: Callable[[str], None]) -> None:
    """Parts 1-3 of the module docstring; ``options`` resolved with their ``threads`` set, ``long_video`` a file of
    at least ``plan.live_frames`` frames (the live stream's frames), ``show(key, value, unit)`` reports."""
    from .benchmark_video import long_run

    if plan.videos:
        clips = short_clips(plan, on_note)
        out = os.path.join(plan.work_dir, "out_many")
        for old in glob.glob(os.path.join(out, "*", "runs.jsonl")) + glob.glob(os.path.join(out, "*.jsonl")):
            os.remove(old)  # a rerun must run again, not skip
        batch = _in_fresh_process(_batch_run, os.path.dirname(clips[0]), options, os.path.join(out, "batch"),
                                  plan.rss_video)
        show(f"batch_rss_mb_after_video_{plan.rss_video}", batch["early"][0], "MB")
        show(f"batch_rss_mb_after_video_{plan.videos}", batch["end"][0], f"MB (peak {batch['end'][1]:.1f} MB)")
        show("batch_rss_growth_mb", batch["end"][0] - batch["early"][0],
             f"MB from video {plan.rss_video} to {plan.videos}")
        separate = _separate_runs(clips, options, os.path.join(out, "separate"))
        show("batch_videos_per_s", plan.videos / batch["seconds"],
             f"videos/s ({plan.videos} clips of {plan.frames} frames, one process, model loaded once)")
        show("separate_videos_per_s", plan.videos / separate, "videos/s (one run_video process per clip)")
        show("batch_speedup", separate / batch["seconds"], "x")
    if plan.live_frames:
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, long_video,
                                                                                   plan.live_frames), daemon=True)
        server.start()
        try:
            _wait_for_listener(port, server)
            live = _in_fresh_process(long_run, f"tcp://127.0.0.1:{port}", options,
                                     os.path.join(plan.work_dir, "out_live"), plan.live_frames, 100)
        finally:
            server.join(30)
            if server.is_alive():
                server.kill()
        show("live_frames", live["run"]["frames"], f"frames ({live['run']['fps']:.2f} frames/s)")
        show("live_rss_mb_at_frame_100", live["early"][0], "MB")
        show("live_rss_growth_mb", live["end"][0] - live["early"][0], f"MB from frame 100 to {live['run']['frames']}")
