"""SOLQ's deformable attention, the one-call sampling against the per-level ``grid_sample`` formulation: the body
of ``tools/benchmark_deformable.py``.

One model (random weights, BatchNorms folded, as ``tools/benchmark_model.py`` times it) predicts the same seeded
image with each formulation in turn, ``rounds`` times, so both see the same machine; the figures are the median
``predict`` time of each and their ratio, and the largest difference between their scores and boxes.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, Tuple

import torch

from vis.errors import ConfigError

FORMULATIONS = ("embedding_bag", "grid_sample")


def benchmark_deformable(config: str, size: Tuple[int, int], threads: int, rounds: int,
                         on_figure: Callable[[str, Any, str], None]) -> Dict[str, Any]:
    """Alternate the two formulations ``rounds`` times on ``config``'s model at ``size`` on ``threads`` threads."""
    from vis.config import load_config
    from vis.models import build_model, deformable_attention
    from vis.models.fusion import fold_batchnorms
    from vis.utils.benchmark import random_image

    if rounds < 1 or threads < 1:
        raise ConfigError(f"--rounds and --threads must be >= 1, got {rounds} and {threads}")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(load_config(config).model).eval()
    fold_batchnorms(model)
    image = random_image(*size)
    fast = deformable_attention.multi_scale_deformable_attention
    implementations = {"embedding_bag": fast, "grid_sample": deformable_attention.grid_sample_deformable_attention}
    seconds: Dict[str, list] = {name: [] for name in FORMULATIONS}
    outputs: Dict[str, Any] = {}
    try:
        with torch.no_grad():
            for round_index in range(rounds + 1):  # round 0 warms both up
                for name in FORMULATIONS:
                    deformable_attention.multi_scale_deformable_attention = implementations[name]
                    began = time.perf_counter()
                    outputs[name] = model.predict([image])[0]
                    if round_index:
                        seconds[name].append(time.perf_counter() - began)
    finally:
        deformable_attention.multi_scale_deformable_attention = fast
    report: Dict[str, Any] = {"config": config, "size": f"{size[0]}x{size[1]}", "threads": threads,
                              "rounds": rounds}
    for name in FORMULATIONS:
        report[f"{name}_ms"] = 1000.0 * statistics.median(seconds[name])
    report["ratio"] = report["embedding_bag_ms"] / report["grid_sample_ms"]
    ours, theirs = outputs["embedding_bag"], outputs["grid_sample"]
    report["same_labels"] = bool(torch.equal(ours.labels, theirs.labels))
    report["max_score_diff"] = float((ours.scores - theirs.scores).abs().max()) if len(ours) else 0.0
    report["max_box_diff_px"] = float((ours.boxes - theirs.boxes).abs().max()) if len(ours) else 0.0
    for key, value in report.items():
        on_figure(key, value, "ms" if key.endswith("_ms") else "px" if key.endswith("_px") else "")
    return report
