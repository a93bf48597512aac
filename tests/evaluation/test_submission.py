"""YouTube-VIS submission checks, the zip layout, and the two command-line tools."""
import copy
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from pycocotools import mask as mask_util

from vis.errors import DataError
from vis.evaluation.submission import (
    read_submission_zip,
    validate_results,
    validate_submission_zip,
    write_submission_zip,
)
from vis.evaluation.ytvis_eval import TABLE_KEYS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H, W = 20, 30
LENGTHS = {1: 4, 2: 5}


def rle(mask):
    encoded = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def box(y0, x0, h, w):
    mask = np.zeros((H, W), dtype=bool)
    mask[y0:y0 + h, x0:x0 + w] = True
    return mask


@pytest.fixture
def gt():
    """Two videos (4 and 5 frames, 20x30), categories 1..3, one annotated track per video."""
    videos = [{"id": v, "height": H, "width": W, "length": n, "file_names": [f"v{v}/{t:05d}.jpg" for t in range(n)]}
              for v, n in LENGTHS.items()]
    annotations = [
        {"id": 1, "video_id": 1, "category_id": 2, "iscrowd": 0,
         "segmentations": [rle(box(2, 2, 5, 6))] * 3 + [None], "areas": [30.0] * 3 + [None]},
        {"id": 2, "video_id": 2, "category_id": 3, "iscrowd": 0,
         "segmentations": [None] + [rle(box(8, 10, 6, 6))] * 4, "areas": [None] + [36.0] * 4},
    ]
    return {"videos": videos, "annotations": annotations, "categories": [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)]}


@pytest.fixture
def results(gt):
    """A perfect, valid submission for ``gt``."""
    return [{"video_id": a["video_id"], "category_id": a["category_id"], "score": 0.9,
             "segmentations": list(a["segmentations"])} for a in gt["annotations"]]


def test_valid_results_pass(gt, results, tmp_path):
    assert validate_results(results, gt) == []
    assert validate_results(results, gt["videos"]) == []
    path = tmp_path / "valid.json"
    path.write_text(json.dumps({k: v for k, v in gt.items() if k != "annotations"}))
    assert validate_results(results, str(path)) == []


def _uncompressed(entry):
    entry["segmentations"][1] = {"size": [H, W], "counts": [0, H * W]}  # all-foreground, uncompressed


FAULTS = [
    ("wrong number of frames", lambda e: e["segmentations"].pop(), "4 segmentations for a 5-frame video"),
    ("unknown video", lambda e: e.update(video_id=99), "unknown video id 99"),
    ("unknown category", lambda e: e.update(category_id=0), "unknown category id 0"),
    ("uncompressed RLE", _uncompressed, "uncompressed RLE"),
    ("wrong RLE size", lambda e: e["segmentations"].__setitem__(1, rle(np.ones((10, 10), bool))), "RLE size [10, 10]"),
    ("nan score", lambda e: e.update(score=float("nan")), "score nan is not finite"),
    ("inf score", lambda e: e.update(score=float("inf")), "score inf is not finite"),
    ("score not a number", lambda e: e.update(score="high"), "not a number"),
    ("missing key", lambda e: e.pop("segmentations"), "missing 'segmentations'"),
]


@pytest.mark.parametrize("name, corrupt, needle", FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_is_named(gt, results, name, corrupt, needle):
    bad = copy.deepcopy(results)
    bad[1]["segmentations"] = list(bad[1]["segmentations"])
    corrupt(bad[1])
    problems = validate_results(bad, gt)
    assert len(problems) == 1, problems
    assert needle in problems[0] and problems[0].startswith("entry 1 (video "), problems[0]


def test_empty_or_not_a_list(gt):
    assert validate_results([], gt) == ["results is empty: no track entries"]
    assert "list" in validate_results({"video_id": 1}, gt)[0]


def test_zip_round_trip(gt, results, tmp_path):
    results[0]["score"] = np.float32(0.75)  # numpy scalars are written as plain JSON numbers
    results[0]["video_id"] = np.int64(1)
    json_path, zip_path = write_submission_zip(results, str(tmp_path / "out"), gt)
    assert os.path.basename(json_path) == "results.json" and os.path.basename(zip_path) == "submission.zip"
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist() == ["results.json"]
        assert archive.getinfo("results.json").compress_type == zipfile.ZIP_DEFLATED
        packed = json.loads(archive.read("results.json"))
    with open(json_path) as f:
        assert json.load(f) == packed
    assert packed[0]["score"] == pytest.approx(0.75) and packed[1] == results[1]
    assert validate_submission_zip(zip_path, gt) == []
    assert sorted(os.listdir(tmp_path / "out")) == ["results.json", "submission.zip"]  # no temporary files left


def test_write_refuses_invalid_results(gt, results, tmp_path):
    results[0]["score"] = float("nan")
    results[1]["video_id"] = 42
    with pytest.raises(DataError, match="2 problems in the results, first: entry 0") as info:
        write_submission_zip(results, str(tmp_path / "out"), gt)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "submission.zip").exists()


def test_zip_layout_problems(gt, results, tmp_path):
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as archive:
        archive.writestr("submission/results.json", json.dumps(results))
    assert "not at the root" in validate_submission_zip(str(nested), gt)[0]
    malformed = tmp_path / "malformed.zip"
    with zipfile.ZipFile(malformed, "w") as archive:
        archive.writestr("results.json", '[{"video_id": 1,,}]')
    assert "malformed JSON" in validate_submission_zip(str(malformed), gt)[0]
    not_zip = tmp_path / "plain.zip"
    not_zip.write_text("hello")
    assert "not a readable zip" in read_submission_zip(str(not_zip))[1][0]
    with pytest.raises(DataError, match="not found"):
        read_submission_zip(str(tmp_path / "missing.zip"))


def _tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", name), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_validate_submission_tool_exit_codes(gt, results, tmp_path):
    ann = tmp_path / "valid.json"
    ann.write_text(json.dumps(gt))
    _, good = write_submission_zip(results, str(tmp_path / "good"), gt)
    bad = tmp_path / "bad.zip"
    broken = copy.deepcopy(results)
    broken[0]["category_id"], broken[1]["score"] = 7, float("inf")
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("results.json", json.dumps(broken))  # Python writes inf as Infinity

    proc = _tool("validate_submission.py", good, "--ann", ann)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok: 2 tracks in 2 videos"

    proc = _tool("validate_submission.py", bad, "--ann", ann)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and "unknown category id 7" in lines[0] and "not finite" in lines[1]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {bad} is not a valid submission: ") and "unknown category id 7" in last
    assert last.endswith("(2 problems, all listed above)")

    # The results.json itself, before zipping: the same checks.
    json_path = tmp_path / "results.json"
    json_path.write_text(json.dumps(results))
    proc = _tool("validate_submission.py", json_path, "--ann", ann)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok: 2 tracks in 2 videos", proc.stderr[-2000:]
    json_path.write_text(json.dumps(broken))
    proc = _tool("validate_submission.py", json_path, "--ann", ann)
    assert proc.returncode == 2 and "unknown category id 7" in proc.stderr.strip().splitlines()[-1]
    json_path.write_text('[{"video_id": 1,')
    proc = _tool("validate_submission.py", json_path, "--ann", ann)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "results.json is malformed JSON" in last and last.endswith("(1 problem)")


def test_eval_tool_json_line(gt, results, tmp_path):
    ann, res = tmp_path / "gt.json", tmp_path / "results.json"
    ann.write_text(json.dumps(gt))
    res.write_text(json.dumps(results))
    proc = _tool("eval_ytvis.py", "--ann", ann, "--results", res, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    metrics = json.loads(lines[0])
    assert list(metrics) == list(TABLE_KEYS) == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10"]
    assert metrics["AP"] == pytest.approx(1.0) and metrics["APl"] == -1
