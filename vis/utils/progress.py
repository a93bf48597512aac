"""One progress bar for every long loop: on stderr, and quiet when stderr is not a terminal.

A bar redraws itself with carriage returns; written to a pipe or a log file that becomes thousands of
lines. When stderr is not a TTY the bar is updated at most every ``PIPE_INTERVAL_S`` seconds, so a log
still shows progress (one line per half minute) without being flooded.
"""
from __future__ import annotations

import sys
from typing import Any

PIPE_INTERVAL_S = 30.0


def progress_bar(total: int, desc: str, unit: str = "it", **kwargs: Any):
    """``tqdm(total, desc, unit)`` on stderr; redraws at most every 30 s when stderr is not a terminal."""
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    options = dict(file=sys.stderr, dynamic_ncols=True, mininterval=0.1 if interactive else PIPE_INTERVAL_S)
    if not interactive:
        options["maxinterval"] = PIPE_INTERVAL_S * 2  # tqdm's default maxinterval (10 s) would undo mininterval
    options.update(kwargs)
    return tqdm(total=total, desc=desc, unit=unit, **options)
