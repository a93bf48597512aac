"""PCA mask codec (ISTR-v1 mask encoding): noise-then-logit, fitting, whitening, round trip, files and the
tools/fit_mask_codec.py command line."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vis.errors import CheckpointError, DataError
from vis.models.pca_codec import (
    NOISE_MAX,
    NOISE_MIN,
    PCAMaskCodec,
    fit_pca_codec,
    load_codec_file,
    mask_iou,
    noisy_logit,
    save_codec,
)
from vis.data.synthetic import make_coco_split
from pipelines.mask_codec import coco_box_masks, fit_codec_from_coco

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "fit_mask_codec.py")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """Synthetic COCO train (codec fitting) and val (held-out round trip) splits."""
    root = str(tmp_path_factory.mktemp("shapes"))
    train = make_coco_split(root, "train", num_images=150, seed=1, min_size=96, max_size=128, progress=False)
    val = make_coco_split(root, "val", num_images=30, seed=2, min_size=96, max_size=128, progress=False)
    return train["ann_file"], val["ann_file"]


@pytest.fixture(scope="module")
def fitted(shapes):
    return fit_codec_from_coco(shapes[0], dim=60, mask_size=28, seed=0)


def test_noisy_logit_matches_the_reference_noise():
    """r ~ U(0, 0.05) floored at 0.01; 1 -> 1 - r, 0 -> r; then logit."""
    masks = torch.cat([torch.ones(20000), torch.zeros(20000)])
    logits = noisy_logit(masks, torch.Generator().manual_seed(0))
    probs = logits.sigmoid()
    on, off = probs[:20000], probs[20000:]
    assert torch.all(on >= 1 - NOISE_MAX - 1e-6) and torch.all(on <= 1 - NOISE_MIN + 1e-6)
    assert torch.all(off >= NOISE_MIN - 1e-6) and torch.all(off <= NOISE_MAX + 1e-6)
    # P(r = 0.01 floor) = 0.2: a fifth of the pixels sit exactly at the floor.
    at_floor = (off - NOISE_MIN).abs() < 1e-6
    assert abs(at_floor.float().mean().item() - 0.2) < 0.02
    again = noisy_logit(masks, torch.Generator().manual_seed(0))
    assert torch.equal(logits, again)


def test_codec_buffers_are_checkpointed_placeholders_until_loaded():
    codec = PCAMaskCodec(dim=60, mask_size=28, pretrained="some/file.pth")
    state = codec.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "components": (60, 784), "explained_variances": (60,), "means": (784,)
    }
    assert not codec.is_fitted() and sum(p.numel() for p in codec.parameters()) == 0
    fresh = PCAMaskCodec()
    state["components"][0, 0] = 1.0
    fresh.load_state_dict(state)
    assert fresh.is_fitted()


def test_components_are_orthonormal_and_the_fit_whitens(shapes, fitted):
    components = fitted["components"]
    assert components.shape == (60, 784)
    gram = components @ components.t()
    assert torch.allclose(gram, torch.eye(60), atol=1e-5), (gram - torch.eye(60)).abs().max()
    variances = fitted["explained_variances"]
    assert torch.all(variances[:-1] >= variances[1:]) and torch.all(variances > 0)
    assert 0 < float(fitted["explained_variance_ratio"].sum()) <= 1
    # Encoding the fitting masks with the same noise gives zero-mean, unit-variance, uncorrelated codes.
    codec = PCAMaskCodec()
    codec.set_codec(fitted)
    masks = torch.cat(list(coco_box_masks(shapes[0])))
    codes = codec.encode(masks, torch.Generator().manual_seed(0)).double()
    assert codes.shape == (fitted["num_instances"], 60)
    cov = torch.cov(codes.t())
    assert codes.mean(0).abs().max() < 1e-3
    assert torch.allclose(cov, torch.eye(60, dtype=torch.float64), atol=1e-3), (cov - torch.eye(60)).abs().max()


def test_pca_matches_an_svd_of_the_same_data():
    """The covariance route gives sklearn's IncrementalPCA quantities: SVD of the centred data, ddof 1."""
    gen = torch.Generator().manual_seed(0)
    masks = (torch.rand(500, 6, 6, generator=gen) > 0.5).float()
    fitted = fit_pca_codec([masks[:200], masks[200:]], dim=5, seed=3)
    x = noisy_logit(masks.reshape(500, -1), torch.Generator().manual_seed(3)).double()
    centred = x - x.mean(0)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    assert torch.allclose(fitted["explained_variances"].double(), singular[:5] ** 2 / 499, rtol=1e-4)
    # Same subspace, component by component (signs follow the largest-entry-positive rule).
    assert torch.allclose((fitted["components"].double() * vh[:5]).sum(1).abs(), torch.ones(5, dtype=torch.float64),
                          atol=1e-4)
    biggest = fitted["components"].abs().argmax(1)
    assert torch.all(fitted["components"][torch.arange(5), biggest] > 0)
    assert torch.allclose(fitted["means"].double(), x.mean(0), atol=1e-5)
    limited = fit_pca_codec([masks[:200], masks[200:]], dim=5, seed=3, max_instances=300)
    assert limited["num_instances"] == 300


def test_encode_decode_formulas():
    codec = PCAMaskCodec(dim=3, mask_size=2)
    q, _ = torch.linalg.qr(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    codec.set_codec({"components": q.t(), "explained_variances": torch.tensor([4.0, 2.0, 1.0]),
                     "means": torch.tensor([0.5, -0.5, 1.0, 0.0])})
    embeds = torch.tensor([[1.0, -2.0, 0.5]])
    expected = torch.sigmoid((embeds * torch.tensor([2.0, math.sqrt(2.0), 1.0])) @ q.t() + codec.means)
    assert torch.allclose(codec.decode(embeds), expected.view(1, 2, 2), atol=1e-6)
    masks = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    gen = torch.Generator().manual_seed(5)
    logits = noisy_logit(masks.view(1, 4), torch.Generator().manual_seed(5))
    expected = ((logits - codec.means) @ q) / torch.tensor([2.0, math.sqrt(2.0), 1.0])
    assert torch.allclose(codec.encode(masks, gen), expected, atol=1e-6)


def test_round_trip_iou_on_held_out_synthetic_masks(shapes, fitted):
    codec = PCAMaskCodec()
    codec.set_codec(fitted)
    masks = torch.cat(list(coco_box_masks(shapes[1])))
    decoded = codec.decode(codec.encode(masks, torch.Generator().manual_seed(0)))
    assert decoded.shape == masks.shape and decoded.min() >= 0 and decoded.max() <= 1
    iou = mask_iou(decoded >= 0.5, masks)
    mean = iou.mean().item()
    assert mean >= 0.85, f"round-trip mean IoU {mean:.4f} on {len(masks)} held-out masks"
    train_masks = torch.cat(list(coco_box_masks(shapes[0])))
    train_iou = mask_iou(codec.decode(codec.encode(train_masks)) >= 0.5, train_masks).mean().item()
    assert train_iou >= 0.95 and train_iou >= mean, f"train {train_iou:.4f}, held-out {mean:.4f}"


def test_files_round_trip_and_reference_npz(tmp_path, fitted):
    path = str(tmp_path / "sub" / "codec.pth")
    save_codec(path, fitted)
    loaded = load_codec_file(path)
    for name in ("components", "explained_variances", "means"):
        assert torch.equal(loaded[name], fitted[name])
    assert not [f for f in os.listdir(tmp_path / "sub") if ".tmp." in f]
    # The reference's np.savez layout (leading axis of 1) loads too.
    npz = str(tmp_path / "ref_60_siz28.npz")
    np.savez(npz, components_c=fitted["components"].numpy()[None], mean_c=fitted["means"].numpy()[None],
             explained_variance_c=fitted["explained_variances"].numpy()[None],
             ratio_c=fitted["explained_variance_ratio"].numpy()[None])
    codec = PCAMaskCodec()
    codec.load_pretrained(npz)
    assert codec.is_fitted() and torch.equal(codec.components, fitted["components"])
    with pytest.raises(CheckpointError, match="not found.*fit_mask_codec"):
        load_codec_file(str(tmp_path / "missing.pth"))
    with pytest.raises(CheckpointError, match=r"expects \(40, 784\)"):
        PCAMaskCodec(dim=40).load_pretrained(path)
    torch.save({"model": {}}, str(tmp_path / "other.pth"))
    with pytest.raises(CheckpointError, match="not a mask codec"):
        load_codec_file(str(tmp_path / "other.pth"))


def test_too_few_masks_is_a_data_error():
    with pytest.raises(DataError, match="more than 60"):
        fit_pca_codec([torch.ones(10, 28, 28)], dim=60)


def _run_tool(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, TOOL, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_fit_mask_codec_cli(shapes, fitted, tmp_path):
    out = str(tmp_path / "codecs" / "shapes_pca60.pth")
    proc = _run_tool(shapes[0], "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "60 components" in proc.stdout
    written = torch.load(out, map_location="cpu", weights_only=True)
    assert written["num_instances"] == fitted["num_instances"] and written["mask_size"] == 28
    assert torch.allclose(written["components"], fitted["components"])  # same seed: same file content

    missing = _run_tool(str(tmp_path / "nope.json"), "--out", out)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "annotation file not found" in missing.stderr
    bad_dim = _run_tool(shapes[0], "--out", out, "--dim", "1000")
    assert bad_dim.returncode == 2 and bad_dim.stderr.startswith("error:")
