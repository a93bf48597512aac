"""Dataset records in one byte buffer, so that data-loader workers share them instead of copying them.

A DataLoader worker is a forked copy of the main process; its pages are shared until written. A list of
Python dicts is written on every read (reference counts live in each object), so each worker ends up with its own
copy of every page it has touched, and their memory grows batch by batch (docs/performance.md has the figures
at the real datasets' sizes). Here every record is pickled once into one numpy ``uint8`` buffer with an ``int64``
array of end offsets: two objects in all, whose pages are only ever read. A record is unpickled when a sample
is drawn. detectron2 (``DatasetFromList(serialize=True)``) and mmengine (``BaseDataset(serialize_data=True)``)
store their records the same way.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import struct
import sys
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import VisError


class SerializedRecords:
    """A read-only sequence of picklable records (dicts, lists, numbers, strings) held as bytes.

    ``records[i]`` returns a fresh copy of record ``i`` (changing it changes nothing stored); ``len`` and
    iteration work as on a list. ``nbytes`` is the memory the records take.
    """

    def __init__(self, records: Iterable[Any]):
        chunks = [pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL) for record in records]
        self._ends = np.cumsum(np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks)))
        self._buffer = np.frombuffer(b"".join(chunks), dtype=np.uint8)  # one allocation: the bytes of every record

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> Any:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} out of range ({len(self)} records)")
        start = int(self._ends[index - 1]) if index > 0 else 0
        return pickle.loads(memoryview(self._buffer[start:int(self._ends[index])]))

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self)):
            yield self[index]

    @property
    def nbytes(self) -> int:
        return int(self._buffer.nbytes + self._ends.nbytes)


def release_freed_memory() -> None:
    """Collect garbage, then hand the heap it left free back to the operating system (glibc's ``malloc_trim``).

    Parsing an annotation file leaves most of its memory free but resident (more than half of what building
    COCO train2017's dataset adds). Handed back, the process keeps only what the dataset holds. Elsewhere than
    glibc this only collects."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
            pass


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's starting value, kept fixed


def fix_mmap_threshold() -> None:
    """Keep glibc's mmap threshold at 128 KB in this process (a loader worker's ``worker_init_fn``).

    glibc raises the threshold each time a large block is freed, so later images, masks and tensors come from the
    heap, which never shrinks: a worker's memory would creep up to the largest samples' high-water mark. With the
    threshold fixed, blocks above it are mapped and returned on free. Elsewhere than glibc this does nothing."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        except (OSError, AttributeError):  # musl and other C libraries
            pass


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Fork loader workers inside this (``with frozen_heap(): batches = iter(loader)``).

    A garbage collection writes to the header of every object it examines, so the first full collection in a
    forked worker would copy every page of the parent's heap that holds one (tens of MB once torch is imported).
    Objects frozen before the fork are never examined again (`gc.freeze`, the pattern the Python documentation
    gives for fork without exec); the parent unfreezes its own once the workers exist."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def build_apart(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` run in a forked child process, its result sent back pickled.

    Parsing a large annotation file leaves the heap full of holes. Handed back to the system they cost the parent
    nothing, but loader workers forked from it allocate into them, spread over the whole of that space, and keep
    what they touched, each up to the size of the holes. Built in a child, the dataset arrives as a few large
    buffers and the parent's heap has no holes to give. The result goes through a pipe as pickle protocol 5 with
    its large buffers out of band, read straight into their final place. ``function`` runs in the child only, so
    it need not be picklable; the result must be. An exception comes back as the same exception. Elsewhere than
    Linux (no cheap fork) it runs here.
    """
    if not sys.platform.startswith("linux"):
        return function(*args, **kwargs)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: build, send, and leave whatever happens (never back into the parent's code)
        code = 1
        try:
            os.close(read_fd)
            _send_result(write_fd, function, args, kwargs)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            count = struct.unpack("<Q", _read_exactly(pipe, 8))[0]
            sizes = struct.unpack(f"<{count}Q", _read_exactly(pipe, 8 * count))
            parts = [_read_exactly(pipe, size) for size in sizes]
    except EOFError:
        parts = None
    _, status = os.waitpid(pid, 0)
    if parts is None:
        code = os.waitstatus_to_exitcode(status)
        raise VisError(f"building the dataset in a child process failed (exit status {code}; out of memory?)")
    kind, value = pickle.loads(parts[0], buffers=parts[1:])
    if kind == "error":
        raise value
    return value


def _send_result(write_fd: int, function: Callable[..., Any], args: Any, kwargs: Any) -> None:
    """The child's half of `build_apart`: ('ok', result) or ('error', exception), pickled with its buffers out of
    band, written as [count][sizes][stream][buffers...]."""
    try:
        result: Any = ("ok", function(*args, **kwargs))
    except BaseException as exc:  # the parent raises it
        result = ("error", exc)
    buffers: list = []
    try:
        stream = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    except Exception as exc:  # an exception or result that cannot be pickled: its message still goes back
        buffers = []
        stream = pickle.dumps(("error", VisError(f"{type(exc).__name__}: {exc}")), protocol=5)
    views = [memoryview(stream)] + [buffer.raw() for buffer in buffers]
    with os.fdopen(write_fd, "wb", buffering=0) as pipe:
        for chunk in [struct.pack(f"<Q{len(views)}Q", len(views), *(v.nbytes for v in views))] + views:
            view = memoryview(chunk).cast("B")
            while view.nbytes:
                view = view[pipe.write(view):]


def _read_exactly(pipe: Any, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    while view.nbytes:
        got = pipe.readinto(view)
        if not got:
            raise EOFError
        view = view[got:]
    return data
