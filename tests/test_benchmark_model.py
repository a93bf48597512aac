"""tools/benchmark_model.py and its primitives (vis/utils/benchmark.py) on the tiny shapes models at 64x96.

Runs are few (the tool's default of 7 is for users): with 2 timed runs a median is the mean of two, so the parts
and "post" add up to the total exactly, which is what these tests check.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from assertions import assert_one_line_error

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join("configs", "shapes", "queryinst_tiny_shapes.py")
ROW_KEYS = {"config", "model", "device", "threads", "backend", "weights", "batchnorms_folded", "max_per_img",
            "height", "width", "runs", "warmup", "score_thr", "amp", "detections", "ms", "total_runs_ms",
            "predict_over_backbone_neck", "onnx", "compiled", "batch_size", "per_frame_ms"}


def run_benchmark(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "benchmark_model.py"), *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env)


def check_row(row, runs):
    """Every part's spread is ordered and non-negative, and the parts plus "post" make up the total."""
    ms = row["ms"]
    assert {"preprocess", "backbone", "neck", "heads", "masks", "paste", "post", "total"} <= set(ms)
    for name, spread in ms.items():
        assert 0.0 <= spread["min"] <= spread["median"] <= spread["max"], (name, spread)
    named = sum(spread["median"] for name, spread in ms.items() if name not in ("post", "total"))
    assert named <= ms["total"]["median"] * 1.05
    if runs <= 2:  # a median of one or two values is their mean, which adds up
        assert named + ms["post"]["median"] == pytest.approx(ms["total"]["median"], rel=1e-6)
    assert len(row["total_runs_ms"]) == runs
    features = ms["backbone"]["median"] + ms["neck"]["median"]
    assert row["predict_over_backbone_neck"] == pytest.approx(ms["total"]["median"] / features)
    assert row["predict_over_backbone_neck"] >= 1.0


def test_json_prints_one_line_per_config_and_size():
    proc = run_benchmark(TINY, "--sizes", "64x96", "48x64", "--runs", "2", "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    rows = [json.loads(line) for line in lines]
    assert [(r["height"], r["width"]) for r in rows] == [(64, 96), (48, 64)]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["config"] == TINY and row["model"] == "QueryInst" and row["device"] == "cpu"
        assert row["threads"] == 1 and row["backend"] == "pytorch" and row["weights"] == "random weights"
        assert row["runs"] == 2 and row["warmup"] == 1 and row["score_thr"] is None and row["amp"] is False
        assert row["batchnorms_folded"] > 0
        assert row["detections"] == row["max_per_img"] == 30  # no threshold: every top-k detection, the worst case
        assert "track_head" not in row["ms"]  # an image model has none
        check_row(row, runs=2)


def test_text_output_has_one_header_and_a_table_per_size():
    proc = run_benchmark(TINY, "--sizes", "48x64", "--runs", "1", "--warmup", "0", "--no-fold", "--score-thr", "0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("device cpu, 1 torch thread(s), backend pytorch")
    assert "1 timed runs (fewer than 5" in lines[0] and "score_thr 0.5" in lines[0]
    assert lines[1].startswith(TINY) and "QueryInst" in lines[1] and "48x64" in lines[1]
    assert "random weights, no BatchNorm folded" in lines[1]
    parts = [line.split()[0] for line in lines[3:-1]]
    assert parts[:4] == ["preprocess", "backbone", "neck", "heads"] and parts[-2:] == ["post", "total"]
    assert "predict / (backbone + neck)" in lines[-1]


def test_a_checkpoint_is_timed_as_its_config(tmp_path):
    from vis.config import load_config
    from vis.engine.checkpoint import save_checkpoint
    from vis.models import build_model
    from vis.utils.benchmark import LatencyOptions, config_latencies

    torch.manual_seed(1)
    path = save_checkpoint(str(tmp_path / "tiny.pth"), build_model(load_config(os.path.join(REPO, TINY)).model))
    (row,) = config_latencies([os.path.join(REPO, TINY)], [(48, 64)], LatencyOptions(runs=2, warmup=0),
                              checkpoint=path)
    assert row["weights"] == path and row["batchnorms_folded"] > 0
    check_row(row, runs=2)


def test_measure_latency_takes_a_built_model():
    """ISTR (seeded PCA codec, as the behaviour record builds it), timed without a config file."""
    from behaviour_record import seeded_model
    from vis.utils.benchmark import measure_latency, random_image

    assert torch.equal(random_image(8, 12, seed=3), random_image(8, 12, seed=3))
    image = random_image(8, 12)
    assert image.dtype == torch.float32 and image.shape == (3, 8, 12)
    assert image.min() >= 0 and image.max() <= 255 and torch.equal(image, image.round())
    (row,) = measure_latency(seeded_model("istr_tiny_shapes"), [(64, 96)], runs=2, warmup=1)
    assert row["height"] == 64 and row["width"] == 96 and 0 <= row["detections"] <= 30
    check_row(row, runs=2)


def test_a_batch_is_timed_whole_and_per_frame():
    """``--batch-size``: the parts are the whole batch's (the masks of both images), the row adds the time per frame."""
    from behaviour_record import seeded_model
    from vis.utils.benchmark import measure_latency

    model = seeded_model("queryinst_tiny_shapes")
    (row,) = measure_latency(model, [(64, 96)], runs=2, warmup=1, batch_size=2)
    check_row(row, runs=2)
    assert row["batch_size"] == 2 and row["per_frame_ms"] == pytest.approx(row["ms"]["total"]["median"] / 2)
    proc = run_benchmark(TINY, "--sizes", "64x96", "--runs", "1", "--warmup", "0", "--batch-size", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "batch 2" in proc.stdout and "ms per frame" in proc.stdout


@pytest.mark.parametrize("args, needle", [
    (["configs/shapes/no_such_config.py"], "not found"),
    ([TINY, TINY, "--checkpoint", "model.pth"], "exactly one config"),
    ([TINY, "--runs", "0"], "--runs"),
    ([TINY, "--sizes", "64by96"], "HxW"),
    ([TINY, "--batch-size", "0"], "--batch-size"),
])
def test_bad_input_is_a_one_line_error(args, needle):
    proc = run_benchmark(*args, "--json")
    assert_one_line_error(proc, needle)
    assert proc.stdout == ""


def test_an_unknown_backend_is_a_config_error():
    from vis.errors import ConfigError
    from vis.utils.benchmark import LatencyOptions, config_latencies

    with pytest.raises(ConfigError, match="--backend openvino: unknown"):
        next(config_latencies([os.path.join(REPO, TINY)], [(48, 64)], LatencyOptions(runs=1), backend="openvino"))
