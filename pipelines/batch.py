"""Many videos, one model load: a glob, a folder of videos or a list file -> one output set per video.

    python tools/run_video.py 'clips/*.mp4' --out-dir out          # out/<stem>/<stem>.{vis.mp4,...}, out/runs.jsonl
    torchrun --nproc_per_node 4 tools/run_video.py videos.txt --out-dir out   # the same, shared by 4 processes

Each video is run by `pipelines.video.VideoRunner` (the model loaded once per process) into ``<out_dir>/<stem>/``
(stems unique in input order, `vis.io.sources.unique_stems`). Every finished video appends one line to
``runs.rank<R>.jsonl`` at once (source, stem, status "ok" or "failed", frames, tracks, frames/s, seconds, error,
outputs), so a killed batch keeps its records; at the end rank 0 merges every record, old and new, into
``runs.jsonl`` (written to a temp file, then renamed), one line per video in input order. A video that fails is
recorded and the others go on.

Resuming: a video is skipped when a record says it finished ("ok") with the outputs asked for now and those
files exist; an interrupted batch run again into the same folder does only what is left, and says so.

Processes (``torchrun``, ``WORLD_SIZE`` > 1): every rank expands the same input, computes the same split
(`vis.io.sources.shard`: balanced by the frame counts the containers declare) and runs its share on its own GPU
(``LOCAL_RANK``) or its share of the CPU cores; a gloo barrier (no GPU needed, long timeout: ranks finish at
different times) lets rank 0 merge. Outputs do not depend on the number of processes (same threads per model).
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from vis.errors import VisError
from vis.io.files import make_writable_dir
from vis.io.video import FrameSpan
from vis.options import RunOptions

RUNS_FILE = "runs.jsonl"
MERGE_TIMEOUT = datetime.timedelta(days=7)  # ranks wait for the slowest at the end: never time out a long batch


# -- the records ----------------------------------------------------------------------------------
def _rank_file(out_dir: str, rank: int) -> str:
    return os.path.join(out_dir, f"runs.rank{rank}.jsonl")


def read_records(out_dir: str) -> Dict[str, Dict[str, Any]]:
    """Every record in ``out_dir`` (``runs.jsonl``, then any ``runs.rank*.jsonl`` a killed batch left), the last
    one per source winning. Lines that do not parse (a write cut short) are ignored."""
    paths = [os.path.join(out_dir, RUNS_FILE)]
    if os.path.isdir(out_dir):
        paths += sorted(os.path.join(out_dir, n) for n in os.listdir(out_dir)
                        if n.startswith("runs.rank") and n.endswith(".jsonl"))
    records: Dict[str, Dict[str, Any]] = {}
    for path in paths:
        if not os.path.isfile(path):
            continue
        with open(path, "r", encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "source" in record:
                    records[record["source"]] = record
    return records


def is_complete(record: Optional[Dict[str, Any]], outputs: Sequence[str]) -> bool:
    """A record of a finished video whose outputs include ``outputs`` and still exist."""
    if not record or record.get("status") != "ok":
        return False
    written = record.get("outputs") or {}
    return all(kind in written and os.path.isfile(written[kind]) for kind in outputs)


def _append(path: str, record: Dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())


def merge_records(out_dir: str, sources: Sequence[str]) -> str:
    """``runs.jsonl``: one record per source of this batch that has one, in input order (then any other source an
    earlier batch into this folder recorded); the rank files are removed once it is in place."""
    records = read_records(out_dir)
    order = list(dict.fromkeys(list(sources) + sorted(records)))
    path = os.path.join(out_dir, RUNS_FILE)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for source in order:
            if source in records:
                f.write(json.dumps(records[source], separators=(",", ":")) + "\n")
    os.replace(tmp, path)
    for name in os.listdir(out_dir):
        if name.startswith("runs.rank") and name.endswith(".jsonl"):
            os.remove(os.path.join(out_dir, name))
    return path


# -- processes ------------------------------------------------------------------------------------
def _join_processes() -> tuple:
    """(rank, world size, local rank, local world size) from torchrun's environment; the gloo group joined when
    there is more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if world > 1:
        import torch.distributed as torch_dist

        if not torch_dist.is_initialized():
            torch_dist.init_process_group("gloo", init_method="env://", timeout=MERGE_TIMEOUT)
    return rank, world, local_rank, local_world


def _rank_options(options: RunOptions, local_rank: int, local_world: int) -> RunOptions:
    """A rank's own GPU (``LOCAL_RANK``), or its share of the CPU cores (less one for decoding and writing)."""
    import dataclasses

    import torch

    from vis.utils.threads import available_cores

    if options.device != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    if options.threads is None and local_world > 1:
        share = max(1, available_cores() // local_world)
        options = dataclasses.replace(options, threads=max(1, share - 1))
    return options


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as torch_dist

        torch_dist.barrier()


# -- the batch ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    """What every video of a batch shares: where and what to write, which frames, progress bars."""

    out_dir: str
    span: FrameSpan
    outputs: Sequence[str]
    show_thr: float
    progress: bool


def run_videos(text: str, options: Optional[RunOptions] = None, out_dir: str = "out", span: FrameSpan = FrameSpan(),
               outputs: Sequence[str] = ("vis", "ytvis", "frames", "mot"), progress: bool = True,
               show_thr: Optional[float] = None, on_video: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """Run every video of the batch input ``text`` (`vis.io.sources.expand_inputs`) not yet done in ``out_dir``.

    -> ``{"videos", "ok", "failed", "skipped", "runs": path of runs.jsonl (rank 0; None on other ranks),
    "records": this process's new records}``. The options and outputs are `pipelines.video.run_video`'s; the
    input and options are checked before any folder is created or any model loaded. ``on_video(n)`` is called
    after this process's n-th video is recorded (memory probes).
    """
    from vis.io.sources import expand_inputs, unique_stems

    from .video import SHOW_THR, check_outputs, check_show_thr

    outputs = check_outputs(outputs)
    show_thr = SHOW_THR if show_thr is None else show_thr
    check_show_thr(show_thr)
    options = (options or RunOptions()).check()
    span.check()
    sources = expand_inputs(text)
    stems = unique_stems(sources)
    rank, world, local_rank, local_world = _join_processes()
    previous = read_records(out_dir)
    todo = [i for i, source in enumerate(sources) if not is_complete(previous.get(source), outputs)]
    skipped = len(sources) - len(todo)
    if skipped and rank == 0:
        print(f"skipping {skipped} of {len(sources)} videos whose outputs in {out_dir} are complete",
              file=sys.stderr)
    mine = _my_share(sources, todo, rank, world)
    records: List[Dict[str, Any]] = []
    if mine:
        if options.is_demo and progress and rank == 0:
            print("using the bundled demo model (6 synthetic shape classes): for real footage pass --model NAME "
                  "(README, model zoo)", file=sys.stderr)
        options = _rank_options(options, local_rank, local_world).resolve(quiet=not progress)
        make_writable_dir(out_dir, "output directory")
        job = _Job(out_dir, span, outputs, show_thr, progress)
        records = _run_share(options, [(sources[i], stems[i]) for i in mine], job, _rank_file(out_dir, rank),
                             on_video)
    _barrier(world)
    final = read_records(out_dir)  # every rank's records are written: each process can count them
    _barrier(world)
    runs = merge_records(out_dir, sources) if rank == 0 and os.path.isdir(out_dir) else None
    failed = sum(1 for s in sources if (final.get(s) or {}).get("status") == "failed")
    ok = sum(1 for s in sources if (final.get(s) or {}).get("status") == "ok")
    return {"videos": len(sources), "ok": ok, "failed": failed, "skipped": skipped, "runs": runs,
            "records": records}


def run_video_or_batch(text: str, options: RunOptions, out_dir: str = "out", span: FrameSpan = FrameSpan(),
                       outputs: Sequence[str] = ("vis", "ytvis", "frames", "mot"), progress: bool = True,
                       show_thr: Optional[float] = None) -> Dict[str, Any]:
    """``tools/run_video.py``'s run, with the one line it prints: a batch input (`vis.io.sources.is_batch`), or
    any input under torchrun, goes to `run_videos`, anything else to `pipelines.video.run_video`.

    The options, the span, ``show_thr`` and a local input are checked before torch is imported, so a wrong one
    fails at once; a batch in which a video failed is a VisError carrying the batch's line (the tool's exit 2).
    """
    from vis.io.sources import check_source, is_batch

    options = options.check()
    span = span.check()
    if show_thr is not None and not 0.0 <= show_thr <= 1.0:
        raise VisError(f"--show-thr must be in [0, 1] (detection scores are probabilities), got {show_thr}")
    if is_batch(text) or int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: one process writes it
        result = run_videos(text, options, out_dir=out_dir, span=span, outputs=outputs, progress=progress,
                            show_thr=show_thr)
        line = (f"{text}: {result['videos']} videos, {result['ok']} ok, {result['failed']} failed, "
                f"{result['skipped']} skipped as complete -> {os.path.join(out_dir, RUNS_FILE)}")
        if result["failed"]:
            raise VisError(line)
        if result["runs"] is not None:
            print(line)
        return result
    check_source(text)
    from .video import SHOW_THR, run_video

    summary = run_video(text, options, out_dir=out_dir, span=span, outputs=outputs, progress=progress,
                        show_thr=SHOW_THR if show_thr is None else show_thr)
    print(f"{text}: {summary['frames']} frames, {summary['tracks']} tracks, {summary['fps']:.1f} frames/s"
          f" -> {', '.join(summary['outputs'].values())}")
    return summary


def _my_share(sources: Sequence[str], todo: Sequence[int], rank: int, world: int) -> List[int]:
    """This rank's positions in ``sources``: all of ``todo`` alone, else its balanced share."""
    if world == 1:
        return list(todo)
    from vis.io.sources import declared_frames, shard

    weights = [declared_frames(sources[i]) for i in todo]
    return [todo[j] for j in shard(weights, world)[rank]]


def _run_one(runner: Any, source: str, stem: str, job: _Job) -> Dict[str, Any]:
    """One video of the batch -> its record; a failure is recorded, not raised (Ctrl-C still stops the batch)."""
    from vis.io.sources import open_source

    began = time.perf_counter()
    record: Dict[str, Any] = {"source": source, "stem": stem}
    try:
        opened = open_source(source, job.span)
        opened.name = stem  # the files inside <stem>/ carry the unique stem too
        for note in opened.notes:
            print(note, file=sys.stderr)
        summary = runner.run(opened, os.path.join(job.out_dir, stem), job.outputs, job.show_thr)
        record.update(status="ok", frames=summary["frames"], tracks=summary["tracks"],
                      fps=round(summary["fps"], 3), seconds=round(summary["seconds"], 3), error=None,
                      outputs=summary["outputs"])
        if "gaps" in summary:
            record.update(gaps=len(summary["gaps"]), end_reason=summary["end_reason"])
    except Exception as exc:  # this video failed; the others go on
        message = str(exc).strip().splitlines()
        error = message[0] if isinstance(exc, VisError) and message else f"{type(exc).__name__}: {exc}"
        print(f"{source}: failed: {error}", file=sys.stderr)
        record.update(status="failed", frames=0, tracks=0, fps=0.0, seconds=round(time.perf_counter() - began, 3),
                      error=error, outputs={})
    return record


def _run_share(options: RunOptions, videos: Sequence[tuple], job: _Job, rank_file: str,
               on_video: Optional[Callable[[int], None]]) -> List[Dict[str, Any]]:
    """Load the model once and run ``videos`` ((source, stem) pairs) in order, appending each record at once."""
    from .video import VideoRunner

    records = []
    with VideoRunner(options, job.progress) as runner:
        for count, (source, stem) in enumerate(videos, start=1):
            record = _run_one(runner, source, stem, job)
            _append(rank_file, record)
            records.append(record)
            if on_video is not None:
                on_video(count)
    return records
