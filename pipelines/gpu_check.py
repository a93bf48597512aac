"""The table of ``tools/gpu_check.sh``: its steps' records and the tools' ``--json`` lines -> one markdown table.

The script runs each step (``pytest -m gpu``, ``tools/benchmark_model.py``, ``tools/benchmark_video.py``) under a
timeout and appends one JSON line per step to a steps file::

    {"name": "model_solq_r50_coco_amp", "kind": "model", "label": "...", "rc": 0, "seconds": 14, "timeout": 45,
     "config": "configs/solq/solq_r50_coco.py", "amp": true, "sizes": ["360x640", "800x1333"]}

(``rc`` null: skipped, the time budget was spent), with the step's stdout and stderr in ``<name>.out`` and
``<name>.err`` beside the steps file. `build_table` turns them into one table naming the card: a row per figure
(per config, size and precision; per video run), and a step that failed or timed out is a row saying so, so one
failure does not hide the other figures. Only the standard library: the table is built even where torch is broken.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence

TIMED_OUT = (124, 137)  # timeout(1)'s exit codes: the limit, and the KILL after --kill-after
HEADER = ("check", "configuration", "result", "status")


def json_lines(text: str) -> List[Dict[str, Any]]:
    """The JSON objects among ``text``'s lines (the tools print other lines too)."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def read_steps(path: str) -> List[Dict[str, Any]]:
    """The steps file -> step records, each with its ``out`` and ``err`` text ('' when the file is missing)."""
    folder = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        steps = json_lines(f.read())
    for step in steps:
        for stream in ("out", "err"):
            log = os.path.join(folder, f"{step['name']}.{stream}")
            step[stream] = ""
            if os.path.isfile(log):
                with open(log, errors="replace") as f:
                    step[stream] = f.read()
    return steps


def cell(text: Any) -> str:
    """A table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def failure(step: Dict[str, Any]) -> str:
    """Why a step gave no figure, in one line: skipped, timed out, or its last line of stderr and exit code."""
    if step.get("rc") is None:
        return "not run: the time budget was spent"
    if step["rc"] in TIMED_OUT:
        return f"timed out after {step.get('timeout')} s"
    lines = [line.strip() for line in step.get("err", "").splitlines() if line.strip()]
    reason = lines[-1] if lines else "no message"
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return f"exit {step['rc']}: {reason}"


def pytest_row(step: Dict[str, Any]) -> List[str]:
    """``pytest -q``'s summary line (counts and time) and the failed tests' names."""
    summary = ""
    failed = []
    for line in step.get("out", "").splitlines():
        text = line.strip().strip("=").strip()
        if re.search(r"\d+ (passed|failed|error|errors|skipped|deselected)\b", text) and " in " in text:
            summary = re.sub(r",? \d+ warnings?", "", text)
        match = re.match(r"(FAILED|ERROR) \S*?::(\S+)", line.strip())
        if match:
            failed.append(match.group(2))
    result = summary or failure(step)
    if failed:
        shown = ", ".join(failed[:6]) + (f" and {len(failed) - 6} more" if len(failed) > 6 else "")
        result += f"; failed: {shown}"
    if step.get("rc") == 0 and summary:
        status = "ok" if "skipped" not in summary else "ok, some skipped"
    else:
        status = "timed out" if step.get("rc") in TIMED_OUT else "FAILED"
    return [step.get("label", "pytest -m gpu"), "tests/gpu", result, status]


def config_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def ms_text(row: Dict[str, Any]) -> str:
    """A `tools/benchmark_model.py` row -> 'total median (min-max) and the parts that cost most'."""
    ms = row["ms"]
    total = ms["total"]
    parts = [f"{name} {spread['median']:.1f}" for name, spread in ms.items() if name not in ("total", "post")]
    text = f"{total['median']:.1f} ms ({total['min']:.1f}-{total['max']:.1f})"
    if parts:
        text += "; " + ", ".join(parts)
    if row.get("batch_size", 1) > 1:
        text += f"; {row['per_frame_ms']:.1f} ms per frame"
    return text + f"; {row.get('detections', 0):g} detections"


def model_rows(step: Dict[str, Any]) -> List[List[str]]:
    """One row per size the step asked for: its latency, or why there is none."""
    precision = "--amp (float16)" if step.get("amp") else "float32"
    found = {f"{row['height']}x{row['width']}": row for row in json_lines(step.get("out", "")) if "ms" in row}
    rows = []
    for size in step.get("sizes", []):
        configuration = f"{config_name(step.get('config', '?'))} {size} {precision}"
        row = found.get(size)
        if row is not None:
            rows.append(["benchmark_model", configuration, ms_text(row), "ok"])
        else:
            status = "timed out" if step.get("rc") in TIMED_OUT else "FAILED"
            rows.append(["benchmark_model", configuration, failure(step), status])
    return rows


def video_row(step: Dict[str, Any]) -> List[str]:
    """`tools/benchmark_video.py --json`'s report -> model-only and end-to-end speed, decode and tracker."""
    reports = [row for row in json_lines(step.get("out", "")) if "model_fps" in row]
    label = step.get("label", "benchmark_video")
    if not reports:
        return ["benchmark_video", label, failure(step), "timed out" if step.get("rc") in TIMED_OUT else "FAILED"]
    report = reports[-1]
    result = (f"model {report['model_fps']:.1f} frames/s, end to end {report['end_to_end_fps']:.1f} frames/s "
              f"({report['end_to_end_over_model']:.2f} of model); decode {report['decode_fps']:.0f} frames/s, "
              f"tracker {report['tracker_ms_per_frame']:.2f} ms/frame; model input {report.get('model_input')}, "
              f"{report.get('frames')} frames x {report.get('repeats')}")
    return ["benchmark_video", label, result, "ok"]


def step_rows(step: Dict[str, Any]) -> List[List[str]]:
    kind = step.get("kind")
    if kind == "pytest":
        return [pytest_row(step)]
    if kind == "model":
        return model_rows(step)
    if kind == "video":
        return [video_row(step)]
    ok = step.get("rc") == 0
    return [[step.get("name", "?"), step.get("label", ""), "done" if ok else failure(step), "ok" if ok else "FAILED"]]


def table_rows(card: str, steps: Sequence[Dict[str, Any]], software: str = "", seconds: Optional[float] = None
               ) -> List[List[str]]:
    """The card first, a row per figure or failure, then the wall time of the whole check."""
    rows = [["card", software or "", card, ""]]
    for step in steps:
        rows.extend(step_rows(step))
    if seconds is not None:
        failed = sum(1 for row in rows[1:] if not row_ok(row))
        rows.append(["total", f"{len(steps)} steps", f"{seconds:.0f} s",
                     "ok" if not failed else f"{failed} rows not ok"])
    return rows


def row_ok(row: Sequence[str]) -> bool:
    return row[3].startswith("ok")


def build_table(card: str, steps: Sequence[Dict[str, Any]], software: str = "", seconds: Optional[float] = None
                ) -> str:
    """The markdown table of `table_rows`."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |"
              for row in table_rows(card, steps, software, seconds)]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Iterable[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="tools/gpu_check.sh's steps -> one markdown table.")
    parser.add_argument("--steps", required=True, help="the steps file (JSON lines; <name>.out / .err beside it)")
    parser.add_argument("--card", required=True, help="the GPU's name")
    parser.add_argument("--software", default="", help="torch / CUDA versions, for the card row")
    parser.add_argument("--seconds", type=float, default=None, help="wall time of the whole check")
    parser.add_argument("--out", default=None, help="write the table here too")
    args = parser.parse_args(None if argv is None else list(argv))
    steps = read_steps(args.steps)
    table = build_table(args.card, steps, args.software, args.seconds)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)
    sys.stdout.write(table)
    return 0 if all(row_ok(row) for row in table_rows(args.card, steps)[1:]) else 1


if __name__ == "__main__":
    sys.exit(main())
