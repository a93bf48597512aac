"""DCT mask codec (SOLQ, reference_models.md §4.2): orthonormal DCT, zig-zag order, adaptive-threshold decoding,
and the encode -> decode round trip on synthetic shapes masks."""
import cv2
import numpy as np
import torch

from vis.data import synthetic
from vis.models.dct_codec import DCTMaskCodec, dct_matrix, zigzag_order
from vis.models.mask_ops import crop_and_resize_masks

# The first 16 cells of the JPEG zig-zag scan, written out by hand (row, col).
ZIGZAG_16 = [
    (0, 0),
    (0, 1), (1, 0),
    (2, 0), (1, 1), (0, 2),
    (0, 3), (1, 2), (2, 1), (3, 0),
    (4, 0), (3, 1), (2, 2), (1, 3), (0, 4),
    (0, 5),
]


def test_dct_matrix_is_orthonormal_and_is_cv2_dct():
    d = dct_matrix(128)
    assert torch.allclose(d @ d.t(), torch.eye(128, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(d[0], torch.full((128,), 128 ** -0.5, dtype=torch.float64))
    codec = DCTMaskCodec(128, 256)
    masks = (torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    expected = np.stack([cv2.dct(m.numpy()) for m in masks])  # the reference's transform
    assert np.allclose(codec.transform(masks).numpy(), expected, atol=1e-4)
    assert torch.allclose(codec.inverse_transform(codec.transform(masks)), masks, atol=1e-5)


def test_zigzag_order_against_hand_table():
    assert zigzag_order(128, 16) == ZIGZAG_16
    cells = zigzag_order(128, 256)
    assert len(cells) == len(set(cells)) == 256
    # All of anti-diagonals 0..21 (253 cells), then the first 3 of diagonal 22, which runs upwards.
    assert {r + c for r, c in cells[:253]} == set(range(22)) and cells[253:] == [(22, 0), (21, 1), (20, 2)]
    assert zigzag_order(3) == [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (1, 2), (2, 1), (2, 2)]
    codec = DCTMaskCodec(128, 256)
    assert codec.zigzag[:16].tolist() == [r * 128 + c for r, c in ZIGZAG_16]  # row-major flat index


def test_encode_is_zigzag_of_cv2_dct_and_decode_thresholds_at_max_plus_min_over_two():
    codec = DCTMaskCodec(128, 256)
    mask = torch.zeros(1, 128, 128)
    mask[0, 20:90, 30:110] = 1
    vector = codec.encode(mask)
    assert vector.shape == (1, 256) and vector.dtype == torch.float32
    reference = cv2.dct(mask[0].numpy()).flatten()[[r * 128 + c for r, c in zigzag_order(128, 256)]]
    assert np.allclose(vector[0].numpy(), reference, atol=1e-4)
    # An all-ones mask has only the DC coefficient: sum / 128 = 128.
    ones = codec.encode(torch.ones(1, 128, 128))
    assert torch.allclose(ones[0, 0], torch.tensor(128.0)) and ones[0, 1:].abs().max() < 1e-3

    vectors = torch.randn(4, 256, generator=torch.Generator().manual_seed(1)) * 5
    recon = codec.reconstruct(vectors)
    coeffs = np.zeros((4, 128 * 128))
    coeffs[:, [r * 128 + c for r, c in zigzag_order(128, 256)]] = vectors.numpy()
    expected_recon = np.stack([cv2.idct(c.reshape(128, 128)) for c in coeffs])
    assert np.allclose(recon.numpy(), expected_recon, atol=1e-4)
    thresholds = (expected_recon.max(axis=(1, 2)) + expected_recon.min(axis=(1, 2))) / 2
    decoded = codec.decode(vectors)
    expected = expected_recon > thresholds[:, None, None]
    near = np.abs(expected_recon - thresholds[:, None, None]) < 1e-4  # float32 vs float64 ties
    assert decoded.dtype == torch.float32 and np.array_equal(decoded.numpy().astype(bool)[~near], expected[~near])
    assert codec.decode(torch.zeros(0, 256)).shape == (0, 128, 128)


def test_full_code_is_lossless():
    codec = DCTMaskCodec(16, 256)  # every coefficient of a 16x16 mask
    masks = (torch.rand(5, 16, 16, generator=torch.Generator().manual_seed(2)) > 0.4).float()
    assert torch.equal(codec.decode(codec.encode(masks)), masks)


def test_round_trip_iou_on_synthetic_masks():
    """Shapes masks cut by their tight boxes and resized to 128x128 (as SOLQ's targets), encoded with 256
    coefficients and decoded: mean IoU 0.979 over these 156 masks (min 0.938)."""
    rng = np.random.default_rng(0)
    masks = []
    for _ in range(40):
        _, annotations = synthetic.sample_image(rng, 160, 160)
        masks += [mask for _, mask in annotations]
    masks_t = torch.from_numpy(np.stack(masks))
    boxes = torch.tensor([synthetic.tight_box(m) for m in masks], dtype=torch.float32)
    boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
    crops = crop_and_resize_masks(masks_t, boxes, torch.arange(len(masks)), size=128)
    codec = DCTMaskCodec(128, 256)
    decoded = codec.decode(codec.encode(crops))
    inter = (decoded * crops).flatten(1).sum(1)
    union = ((decoded + crops) > 0).float().flatten(1).sum(1)
    iou = inter / union
    print(f"DCT round trip: {len(masks)} masks, mean IoU {iou.mean():.4f}, min {iou.min():.4f}")
    assert len(masks) > 100
    assert iou.mean() > 0.96 and iou.min() > 0.9
