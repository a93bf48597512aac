"""tools/gpu_check.sh without a GPU: its one-line refusal, its plumbing (with a stand-in interpreter that answers
each step instantly) and the table pipelines/gpu_check.py builds from the tools' ``--json`` lines. Not marked gpu:
these run in the default suite, everywhere."""
import json
import os
import subprocess
import sys

from pipelines.gpu_check import build_table, main, read_steps, table_rows

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "tools", "gpu_check.sh")


def model_row(config, height, width, amp, total=41.5):
    """A row as tools/benchmark_model.py --json prints it (the fields the table reads, and a few more)."""
    spread = {"median": total, "min": total - 1.0, "max": total + 2.0}
    return {"config": config, "model": "QueryInst", "device": "cuda:0", "height": height, "width": width,
            "runs": 5, "warmup": 2, "amp": amp, "batch_size": 1, "per_frame_ms": total, "detections": 100,
            "ms": {"backbone": {"median": 9.0, "min": 8.5, "max": 9.5}, "heads": {"median": 20.0, "min": 19.0,
                   "max": 21.0}, "post": {"median": 1.0, "min": 1.0, "max": 1.0}, "total": spread}}


VIDEO_REPORT = {"config": "configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py", "weights": "random", "device": "cuda",
                "amp": True, "repeats": 3, "frames": 96, "batch_size": 8, "compiled": False, "frame_size": "360x640",
                "decode_fps": 812.4, "tracker": "OnlineTracker", "model_input": "352x640", "model_fps": 61.25,
                "end_to_end_fps": 30.5, "end_to_end_over_model": 0.498, "tracker_ms_per_frame": 0.61,
                "tracker_ms_10_tracks": 0.25}


def write_steps(folder, steps):
    """A steps file as tools/gpu_check.sh writes it, with each step's stdout and stderr beside it."""
    with open(os.path.join(folder, "steps.jsonl"), "w") as f:
        for step in steps:
            out, err = step.pop("out", ""), step.pop("err", "")
            f.write(json.dumps(step) + "\n")
            for stream, text in (("out", out), ("err", err)):
                with open(os.path.join(folder, f"{step['name']}.{stream}"), "w") as log:
                    log.write(text)
    return os.path.join(folder, "steps.jsonl")


def test_table_from_canned_json_lines(tmp_path):
    qi = "configs/queryinst/queryinst_r50_fpn_1x_coco.py"
    solq = "configs/solq/solq_r50_coco.py"
    sizes = ["360x640", "800x1333"]
    steps = [
        {"name": "pytest", "kind": "pytest", "label": "pytest -m gpu", "rc": 1, "seconds": 88, "timeout": 200,
         "out": "....F.\nFAILED tests/gpu/test_gpu.py::test_ddp_trains_over_nccl - AssertionError: nccl\n"
                "=== 1 failed, 16 passed, 34 warnings in 85.10s (0:01:25) ===\n"},
        {"name": "model_qi", "kind": "model", "label": "benchmark_model qi", "rc": 0, "seconds": 12, "timeout": 45,
         "config": qi, "amp": False, "sizes": sizes,
         "out": "\n".join(json.dumps(model_row(qi, h, w, False)) for h, w in ((360, 640), (800, 1333))) + "\n"},
        # A failure after the first size: the row that came out is kept, the missing one says why.
        {"name": "model_solq_amp", "kind": "model", "label": "benchmark_model solq --amp", "rc": 2, "seconds": 9,
         "timeout": 45, "config": solq, "amp": True, "sizes": sizes,
         "out": json.dumps(model_row(solq, 360, 640, True, total=12.25)) + "\n",
         "err": "loading\nerror: CUDA out of memory. Tried to allocate 2.00 GiB\n"},
        {"name": "video_amp_b8", "kind": "video", "label": "vis r50 --amp --batch-size 8", "rc": 0, "seconds": 50,
         "timeout": 100, "out": "      model_fps: 61.250 frames/s\n" + json.dumps(VIDEO_REPORT) + "\n"},
        {"name": "video_compile", "kind": "video", "label": "vis r50 --compile", "rc": 124, "seconds": 150,
         "timeout": 150, "out": "", "err": "compiling\n"},
        {"name": "late", "kind": "model", "label": "benchmark_model late", "rc": None, "seconds": 0, "timeout": 0,
         "config": qi, "amp": True, "sizes": ["360x640"]},
    ]
    path = write_steps(str(tmp_path), steps)
    out = tmp_path / "table.md"
    assert main(["--steps", path, "--card", "NVIDIA H100 80GB HBM3 (x1)", "--software", "torch 2.5",
                 "--seconds", "431", "--out", str(out)]) == 1  # not every row is ok
    table = out.read_text()
    lines = table.splitlines()
    assert lines[0] == "| check | configuration | result | status |" and lines[1] == "|---|---|---|---|"
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]
    assert rows[0] == ["card", "torch 2.5", "NVIDIA H100 80GB HBM3 (x1)", ""]
    assert rows[1] == ["pytest -m gpu", "tests/gpu", "1 failed, 16 passed in 85.10s (0:01:25); failed: "
                       "test_ddp_trains_over_nccl", "FAILED"]
    assert rows[2][:2] == ["benchmark_model", "queryinst_r50_fpn_1x_coco 360x640 float32"]
    assert rows[2][2].startswith("41.5 ms (40.5-43.5); backbone 9.0, heads 20.0") and rows[2][3] == "ok"
    assert rows[3][1] == "queryinst_r50_fpn_1x_coco 800x1333 float32" and rows[3][3] == "ok"
    assert rows[4][1:] == ["solq_r50_coco 360x640 --amp (float16)",
                           "12.2 ms (11.2-14.2); backbone 9.0, heads 20.0; 100 detections", "ok"]
    assert rows[5] == ["benchmark_model", "solq_r50_coco 800x1333 --amp (float16)",
                       "exit 2: error: CUDA out of memory. Tried to allocate 2.00 GiB", "FAILED"]
    assert rows[6][1] == "vis r50 --amp --batch-size 8" and rows[6][3] == "ok"
    assert rows[6][2].startswith("model 61.2 frames/s, end to end 30.5 frames/s (0.50 of model); decode 812")
    assert rows[7] == ["benchmark_video", "vis r50 --compile", "timed out after 150 s", "timed out"]
    assert rows[8] == ["benchmark_model", "queryinst_r50_fpn_1x_coco 360x640 --amp (float16)",
                       "not run: the time budget was spent", "FAILED"]
    assert rows[9] == ["total", "6 steps", "431 s", "4 rows not ok"]
    assert len(rows) == 10 and table == build_table("NVIDIA H100 80GB HBM3 (x1)", read_steps(path), "torch 2.5", 431)


def test_a_pipe_in_a_message_does_not_break_the_table():
    step = {"name": "x", "kind": "video", "label": "a | b", "rc": 3, "err": "error: x | y\n"}
    rows = table_rows("card", [step])
    assert rows[1] == ["benchmark_video", "a | b", "exit 3: error: x | y", "FAILED"]
    assert "a \\| b" in build_table("card", [dict(step)])


def test_without_cuda_it_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "gpu_check.md"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHON=sys.executable)
    proc = subprocess.run(["bash", SCRIPT, str(out)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "CUDA" in lines[0], proc.stderr
    assert not out.exists()


# A stand-in interpreter for the script's steps: the CUDA probe answers as a GPU machine would, each tool prints
# what it prints on one (the SOLQ --amp run and the compiled video run fail), the table builder is the real one.
STUB = r"""#!/usr/bin/env bash
case "$*" in
  *"import sys, torch"*) printf 'Stub GPU\n1\ntorch 0.0, CUDA 0.0, cuDNN 0\n' ;;
  *"-m pytest -m gpu tests/gpu"*) echo "17 passed, 3 warnings in 61.20s (0:01:01)" ;;
  *solq_r50_coco.py*--amp*) echo "error: CUDA out of memory" >&2; exit 2 ;;
  *benchmark_model.py*)
    for size in "360 640" "800 1333"; do set -- $size
      echo '{"height": '$1', "width": '$2', "batch_size": 1, "detections": 100,' \
           '"ms": {"total": {"median": 5.0, "min": 4.0, "max": 6.0}}}'
    done ;;
  *benchmark_video.py*--compile*) echo "error: inductor failed" >&2; exit 1 ;;
  *benchmark_video.py*) echo '{"model_fps": 60.0, "end_to_end_fps": 30.0, "end_to_end_over_model": 0.5,' \
                             '"decode_fps": 800.0, "tracker_ms_per_frame": 0.6, "model_input": "352x640",' \
                             '"frames": 96, "repeats": 3}' ;;
  *"-m pipelines.gpu_check"*) exec "$REAL_PYTHON" "$@" ;;
  *) echo "stub: unexpected command: $*" >&2; exit 99 ;;
esac
"""


def run_with_stub(tmp_path, budget):
    stub = tmp_path / "python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    out = tmp_path / "table.md"
    env = dict(os.environ, PYTHON=str(stub), REAL_PYTHON=sys.executable, GPU_CHECK_BUDGET=str(budget),
               TMPDIR=str(tmp_path))
    proc = subprocess.run(["bash", SCRIPT, str(out)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in out.read_text().splitlines()[2:]]
    return proc, rows


def test_every_step_runs_and_a_failure_is_a_row(tmp_path):
    proc, rows = run_with_stub(tmp_path, budget=460)
    assert proc.returncode == 1, proc.stderr  # two steps failed
    assert rows[0] == ["card", "torch 0.0, CUDA 0.0, cuDNN 0", "Stub GPU (x1)", ""]
    assert rows[1] == ["pytest -m gpu", "tests/gpu", "17 passed in 61.20s (0:01:01)", "ok"]
    models = [row for row in rows if row[0] == "benchmark_model"]
    assert len(models) == 16  # 4 configs x 2 sizes x float32 / --amp
    assert [row[1] for row in models[:2]] == ["queryinst_r50_fpn_1x_coco 360x640 float32",
                                              "queryinst_r50_fpn_1x_coco 800x1333 float32"]
    failed = [row[1] for row in models if row[3] != "ok"]
    assert failed == ["solq_r50_coco 360x640 --amp (float16)", "solq_r50_coco 800x1333 --amp (float16)"]
    videos = [row for row in rows if row[0] == "benchmark_video"]
    assert [row[3] for row in videos] == ["ok", "FAILED"] and "--compile" in videos[1][1]
    assert videos[1][2] == "exit 1: error: inductor failed"
    assert rows[-1][:2] == ["total", "11 steps"] and rows[-1][3] == "3 rows not ok"
    assert "table written to" in proc.stderr and "stub: unexpected" not in proc.stderr


def test_a_spent_budget_skips_the_steps_and_says_so(tmp_path):
    proc, rows = run_with_stub(tmp_path, budget=0)
    assert proc.returncode == 1
    assert rows[1][2] == "not run: the time budget was spent"
    assert all(row[2] == "not run: the time budget was spent" for row in rows[1:-1])
    assert len(rows) == 1 + 1 + 16 + 2 + 1
