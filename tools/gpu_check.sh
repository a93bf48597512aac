#!/usr/bin/env bash
# The GPU check of issue 31 in one command, for the few minutes a GPU is lent:
#
#   bash tools/gpu_check.sh [OUT.md]        # default gpu_check.md; within 8 minutes (GPU_CHECK_BUDGET)
#
# 1. exits 2 with one line when CUDA is absent;
# 2. pytest -m gpu (tests/gpu: training steps in float32 and AMP, predict and run_video against the CPU, DDP over
#    NCCL, exact resume, ONNX export of a CUDA model);
# 3. tools/benchmark_model.py on the R-50 QueryInst, ISTR, SOLQ and QueryInst-VIS configs at 360x640 and 800x1333,
#    float32 and --amp (random weights), and tools/benchmark_video.py for QueryInst-VIS R-50 at 360p with
#    --amp --batch-size 8, then the same with --compile;
# 4. one markdown table naming the card (pipelines/gpu_check.py), written to OUT.md and printed.
#
# Each step runs under `timeout` within a time budget (GPU_CHECK_BUDGET seconds, default 460); a step that fails,
# times out or finds the budget spent is a row of the table, and the others still run. Exit 0 when every row is
# ok, 1 otherwise. Logs stay in a temporary folder the script names at the end. PYTHON picks the interpreter
# (default .venv/bin/python, else python3).
set -u

OUT=$(realpath -m "${1:-gpu_check.md}")
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

# One interpreter start: the CUDA check, then the card's name, the GPU count and the versions, one per line.
PROBE='import sys, torch
if not torch.cuda.is_available():
    sys.exit(1)
print(torch.cuda.get_device_name(0))
print(torch.cuda.device_count())
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")'
if ! INFO=$("$PY" -c "$PROBE" 2>/dev/null); then
    echo "error: CUDA is not available (torch.cuda.is_available() is False): tools/gpu_check.sh needs an NVIDIA GPU" >&2
    exit 2
fi

START=$SECONDS
BUDGET=${GPU_CHECK_BUDGET:-460}
LOG=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
STEPS="$LOG/steps.jsonl"
: > "$STEPS"
DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)
CARD="$(sed -n 1p <<< "$INFO") (x$(sed -n 2p <<< "$INFO")${DRIVER:+, driver $DRIVER})"
SOFTWARE=$(sed -n 3p <<< "$INFO")

# run_step NAME CAP KIND LABEL EXTRA_JSON CMD...: CMD under `timeout`, at most CAP seconds and what is left of the
# budget; one JSON line into the steps file (EXTRA_JSON: more fields, starting with a comma, or "").
run_step() {
    local name=$1 cap=$2 kind=$3 label=$4 extra=$5
    shift 5
    local left=$((BUDGET - (SECONDS - START)))
    local limit=$((cap < left ? cap : left))
    if ((limit < 10)); then
        printf '{"name": "%s", "kind": "%s", "label": "%s", "rc": null, "seconds": 0, "timeout": 0%s}\n' \
            "$name" "$kind" "$label" "$extra" >> "$STEPS"
        echo "[gpu_check] skipped (time budget spent): $label" >&2
        return
    fi
    echo "[gpu_check] $label (up to $limit s)" >&2
    local began=$SECONDS
    timeout --kill-after=5 "$limit" "$@" > "$LOG/$name.out" 2> "$LOG/$name.err"
    local rc=$?
    printf '{"name": "%s", "kind": "%s", "label": "%s", "rc": %d, "seconds": %d, "timeout": %d%s}\n' \
        "$name" "$kind" "$label" "$rc" $((SECONDS - began)) "$limit" "$extra" >> "$STEPS"
}

run_step pytest 200 pytest "pytest -m gpu" "" "$PY" -m pytest -m gpu tests/gpu -q

SIZES=(360x640 800x1333)
SIZES_JSON='["360x640", "800x1333"]'
for amp in "" "--amp"; do
    for config in configs/queryinst/queryinst_r50_fpn_1x_coco.py configs/istr/istr_r50_fpn_3x_coco.py \
                  configs/solq/solq_r50_coco.py configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py; do
        stem=$(basename "$config" .py)
        is_amp=$([ -n "$amp" ] && echo true || echo false)
        run_step "model_${stem}${amp:+_amp}" 45 model "benchmark_model $stem${amp:+ $amp}" \
            ", \"config\": \"$config\", \"amp\": $is_amp, \"sizes\": $SIZES_JSON" \
            "$PY" tools/benchmark_model.py "$config" --device cuda --sizes "${SIZES[@]}" --runs 5 --warmup 2 \
            $amp --json
    done
done

VIS_R50=configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py
VIDEO_ARGS=(--config "$VIS_R50" --device cuda --size 360x640 --frames 96 --long-frames 0 --work-dir "$LOG/video" --json)
run_step video_amp_b8 100 video "queryinst_r50_fpn_ytvis19 360x640 --amp --batch-size 8" "" \
    "$PY" tools/benchmark_video.py "${VIDEO_ARGS[@]}" --amp --batch-size 8 --repeats 3
# Compiling comes last and takes what is left: each run_video inside the benchmark compiles its own model again,
# so one repeat.
run_step video_amp_b8_compile 300 video "queryinst_r50_fpn_ytvis19 360x640 --amp --batch-size 8 --compile" "" \
    "$PY" tools/benchmark_video.py "${VIDEO_ARGS[@]}" --amp --batch-size 8 --compile --repeats 1

"$PY" -m pipelines.gpu_check --steps "$STEPS" --card "$CARD" --software "$SOFTWARE" \
    --seconds $((SECONDS - START)) --out "$OUT"
rc=$?
echo "table written to $OUT; logs in $LOG" >&2
exit $rc
