"""Fixtures of the GPU checks (`pytest -m gpu`, `tools/gpu_check.sh`): the device and the tiny synthetic data.

The checks are written for CUDA, and a GPU is lent for minutes at a time, so they must be right before one is.
``VIS_GPU_TESTS_ON_CPU=1`` runs every one of them on the CPU instead (CUDA hidden, the trainer's float16 autocast
turned into bfloat16, gloo in place of NCCL): the same test code, debugged on any machine.
"""
import os

import pytest

ON_CPU = os.environ.get("VIS_GPU_TESTS_ON_CPU") == "1"
if ON_CPU:
    # Hidden before anything asks torch about CUDA, so that the library's own "cuda when available" choices
    # (the trainer, run_video, torchrun's processes) pick the CPU as the tests do.
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
else:
    # Deterministic cuBLAS for the exact-resume checks: read when the first cuBLAS handle is made, so it is set
    # here, before any CUDA work (a fixed 4 KiB x 8 workspace; no effect on the other checks' results).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402  (after the environment above)


@pytest.fixture(scope="session")
def device():
    """``cuda:0``, or the CPU under ``VIS_GPU_TESTS_ON_CPU=1``; without CUDA every GPU check is skipped."""
    if ON_CPU:
        if torch.cuda.is_available():
            pytest.skip("VIS_GPU_TESTS_ON_CPU=1 but CUDA was initialised before the checks could hide it: "
                        "run with CUDA_VISIBLE_DEVICES= as well")
        return torch.device("cpu")
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available (VIS_GPU_TESTS_ON_CPU=1 runs the GPU checks on the CPU)")
    return torch.device("cuda", 0)


@pytest.fixture
def amp_dtype(device, monkeypatch):
    """The dtype the trainer's AMP gives activations: float16 on CUDA. On the CPU float16 is emulated (several
    seconds a step here) and overflows where CUDA's kernels, which accumulate in float32, do not; there the
    trainer's ``torch.autocast(..., dtype=float16)`` is turned into bfloat16 for the test, so its own
    ``run_step`` still runs."""
    if device.type == "cuda":
        return torch.float16
    real_autocast = torch.autocast

    def cpu_autocast(device_type, dtype=None, enabled=True, cache_enabled=None):
        if device_type == "cpu" and dtype == torch.float16:
            dtype = torch.bfloat16
        return real_autocast(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    monkeypatch.setattr(torch, "autocast", cpu_autocast)
    return torch.bfloat16


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory):
    """Generated shapes: 8 COCO images and 2 YouTube-VIS videos at about 100 px, and a seeded 60-d PCA codec
    for ISTR (as `tests/behaviour_record.py` makes them): seconds per training step on a CPU, milliseconds on a
    GPU."""
    from behaviour_record import seeded_codec
    from vis.data import synthetic
    from vis.models.pca_codec import save_codec

    root = str(tmp_path_factory.mktemp("gpu_shapes"))
    synthetic.make_coco_split(root, "train", num_images=8, seed=3, min_size=96, max_size=128, progress=False)
    synthetic.make_ytvis_split(root, "train", num_videos=2, seed=3, num_frames=(4, 6), height=96, width=128,
                               progress=False)
    codec = os.path.join(root, "codec.pth")
    save_codec(codec, seeded_codec(60, 28))
    return {"coco": os.path.join(root, "coco"), "ytvis": os.path.join(root, "ytvis"), "codec": codec}

