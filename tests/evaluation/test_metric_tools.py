"""The metric and validation tools: torch never imported, the official metrics, one-line errors, the benchmark."""
import json
import os
import subprocess
import sys

import pytest

from pipelines.benchmark_eval import OFFICIAL_COCO_SCRIPT, EvalPlan, benchmark_eval, eval_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs a tool with every import of torch failing, as on a machine without it.
WITHOUT_TORCH = """
import runpy, sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, BlockTorch())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run(args, block_torch=False):
    command = [sys.executable] + (["-c", WITHOUT_TORCH] if block_torch else []) + args
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small generated YouTube-VIS and COCO ground truths with results (the benchmark's writers)."""
    plan = EvalPlan(videos=4, tracks_per_video=6, images=12, dets_per_image=20,
                    work_dir=str(tmp_path_factory.mktemp("eval")))
    return {kind: eval_files(kind, plan, on_note=lambda text: None) for kind in ("ytvis", "coco")}


def test_metric_tools_run_without_torch(files, tmp_path):
    ytvis_gt, ytvis_results = files["ytvis"]
    coco_gt, coco_results = files["coco"]
    for args in (["tools/eval_ytvis.py", "--ann", ytvis_gt, "--results", ytvis_results, "--json", "--identity"],
                 ["tools/eval_coco.py", "--ann", coco_gt, "--results", coco_results, "--json"],
                 ["tools/validate_submission.py", ytvis_results, "--ann", ytvis_gt]):
        done = run(args, block_torch=True)
        assert done.returncode == 0, (args[0], done.stderr[-2000:])
    assert "ok: 24 tracks in 4 videos" in done.stdout
    needs_torch = tmp_path / "needs_torch.py"
    needs_torch.write_text("import vis.structures\n")
    assert "torch is blocked" in run([str(needs_torch)], block_torch=True).stderr  # the block works


def test_eval_coco_equals_cocoeval(files):
    """tools/eval_coco.py reports pycocotools' own AP for boxes and masks (masks without their boxes, so the
    size ranges use the mask area, as mmdetection evaluates them): COCOeval run as the benchmark runs it."""
    gt_path, results_path = files["coco"]
    done = run(["tools/eval_coco.py", "--ann", gt_path, "--results", results_path, "--json"])
    ours = json.loads(done.stdout.strip().splitlines()[-1])
    official = json.loads(run(["-c", OFFICIAL_COCO_SCRIPT, gt_path, results_path]).stdout.strip().splitlines()[-1])
    assert len(official) == 12
    for key, value in official.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert 0.05 < ours["segm_mAP"] < 0.95  # a file where both right and wrong detections count


def test_eval_coco_bad_results_one_line(files, tmp_path):
    gt_path, _ = files["coco"]
    bad = tmp_path / "results.json"
    for content, words in (('{"image_id": 1}', "must hold a JSON list"),
                           ('[{"image_id": 1, "score": 0.5}]', "needs image_id, category_id and score"),
                           ('[{"image_id": 1, "category_id": 1, "sc', "")):
        bad.write_text(content)
        done = run(["tools/eval_coco.py", "--ann", gt_path, "--results", str(bad)])
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert words in done.stderr


def test_benchmark_eval_reports_ours(files, tmp_path):
    """Without the official code the benchmark times ours alone, on the files it writes."""
    figures = {}
    plan = EvalPlan(videos=3, tracks_per_video=4, images=0, repeats=1, work_dir=str(tmp_path))
    report = benchmark_eval(plan, on_figure=lambda key, value, unit: figures.update({key: value}),
                            on_note=lambda text: None)
    assert report["ytvis_ours_s"] > 0 and report["ytvis_ours_peak_mb"] > 10
    assert set(report["ytvis_metrics"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10"}
    assert figures["ytvis_ours_s"] == report["ytvis_ours_s"] and "ytvis_official_s" not in report
    with pytest.raises(Exception, match="no ytvoseval.py"):
        benchmark_eval(EvalPlan(official_ytvis=str(tmp_path)), on_figure=print, on_note=print)
