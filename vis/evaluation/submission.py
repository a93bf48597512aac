"""YouTube-VIS submissions: check a results list against the videos it answers, and pack it for the server.

The evaluation server reads ``results.json`` from the root of ``submission.zip``: a list of tracks
``{"video_id", "category_id", "score", "segmentations"}``, ``segmentations`` holding one entry per frame
of the video (null where the track is absent) as compressed RLE (``counts`` a str) of the video's size.
The official evaluation takes much of what is wrong here without a word (it truncates frame lists of
the wrong length, sorts NaN scores arbitrarily, drops unknown categories), so every such fault is caught
on this machine, before an upload and a wait in the server's queue.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import DataError
from ..io.files import atomic_open, atomic_write_json
from .ytvis_results import entry_problems, reference_videos

RESULTS_NAME = "results.json"
ZIP_NAME = "submission.zip"


def validate_results(results: Any, gt_or_videos: Any = None) -> List[str]:
    """Every reason the server would reject or misread ``results``, one short line each ([] = valid).

    ``gt_or_videos``: the ground truth (dict or JSON path; valid.json without annotations will do) or
    its ``videos`` list. Without it only the checks that need no video (types, finite scores,
    compressed RLE) run. Each line names the entry index and its video.
    """
    if not isinstance(results, list):
        return [f"results must be a list of track entries, got a {type(results).__name__}"]
    if not results:
        return ["results is empty: no track entries"]
    videos, cat_ids = reference_videos(gt_or_videos)
    problems: List[str] = []
    for index, entry in enumerate(results):
        problems.extend(entry_problems(index, entry, videos, cat_ids, server_format=True))
    return problems


def _plain_entry(entry: Mapping[str, Any]) -> Dict[str, Any]:
    """A validated entry with plain JSON types (numpy scalars would not serialise) and only the read keys."""
    return {
        "video_id": int(entry["video_id"]),
        "score": float(entry["score"]),
        "category_id": int(entry["category_id"]),
        "segmentations": [None if s is None else {"size": [int(v) for v in s["size"]], "counts": s["counts"]}
                          for s in entry["segmentations"]],
    }


def write_submission_zip(results: Sequence[Mapping[str, Any]], out_dir: str,
                         gt_or_videos: Any = None) -> Tuple[str, str]:
    """Validate, then write ``out_dir/results.json`` and ``out_dir/submission.zip`` (results.json at its root).

    Both files are written atomically, the zip after the JSON, so an existing zip is never half new.
    Raises DataError with the number of problems and the first few when ``results`` is not valid.
    Returns (results_json_path, zip_path).
    """
    problems = validate_results(results, gt_or_videos)
    if problems:
        raise DataError(f"{len(problems)} problems in the results, first: {'; '.join(problems[:3])}")
    json_path = os.path.join(out_dir, RESULTS_NAME)
    zip_path = os.path.join(out_dir, ZIP_NAME)
    atomic_write_json(json_path, [_plain_entry(e) for e in results], separators=(",", ":"))
    with atomic_open(zip_path, "wb") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(json_path, arcname=RESULTS_NAME)
    return json_path, zip_path


def read_submission_zip(zip_path: str) -> Tuple[Optional[Any], List[str]]:
    """(parsed results.json, []) or (None, [the problem]) for a zip without a readable results.json at its root."""
    if not os.path.isfile(zip_path):
        raise DataError(f"submission not found: {zip_path}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if RESULTS_NAME not in names:
                nested = [n for n in names if os.path.basename(n) == RESULTS_NAME]
                found = f"{nested[0]}, not at the root" if nested else (", ".join(names[:5]) or "nothing")
                return None, [f"no {RESULTS_NAME} at the root of the zip (found: {found})"]
            raw = archive.read(RESULTS_NAME)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        return None, [f"{os.path.basename(zip_path)} is not a readable zip file: {exc}"]
    except OSError as exc:
        raise DataError(f"cannot read {zip_path}: {exc.strerror}") from None
    return _parse_results(raw, RESULTS_NAME)


def _parse_results(raw: bytes, name: str) -> Tuple[Optional[Any], List[str]]:
    """The bytes of a results file -> (parsed JSON, []) or (None, [why it cannot be read])."""
    try:
        return json.loads(raw.decode("utf-8")), []
    except UnicodeDecodeError:
        return None, [f"{name} is not UTF-8 text"]
    except json.JSONDecodeError as exc:
        return None, [f"{name} is malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]


def read_results_file(path: str) -> Tuple[Optional[Any], List[str]]:
    """A submission zip or a bare ``results.json`` (checked before zipping) -> (parsed results, problems).

    A ``.json`` file, or any file that is not a zip and does not end in ``.zip``, is read as the results list.
    """
    if not os.path.isfile(path):
        raise DataError(f"submission not found: {path}")
    if path.lower().endswith(".zip") or zipfile.is_zipfile(path):
        return read_submission_zip(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    return _parse_results(raw, os.path.basename(path))


def validate_submission_zip(zip_path: str, gt: Any) -> List[str]:
    """Every problem of a submission zip: its layout, its JSON, then ``validate_results`` against ``gt``."""
    results, problems = read_submission_zip(zip_path)
    return problems if problems else validate_results(results, gt)
