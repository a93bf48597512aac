"""The writing side of streaming: a thread that feeds tracked frames to the output sinks behind a bounded queue.

It is the mirror of `vis.io.video.FrameReader` (the reading side): with both, decoding, the model and writing
(rendering, x264, RLE) overlap, and at most ``queue_size`` tracked frames wait in memory. `close_sinks` closes
a list of sinks as complete or partial (`vis.io.sinks`), even when one of them fails.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Dict, Optional, Sequence

from ..errors import VisError

WRITE_QUEUE_SIZE = 2  # tracked frames (image + masks) waiting for the sinks, which keep up with the model


class SinkThread:
    """Writes ``(frame_index, image, tracked)`` items to every sink in a background thread; any other item is an
    event (`vis.io.stream.StreamGap`) given to the sinks that have ``write_event``.

    A sink's exception is kept and raised in the main thread at its next ``put`` or at ``finish``; after
    it, queued frames are dropped (the sinks stay untouched so they can still be closed as partial).
    """

    def __init__(self, sinks: Sequence[Any], queue_size: int = WRITE_QUEUE_SIZE):
        self.sinks = list(sinks)
        self.error: Optional[BaseException] = None
        self.frames_written = 0
        self._queue: "queue.Queue" = queue.Queue(maxsize=queue_size)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="video-sinks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            try:
                if isinstance(item, tuple):
                    for sink in self.sinks:
                        sink.write(*item)
                    self.frames_written += 1
                else:  # an event between frames (a live source's drop): the sinks that record events take it
                    for sink in self.sinks:
                        if hasattr(sink, "write_event"):
                            sink.write_event(item)
            except OSError as exc:  # disk full, folder removed: the user can fix it, so a one-line error
                self.error = VisError(f"writing the outputs failed: {exc.strerror or exc}")
            except BaseException as exc:
                self.error = exc

    def put(self, item: Any) -> None:
        """Queue one tracked frame; blocks while the queue is full; raises a sink's earlier exception."""
        while True:
            if self.error is not None:
                raise self.error
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self, raise_error: bool = True) -> None:
        """Write what is queued, stop the thread; re-raise a sink's exception when ``raise_error``."""
        if not self._stopping:
            self._queue.put(None)  # the thread drains the queue up to this sentinel, so this returns
            self._stopping = True
        self._thread.join()
        if raise_error and self.error is not None:
            raise self.error


def close_sinks(sinks: Sequence[Any], complete: bool) -> Dict[str, str]:
    """Close every sink even when one fails; -> {kind: path written}. The first failure is re-raised."""
    written: Dict[str, str] = {}
    first_error: Optional[BaseException] = None
    for sink in sinks:
        try:
            path = sink.close(complete)
        except BaseException as exc:
            first_error = first_error or exc
            continue
        if path is not None:
            written[sink.kind] = path
    if first_error is not None:
        raise first_error
    return written
