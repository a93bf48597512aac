import math

import torch

from vis.models.box_coder import DeltaXYWHBoxCoder


def test_encode_known_values():
    coder = DeltaXYWHBoxCoder()
    prior = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    target = torch.tensor([[5.0, 5.0, 15.0, 15.0]])
    # centre moves by half a box: raw 0.5, divided by std 0.5 -> 1; same size -> 0
    assert torch.allclose(coder.encode(prior, target), torch.tensor([[1.0, 1.0, 0.0, 0.0]]))


def test_round_trip():
    torch.manual_seed(0)
    coder = DeltaXYWHBoxCoder()
    xy = torch.rand(50, 2) * 500
    priors = torch.cat([xy, xy + 10 + torch.rand(50, 2) * 300], dim=1)
    txy = torch.rand(50, 2) * 500
    targets = torch.cat([txy, txy + 10 + torch.rand(50, 2) * 300], dim=1)
    decoded = coder.decode(priors, coder.encode(priors, targets))
    assert torch.allclose(decoded, targets, atol=1e-3)


def test_decode_batched_shape():
    coder = DeltaXYWHBoxCoder()
    priors = torch.tensor([0.0, 0.0, 10.0, 10.0]).expand(2, 3, 4)
    assert coder.decode(priors, torch.zeros(2, 3, 4)).shape == (2, 3, 4)
    assert torch.allclose(coder.decode(priors, torch.zeros(2, 3, 4)), priors)


def test_dw_dh_clamped_both_sides_at_4_135():
    coder = DeltaXYWHBoxCoder()
    assert math.isclose(coder.max_log_ratio, abs(math.log(16 / 1000)), rel_tol=1e-9)
    assert math.isclose(coder.max_log_ratio, 4.135, abs_tol=1e-3)
    prior = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    boxes = coder.decode(prior, torch.tensor([[0.0, 0.0, 100.0, -100.0]]))
    width, height = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
    assert torch.isclose(width, torch.tensor(10.0 * 1000 / 16), rtol=1e-5)
    assert torch.isclose(height, torch.tensor(10.0 * 16 / 1000), rtol=1e-5)
    # centre unchanged
    assert torch.allclose((boxes[0, :2] + boxes[0, 2:]) / 2, torch.tensor([5.0, 5.0]))


def test_no_clipping_to_image():
    coder = DeltaXYWHBoxCoder()
    prior = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    # dx = 0.5 * -4 = -2 box widths: centre at -15, box fully left of the image
    boxes = coder.decode(prior, torch.tensor([[-4.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(boxes, torch.tensor([[-20.0, 0.0, -10.0, 10.0]]))
    big = coder.decode(prior, torch.tensor([[0.0, 0.0, 2.0, 2.0]]))
    assert big[0, 0] < 0 and big[0, 2] > 10  # grows past any image border, not clipped
