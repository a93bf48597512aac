"""How many torch threads a streaming run gets: the free cores less one, left to decoding and writing."""
from __future__ import annotations

import os
from typing import Optional


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def busy_cores() -> int:
    """Cores other processes keep busy: the 1-minute load average, rounded (0 where the OS has none)."""
    try:
        return int(round(os.getloadavg()[0]))
    except (AttributeError, OSError):  # Windows
        return 0


def streaming_threads(threads: Optional[int] = None) -> int:
    """torch's intra-op threads while streaming: ``threads`` when given; else ``OMP_NUM_THREADS`` when set; else
    the free cores less one (at least 1): available cores (`available_cores`) minus those other processes keep
    busy (`busy_cores`), minus one for the decode thread and the sink thread (rendering, x264, RLE). Threads
    beyond the free cores only fight each other and the decode and sink threads for the cores, and ``predict``
    slows down many times over (docs/performance.md; `tools/benchmark_video.py` measures it). On an idle 2-core
    machine this is 1 thread, the same as ``OMP_NUM_THREADS=1``."""
    if threads is not None:
        return int(threads)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = available_cores()
    return max(1, cores - min(busy_cores(), cores) - 1)
