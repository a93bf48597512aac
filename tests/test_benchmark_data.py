"""tools/benchmark_data.py at a small fraction of the real sizes: every figure is printed and plausible."""
import json
import subprocess
import sys

import pytest

from assertions import assert_one_line_error


def run_benchmark(tmp_path, *args):
    return subprocess.run([sys.executable, "tools/benchmark_data.py", "--work-dir", str(tmp_path), "--json", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # half a minute each: a spawned process with two loader workers
@pytest.mark.parametrize("dataset, scale", [("coco", "0.002"), ("ovis", "0.01")])
def test_benchmark_data_prints_every_figure(tmp_path, dataset, scale):
    proc = run_benchmark(tmp_path, "--dataset", dataset, "--scale", scale, "--workers", "2", "--batches", "2", "6")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["dataset"] == dataset and report["workers"] == 2
    assert 0 < report["records"] <= (236 if dataset == "coco" else 10_000)  # images with an instance; OVIS' frames
    for key in ("build_s", "dataset_mb", "pss_mb_batch_2", "pss_mb_batch_6", "pss_growth_pct",
                "samples_per_s_per_worker"):
        assert isinstance(report[key], float) and report[key] == report[key], key
    assert report["pss_mb_batch_2"] > 100 and report["samples_per_s_per_worker"] > 0
    annotations = json.loads((tmp_path / f"{dataset}_{scale}" / "annotations.json").read_text())
    assert len(annotations["images" if dataset == "coco" else "videos"]) == (236 if dataset == "coco" else 6)


def test_benchmark_data_bad_arguments_exit_2(tmp_path):
    assert_one_line_error(run_benchmark(tmp_path, "--dataset", "lvis"), "unknown dataset 'lvis'")
    assert_one_line_error(run_benchmark(tmp_path, "--scale", "2"), "--scale must be in (0, 1]")
    assert not any(tmp_path.iterdir())
