"""tools/benchmark_video.py end to end on a tiny synthetic video: every figure is printed and plausible."""
import json
import subprocess
import sys

import cv2
import pytest


def run_benchmark(tmp_path, config, *args):
    """tools/benchmark_video.py on a 64x96 synthetic video, 1 thread -> its JSON report."""
    proc = subprocess.run(
        [sys.executable, "tools/benchmark_video.py", "--config", config, "--size", "64x96", "--work-dir", str(tmp_path),
         "--threads", "1", "--json", *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_benchmark_video_prints_every_figure(tmp_path):
    report = run_benchmark(tmp_path, "configs/shapes/queryinst_vis_tiny_shapes.py", "--frames", "4",
                           "--long-frames", "104", "--repeats", "2")
    for key in ("decode_fps", "model_fps", "tracker_ms_per_frame", "tracker_ms_10_tracks", "end_to_end_fps",
                "rss_mb_at_frame_100", "rss_mb_at_end", "rss_growth_mb"):
        assert isinstance(report[key], float) and report[key] == report[key], key  # a number, not NaN
    assert report["decode_fps"] > 0 and report["model_fps"] > 0 and report["end_to_end_fps"] > 0
    assert report["rss_mb_at_frame_100"] > 50  # a torch process is never this small
    assert report["long_run_frames"] == 104 and report["weights"] == "random"
    video = cv2.VideoCapture(report["video"])
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 104  # max(frames, long_frames)
    assert (tmp_path / "out_long" / "long_64x96_104.ytvis.json").is_file()
    assert report["threads"] == 1 and report["repeats"] == 2
    assert report["end_to_end_over_model"] == report["end_to_end_fps"] / report["model_fps"]
    assert all((tmp_path / f"out_{i}" / "long_64x96_104.mot.txt").is_file() for i in range(2))


def test_benchmark_video_bad_arguments_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "tools/benchmark_video.py", "--config", "configs/shapes/queryinst_vis_tiny_shapes.py",
         "--long-frames", "50", "--work-dir", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "--long-frames must be larger than 100" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_benchmark_video_runs_an_image_model_with_the_query_tracker(tmp_path):
    """An image-only config benchmarks the same way; its tracker is QueryTracker (no memory run here)."""
    report = run_benchmark(tmp_path, "configs/shapes/queryinst_tiny_shapes.py", "--frames", "3", "--long-frames", "0",
                           "--repeats", "1")
    assert report["tracker"] == "QueryTracker" and report["model_fps"] > 0 and report["end_to_end_fps"] > 0
    assert "rss_growth_mb" not in report


def test_benchmark_video_with_a_batch_of_frames(tmp_path):
    """``--batch-size`` reaches both the model-only loop and run_video; the report says so."""
    report = run_benchmark(tmp_path, "configs/shapes/queryinst_vis_tiny_shapes.py", "--frames", "5",
                           "--long-frames", "0", "--repeats", "1", "--batch-size", "2")
    assert report["batch_size"] == 2 and report["backend"] == "pytorch" and not report["compiled"]
    assert report["model_fps"] > 0 and report["end_to_end_fps"] > 0


def test_benchmark_video_bad_runtime_options_exit_2(tmp_path):
    for args, needle in ((["--batch-size", "0"], "--batch-size"), (["--onnx", "x.onnx"], "--onnx"),
                         (["--backend", "onnxruntime", "--compile"], "--compile")):
        proc = subprocess.run([sys.executable, "tools/benchmark_video.py", "--work-dir", str(tmp_path), *args],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and needle in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # a minute: six run_video processes and two spawned ones; the paths are tested in test_batch_videos
def test_benchmark_many_videos_and_a_live_stream(tmp_path):
    """``--many-videos``: a batch in one process against one run_video process per clip, memory after the 5th and
    the last video; ``--live-frames``: a live MPEG-TS stream on 127.0.0.1 tracked to its end frame."""
    report = run_benchmark(tmp_path, "configs/shapes/queryinst_vis_tiny_shapes.py", "--frames", "2",
                           "--long-frames", "0", "--repeats", "1", "--many-videos", "6", "--many-frames", "2",
                           "--live-frames", "110")
    for key in ("batch_rss_mb_after_video_5", "batch_rss_mb_after_video_6", "batch_rss_growth_mb",
                "batch_videos_per_s", "separate_videos_per_s", "batch_speedup", "live_rss_mb_at_frame_100",
                "live_rss_growth_mb"):
        assert isinstance(report[key], float) and report[key] == report[key], key
    assert report["batch_rss_mb_after_video_5"] > 50 and report["batch_videos_per_s"] > 0
    assert report["live_frames"] == 110
    with open(tmp_path / "out_many" / "batch" / "runs.jsonl") as f:
        runs = [json.loads(line) for line in f]
    assert [r["status"] for r in runs] == ["ok"] * 6 and all(r["frames"] == 2 for r in runs)
    assert len(list((tmp_path / "out_many" / "separate").glob("*.frames.jsonl"))) == 6
    (live,) = (tmp_path / "out_live").glob("127.0.0.1_*.frames.jsonl")
    assert sum(1 for _ in open(live)) == 110
